"""A dry run with no cluster to talk to: `shipstep agent --dry-run` from a
laptop or a CI job, with no `--kubeconfig` and not inside a Pod.

`NoCluster` stands where the cluster layer stands. Discovery answers from
`CATALOGUE`, the built-in kinds of Kubernetes (CRDs defined in the same
revision are added by the validator, as with live discovery); every read
finds nothing (no inventory, no live objects), so the plan is "apply
everything" and nothing is pruned or counted as drift; any write is refused.
The engine itself does not know the difference.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipstep.agent.kube import Cluster
from shipstep.agent.objects import Obj
from shipstep.agent.validate import ResourceInfo
from shipstep.errors import ShipstepError

KUBERNETES_VERSION = "1.31"

# apiVersion, kind, plural, namespaced: the top-level resources a Kubernetes
# 1.31 API server serves with only its built-in (GA) API groups enabled.
_BUILTIN: tuple[tuple[str, str, str, bool], ...] = (
    ("v1", "Binding", "bindings", True),
    ("v1", "ComponentStatus", "componentstatuses", False),
    ("v1", "ConfigMap", "configmaps", True),
    ("v1", "Endpoints", "endpoints", True),
    ("v1", "Event", "events", True),
    ("v1", "LimitRange", "limitranges", True),
    ("v1", "Namespace", "namespaces", False),
    ("v1", "Node", "nodes", False),
    ("v1", "PersistentVolume", "persistentvolumes", False),
    ("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ("v1", "Pod", "pods", True),
    ("v1", "PodTemplate", "podtemplates", True),
    ("v1", "ReplicationController", "replicationcontrollers", True),
    ("v1", "ResourceQuota", "resourcequotas", True),
    ("v1", "Secret", "secrets", True),
    ("v1", "Service", "services", True),
    ("v1", "ServiceAccount", "serviceaccounts", True),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        False,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
    ),
    (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
    ),
    ("apiregistration.k8s.io/v1", "APIService", "apiservices", False),
    ("apps/v1", "ControllerRevision", "controllerrevisions", True),
    ("apps/v1", "DaemonSet", "daemonsets", True),
    ("apps/v1", "Deployment", "deployments", True),
    ("apps/v1", "ReplicaSet", "replicasets", True),
    ("apps/v1", "StatefulSet", "statefulsets", True),
    ("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", False),
    ("authentication.k8s.io/v1", "TokenReview", "tokenreviews", False),
    ("authorization.k8s.io/v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True),
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False),
    ("authorization.k8s.io/v1", "SubjectAccessReview", "subjectaccessreviews", False),
    ("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ("batch/v1", "CronJob", "cronjobs", True),
    ("batch/v1", "Job", "jobs", True),
    (
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        False,
    ),
    ("coordination.k8s.io/v1", "Lease", "leases", True),
    ("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    ("events.k8s.io/v1", "Event", "events", True),
    ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", "flowschemas", False),
    (
        "flowcontrol.apiserver.k8s.io/v1",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        False,
    ),
    ("networking.k8s.io/v1", "Ingress", "ingresses", True),
    ("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True),
    ("node.k8s.io/v1", "RuntimeClass", "runtimeclasses", False),
    ("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    ("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    ("scheduling.k8s.io/v1", "PriorityClass", "priorityclasses", False),
    ("storage.k8s.io/v1", "CSIDriver", "csidrivers", False),
    ("storage.k8s.io/v1", "CSINode", "csinodes", False),
    ("storage.k8s.io/v1", "CSIStorageCapacity", "csistoragecapacities", True),
    ("storage.k8s.io/v1", "StorageClass", "storageclasses", False),
    ("storage.k8s.io/v1", "VolumeAttachment", "volumeattachments", False),
)


def _catalogue() -> dict[tuple[str, str], ResourceInfo]:
    out: dict[tuple[str, str], ResourceInfo] = {}
    for api_version, kind, plural, namespaced in _BUILTIN:
        group, _, version = api_version.rpartition("/")
        out[(api_version, kind)] = ResourceInfo(group, version, kind, plural, namespaced)
    return out


CATALOGUE: Mapping[tuple[str, str], ResourceInfo] = _catalogue()

NOTE = (
    "no cluster to compare with (no --kubeconfig, not in a Pod): kinds were checked "
    f"against the built-in kinds of Kubernetes {KUBERNETES_VERSION} and the revision's own "
    "CRDs; every object is shown as `would apply`; nothing can be shown as unchanged, "
    "pruned or drifted. Pass --kubeconfig to plan against a cluster."
)


def cluster_requested(kubeconfig: Path | None, context: str | None) -> bool:
    """Whether the agent is meant to talk to a cluster: a kubeconfig or
    context was given, or it runs in a Pod (the API server's address is in
    the environment Kubernetes gives every container)."""
    return (
        kubeconfig is not None
        or context is not None
        or bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )


class NoCluster(Cluster):
    """The cluster layer when there is no cluster (dry runs only)."""

    def __init__(self) -> None:
        super().__init__(None, max_retries=0)

    def discover(self) -> dict[tuple[str, str], ResourceInfo]:
        return dict(CATALOGUE)

    def get(self, info: ResourceInfo, namespace: str, name: str) -> Obj | None:
        return None

    def list(
        self, info: ResourceInfo, *, label_selector: str | None = None, namespace: str = ""
    ) -> list[Obj]:
        return []

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Obj]:
        # Fail closed: only a dry run may run without a cluster.
        raise ShipstepError(
            f"There is no cluster to send {method} {path} to.",
            hint="Pass --kubeconfig (or run in a Pod) to apply; without a cluster only --dry-run works.",
        )
