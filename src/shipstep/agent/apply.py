"""Staged server-side apply of a plan.

Stage 0 (CRDs and Namespaces) is applied first and CRDs are waited for until
`Established`; then stage 1 (everything else). Writes run on a small thread
pool. Each object reports `created`, `configured`, `unchanged`, or `failed`
(conflicts included, with the API server's message).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from shipstep.agent.config import AgentConfig
from shipstep.agent.health import health
from shipstep.agent.kube import CRD, Cluster, KubeError
from shipstep.agent.objects import ObjectId
from shipstep.agent.plan import DRIFT, UNCHANGED, Plan, PlanItem, stage_of

CREATED, CONFIGURED, FAILED = "created", "configured", "failed"


@dataclass
class ObjectResult:
    id: ObjectId
    result: str  # created | configured | unchanged | failed
    message: str = ""
    drift: bool = False


@dataclass
class ApplyReport:
    results: list[ObjectResult] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for r in self.results if r.result == result)

    @property
    def failed(self) -> list[ObjectResult]:
        return [r for r in self.results if r.result == FAILED]


def _apply_one(cluster: Cluster, item: PlanItem, config: AgentConfig) -> ObjectResult:
    try:
        # Correcting drift takes back the fields someone changed behind our
        # back; a conflict on a new desired state is reported instead.
        force = config.force_conflicts or item.action == DRIFT
        status, live = cluster.apply(item.info, item.desired, config.field_manager, force)
    except KubeError as error:
        prefix = "conflict: " if error.status == 409 else ""
        return ObjectResult(item.id, FAILED, prefix + error.message)
    if status == 201:
        return ObjectResult(item.id, CREATED)
    rv = (live.get("metadata") or {}).get("resourceVersion")
    if item.live_resource_version is not None and rv == item.live_resource_version:
        return ObjectResult(item.id, UNCHANGED)
    return ObjectResult(item.id, CONFIGURED)


def wait_for_crds(cluster: Cluster, names: list[str], timeout: float) -> list[str]:
    """Names of CRDs not Established within `timeout` (with why)."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    delay = 0.1
    while waiting:
        still: list[str] = []
        for name in waiting:
            verdict = health(cluster.get(CRD, "", name))
            if verdict.status == "Failed":
                return [f"CustomResourceDefinition {name}: {verdict.message}"]
            if verdict.status != "Current":
                still.append(name)
        waiting = still
        if waiting:
            if time.monotonic() >= deadline:
                return [
                    f"CustomResourceDefinition {n}: not Established after {timeout:.0f}s"
                    for n in waiting
                ]
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    return []


def apply_plan(
    cluster: Cluster,
    plan: Plan,
    config: AgentConfig,
    drifted: set[ObjectId],
    on_result: Callable[[ObjectResult], None] | None = None,
) -> ApplyReport:
    report = ApplyReport()
    for item in plan.items:
        if item.action == UNCHANGED:
            report.results.append(ObjectResult(item.id, UNCHANGED))
    with ThreadPoolExecutor(max_workers=max(1, config.apply_concurrency)) as pool:
        for stage in (0, 1):
            writes = [i for i in plan.writes if stage_of(i.info) == stage]
            results = list(pool.map(lambda i: _apply_one(cluster, i, config), writes))
            for r in results:
                r.drift = r.id in drifted and r.result != FAILED
                report.results.append(r)
                if on_result:
                    on_result(r)
            if any(r.result == FAILED for r in results) and stage == 0:
                report.results.extend(
                    ObjectResult(i.id, FAILED, "not applied: an earlier stage failed")
                    for i in plan.writes
                    if stage_of(i.info) == 1
                )
                return report
            if stage == 0:
                crds = [i.id.name for i in writes if i.id.group_kind == (CRD.group, CRD.kind)]
                for problem in wait_for_crds(cluster, crds, config.crd_timeout):
                    report.results.append(
                        ObjectResult(ObjectId(CRD.group, CRD.kind, "", ""), FAILED, problem)
                    )
                if report.failed:
                    return report
    return report
