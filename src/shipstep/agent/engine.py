"""One reconcile of a desired revision against the cluster: LIST per kind,
plan, staged apply, prune with guards, inventory. No write when nothing
changed: a no-op sync costs one GET (inventory) plus one LIST per kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from shipstep.agent.apply import CREATED, FAILED, ApplyReport, ObjectResult, apply_plan
from shipstep.agent.config import OWNER_LABEL, AgentConfig
from shipstep.agent.inventory import Entry, Inventory
from shipstep.agent.kube import CONFIG_MAP, Cluster, KubeError
from shipstep.agent.objects import Manifest, Obj, ObjectId, slim
from shipstep.agent.plan import CREATE, DRIFT, Plan, make_plan, prepare
from shipstep.agent.policy import Gate, Verdict
from shipstep.agent.prune import PrunePlan, plan_prune
from shipstep.agent.render import RenderError, render
from shipstep.agent.validate import Discovery, Problem, ResourceInfo, validate
from shipstep.errors import ShipstepError

log = logging.getLogger("shipstep.agent")


class Refused(ShipstepError):
    """The revision is refused as a whole; nothing of it is applied."""

    def __init__(self, problems: list[Problem] | list[str]) -> None:
        self.problems = [str(p) for p in problems]
        shown = self.problems[:50]
        more = f"\n... and {len(self.problems) - 50} more" if len(self.problems) > 50 else ""
        super().__init__(
            "Revision refused:\n" + "\n".join(shown) + more,
            hint="Fix the config repository; the previous revision stays applied.",
        )


@dataclass
class Desired:
    """A rendered, validated, verified revision, ready to sync."""

    revision: str
    objects: list[tuple[Manifest, ResourceInfo]]
    prepared: dict[ObjectId, Obj]
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # image -> policy verdict

    @property
    def images(self) -> list[str]:
        from shipstep.agent.objects import images_of

        return sorted({image for m, _ in self.objects for _, image in images_of(m.obj)})


@dataclass
class SyncReport:
    revision: str
    plan: Plan
    prune: PrunePlan
    apply: ApplyReport = field(default_factory=ApplyReport)
    pruned: list[ObjectId] = field(default_factory=list)
    prune_failed: list[tuple[ObjectId, str]] = field(default_factory=list)
    drift: int = 0
    wrote: bool = False

    @property
    def succeeded(self) -> bool:
        return not self.apply.failed

    def counts(self) -> dict[str, int]:
        return {
            "created": self.apply.count("created"),
            "configured": self.apply.count("configured"),
            "unchanged": self.apply.count("unchanged"),
            "failed": len(self.apply.failed),
            "pruned": len(self.pruned),
            "drift": self.drift,
        }


def entry_of(manifest: Manifest) -> Entry:
    oid = manifest.id
    return Entry(manifest.api_version, oid.kind, oid.namespace, oid.name)


class Engine:
    def __init__(self, cluster: Cluster, config: AgentConfig, gate: Gate) -> None:
        self.cluster = cluster
        self.config = config
        self.gate = gate
        self._discovery: dict[tuple[str, str], ResourceInfo] | None = None

    def discovery(self, refresh: bool = False) -> Discovery:
        if self._discovery is None or refresh:
            self._discovery = self.cluster.discover()
        return self._discovery

    # -- render, validate, verify ----------------------------------------------

    def desired(self, checkout: Path, revision: str) -> Desired:
        """Render, validate and verify a checkout; `Refused` on any problem."""
        try:
            manifests = render(
                checkout,
                self.config.paths,
                self.config.limits,
                kustomize=self.config.kustomize,
                kustomize_timeout=self.config.kustomize_timeout,
            )
        except RenderError as error:
            raise Refused([error.diagnostic().split("\nhint:")[0]]) from None
        if not manifests:
            raise Refused(
                ["the render produced no objects (an empty render never applies or prunes)"]
            )
        validated, problems = validate(manifests, self.discovery(), self.config)
        if any("is not known to the API server" in p.message for p in problems):
            # A kind may have been added since discovery was cached: look once more.
            validated, problems = validate(manifests, self.discovery(refresh=True), self.config)
        if problems:
            raise Refused(problems)
        problems = self.gate.check(m for m, _ in validated.objects)
        if problems:
            raise Refused(problems)
        # Keep only the prepared copies (the rendered dicts are dropped): a
        # revision of thousands of objects is held once, not twice.
        objects = [
            (Manifest(prepare(m.obj, self.config, in_place=True), m.source), info)
            for m, info in validated.objects
        ]
        prepared = {m.id: m.obj for m, _ in objects}
        desired = Desired(revision, objects, prepared)
        # Every image passed the gate just now, so these are its cached verdicts.
        desired.verdicts = {image: self.gate.verdict(image) for image in desired.images}
        return desired

    # -- cluster state ---------------------------------------------------------

    def read_inventory(self) -> Inventory:
        live = self.cluster.get(CONFIG_MAP, self.config.namespace, self.config.inventory_name)
        try:
            return Inventory.from_data((live or {}).get("data"))
        except (ValueError, TypeError) as error:
            raise ShipstepError(
                f"The inventory ConfigMap {self.config.namespace}/{self.config.inventory_name} is corrupt: {error}",
                hint="Nothing was applied or pruned. Delete the ConfigMap to start a fresh inventory "
                "(objects it listed will no longer be pruned).",
            ) from None

    def write_inventory(self, inventory: Inventory) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.config.inventory_name,
                "namespace": self.config.namespace,
                "labels": {"app.kubernetes.io/managed-by": "shipstep-agent"},
            },
            "data": inventory.to_data(),
        }
        self.cluster.apply(CONFIG_MAP, body, self.config.field_manager, True)

    def _list_live(
        self,
        kinds: dict[tuple[str, str], ResourceInfo],
        namespaces: set[str],
        wanted: dict[ObjectId, Obj] | None = None,
    ) -> tuple[dict[ObjectId, Obj], set[tuple[str, str]]]:
        """Agent-labelled live objects of the kinds (one LIST per kind, or per
        kind and namespace with allowed namespaces, run in parallel), and the
        kinds that could not be listed."""
        selector = f"{OWNER_LABEL}={self.config.name}"
        known = self.discovery()

        def one(
            item: tuple[tuple[str, str], ResourceInfo],
        ) -> tuple[tuple[str, str], list[Obj] | None]:
            group_kind, info = item
            scopes = (
                sorted(namespaces) if info.namespaced and self.config.allowed_namespaces else [""]
            )
            try:
                found: list[Obj] = []
                for ns in scopes:
                    # Slimmed as it arrives: a full LIST answer is not kept.
                    found.extend(
                        slim(obj, wanted.get(ObjectId.of(obj))) if wanted is not None else obj
                        for obj in self.cluster.list(info, label_selector=selector, namespace=ns)
                    )
                return group_kind, found
            except KubeError as error:
                if error.status == 404 and (info.api_version, info.kind) not in known:
                    return group_kind, []  # a kind the revision's own CRD adds: nothing exists yet
                if error.status in (403, 404, 405):
                    log.warning(
                        "cannot list kind",
                        extra={"fields": {"kind": info.kind, "error": error.message}},
                    )
                    return group_kind, None
                raise

        live: dict[ObjectId, Obj] = {}
        unlisted: set[tuple[str, str]] = set()
        with ThreadPoolExecutor(
            max_workers=max(1, min(self.config.apply_concurrency, len(kinds)))
        ) as pool:
            for group_kind, objs in pool.map(one, sorted(kinds.items())):
                if objs is None:
                    unlisted.add(group_kind)
                    continue
                for obj in objs:
                    oid = ObjectId.of(obj)
                    live[oid] = obj
        return live, unlisted

    # -- the sync --------------------------------------------------------------

    def sync(
        self,
        desired: Desired,
        *,
        dry_run: bool = False,
        on_result: Callable[[ObjectResult], None] | None = None,
    ) -> SyncReport:
        inventory = self.read_inventory()
        discovery = self.discovery()
        kinds: dict[tuple[str, str], ResourceInfo] = {}
        namespaces: set[str] = set()
        for manifest, info in desired.objects:
            kinds[manifest.id.group_kind] = info
            if info.namespaced:
                namespaces.add(manifest.id.namespace)
        unresolved: set[tuple[str, str]] = set()
        if any(
            (e.api_version, e.kind) not in discovery and e.id.group_kind not in kinds
            for e in inventory.known
        ):
            discovery = self.discovery(refresh=True)  # kinds added since (CRDs applied by us)
        for entry in inventory.known:
            found = discovery.get((entry.api_version, entry.kind))
            if entry.id.group_kind in kinds:
                pass
            elif found is None:
                unresolved.add(entry.id.group_kind)
            else:
                kinds[entry.id.group_kind] = found
            if entry.namespace:
                namespaces.add(entry.namespace)
        live, unlisted = self._list_live(kinds, namespaces, desired.prepared)
        if unlisted & {m.id.group_kind for m, _ in desired.objects}:
            raise ShipstepError(
                "Cannot list kinds the revision applies: "
                + ", ".join(k for _, k in sorted(unlisted)),
                hint="Grant the agent list permission on them (deploy/agent RBAC).",
            )
        unlisted |= unresolved
        plan = make_plan(desired.objects, live, self.config, desired.prepared)
        desired_entries = {entry_of(m) for m, _ in desired.objects}
        drifted = {i.id for i in plan.items if i.action == DRIFT}
        drifted |= {
            i.id
            for i in plan.items
            if i.action == CREATE and i.id in {e.id for e in inventory.objects}
        }
        prune = plan_prune(
            inventory.known, {e.id for e in desired_entries}, live, unlisted, self.config
        )
        report = SyncReport(desired.revision, plan, prune, drift=len(drifted))
        if dry_run:
            return report
        new = desired_entries - inventory.known
        if new:  # remember what this apply may create before creating it
            self.write_inventory(
                Inventory(inventory.revision, inventory.objects, inventory.pending | new)
            )
            inventory = Inventory(inventory.revision, inventory.objects, inventory.pending | new)
            report.wrote = True
        report.apply = apply_plan(self.cluster, plan, self.config, drifted, on_result)
        if plan.writes:
            report.wrote = True
        if report.apply.failed:
            return report  # the committed inventory stays; pending keeps what may exist
        kept = {e for e, _ in prune.keep}
        for entry, obj in prune.delete:
            target = discovery.get((entry.api_version, entry.kind)) or kinds.get(
                entry.id.group_kind
            )
            if target is None:
                kept.add(entry)
                continue
            uid = (obj.get("metadata") or {}).get("uid")
            try:
                self.cluster.delete(target, entry.namespace, entry.name, uid)
                report.pruned.append(entry.id)
            except KubeError as error:
                kept.add(entry)  # stays in the inventory for the next attempt
                report.prune_failed.append((entry.id, error.message))
            report.wrote = True
        committed = Inventory(desired.revision, desired_entries | kept, set())
        if committed.to_data() != inventory.to_data():
            self.write_inventory(committed)
            report.wrote = True
        return report


def result_counts(results: list[ObjectResult]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in results:
        out[r.result] = out.get(r.result, 0) + 1
    return out


__all__ = ["CREATED", "FAILED", "Desired", "Engine", "Refused", "SyncReport"]
