"""Everything a test may turn, reset to these defaults before each test."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from tests.kube_standin.faults import DenyRule, Faults

Mode = Literal["stall", "fail", "crash"]


@dataclass(frozen=True)
class RolloutRule:
    """How pods matching it behave.

    - `stall`: containers stay `ContainerCreating`; the rollout never
      finishes, and fails only after the Deployment's own
      progressDeadlineSeconds (times `Knobs.deadline_scale`).
    - `fail`: image pull fails (`ImagePullBackOff`); Job pods exit 1; the
      Deployment reports `ProgressDeadlineExceeded` after `deadline` seconds.
    - `crash`: containers start and crash (`CrashLoopBackOff`, restarts counted).
    Matches pods whose container image contains `image`, and/or whose
    workload (Deployment, StatefulSet, DaemonSet, Job, or the Pod itself) is
    called `workload`, in `namespace` when given.
    """

    mode: Mode
    image: str | None = None
    workload: str | None = None
    namespace: str | None = None
    deadline: float = 0.0

    def matches(self, images: list[str], workload: str, namespace: str) -> bool:
        return (
            (self.image is None or any(self.image in i for i in images))
            and (self.workload is None or self.workload == workload)
            and (self.namespace is None or self.namespace == namespace)
        )


@dataclass
class Knobs:
    # API behaviour
    token: str | None = None  # require `Authorization: Bearer <token>` (401 otherwise)
    user: str = (
        "system:serviceaccount:shipstep-system:shipstep-agent"  # named in Forbidden messages
    )
    deny: list[DenyRule] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    watch_timeout: float = 1800.0  # when the client sends no timeoutSeconds
    bookmark_interval: float = 1.0  # seconds between BOOKMARKs when a watch allows them
    crd_establish_delay: float = 0.0  # CRDs become Established (and served) after this
    # The controller
    controller: bool = True  # False: nothing advances workloads or pods
    controller_interval: float = 0.02  # shortest pause between passes while work goes on
    pod_start_delay: float = 0.0  # seconds a pod stays Pending before its containers run
    keep_old_pods: bool = False  # Deployments never scale old ReplicaSets down
    deadline_scale: float = 1.0  # multiplies progressDeadlineSeconds
    rollouts: list[RolloutRule] = field(default_factory=list)
    image_digests: dict[str, str] = field(default_factory=dict)  # tag reference -> digest
    nodes: tuple[str, ...] = ("standin-node-1",)  # DaemonSets run one pod per node

    def deny_verb(
        self,
        verb: str,
        resource: str,
        *,
        namespace: str | None = None,
        name: str | None = None,
        message: str | None = None,
        code: int = 403,
    ) -> DenyRule:
        """Refuse a verb on a resource (plural, or "*"), like RBAC or an admission webhook."""
        rule = DenyRule(verb, resource, namespace, name, message, code)
        self.deny.append(rule)
        return rule

    def rollout(
        self,
        mode: Mode,
        *,
        image: str | None = None,
        workload: str | None = None,
        namespace: str | None = None,
        deadline: float = 0.0,
    ) -> RolloutRule:
        rule = RolloutRule(mode, image, workload, namespace, deadline)
        self.rollouts.append(rule)
        return rule

    def rule_for(self, images: list[str], workload: str, namespace: str) -> RolloutRule | None:
        for rule in self.rollouts:
            if rule.matches(images, workload, namespace):
                return rule
        return None
