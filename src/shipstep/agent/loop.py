"""The reconcile loop: poll (or be woken by the webhook), render, validate,
verify, sync, record status. A broken revision is refused and the last good
one keeps being reconciled (drift corrected); a source failure changes
nothing in the cluster."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shipstep.agent.config import OWNER_LABEL, AgentConfig
from shipstep.agent.engine import Desired, Engine, Refused, SyncReport
from shipstep.agent.health import FAILED as HEALTH_FAILED
from shipstep.agent.health import health
from shipstep.agent.leader import LeaderElector
from shipstep.agent.metrics import Metrics
from shipstep.agent.objects import ObjectId
from shipstep.agent.policy import Verdict
from shipstep.agent.source import GitSource, SourceError
from shipstep.agent.status import APPLIED, FAILED, REFUSED, StatusWriter
from shipstep.errors import ShipstepError

log = logging.getLogger("shipstep.agent")
WORKLOADS = {
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
}


@dataclass
class Outcome:
    """What one reconcile did."""

    revision: str | None
    result: str  # applied | unchanged | failed | refused | source-error | dry-run
    reason: str = ""
    report: SyncReport | None = None
    unhealthy: list[str] = field(default_factory=list)
    refused_head: str | None = (
        None  # the head commit, when it is refused (`revision` stays applied)
    )
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # dry runs: image -> verdict


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        engine: Engine,
        source: GitSource,
        status: StatusWriter,
        metrics: Metrics,
        elector: LeaderElector | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.source = source
        self.status = status
        self.metrics = metrics
        self.elector = elector
        self.desired: Desired | None = None  # the last good revision
        self.refused: str | None = None  # the last refused head (not re-rendered)
        self.trigger = threading.Event()
        self.stop = threading.Event()
        self.ready = False
        self.heartbeat = time.monotonic()
        self._candidate_path: Path | None = None  # checkout of the candidate revision

    # -- one reconcile ---------------------------------------------------------

    def _candidate(self, head: str) -> Desired:
        path = self.source.checkout(head)
        try:
            desired = self.engine.desired(path, head)
        except BaseException:
            self.source.discard(path)
            raise
        self._candidate_path = path
        return desired

    def _promote(self, revision: str) -> None:
        if self._candidate_path is not None:
            self.source.promote(revision, self._candidate_path)
            self._candidate_path = None

    def _recover(self, head: str | None) -> None:
        """After a restart, reconcile the last applied revision while the
        head is refused or unreadable."""
        last = self.status.current().get("lastAppliedRevision")
        if self.desired is not None or not last or last == head:
            return
        try:
            self.desired = self._candidate(last)
            self._promote(last)
            log.info("recovered last applied revision", extra={"fields": {"revision": last}})
        except ShipstepError as error:
            log.warning(
                "cannot recover last applied revision", extra={"fields": {"error": error.message}}
            )

    def reconcile(self, dry_run: bool = False) -> Outcome:
        started = time.monotonic()
        try:
            outcome = self._reconcile(dry_run)
        except ShipstepError as error:  # the API server is down, RBAC, a corrupt inventory
            outcome = Outcome(
                self.desired.revision if self.desired else None, FAILED, error.diagnostic()
            )
        self.heartbeat = time.monotonic()
        self.metrics.reconcile_seconds.observe(time.monotonic() - started)
        self.metrics.reconciles.labels(result=outcome.result).inc()
        level = (
            logging.INFO if outcome.result in (APPLIED, "unchanged", "dry-run") else logging.WARNING
        )
        log.log(
            level,
            "reconcile",
            extra={
                "fields": {
                    "revision": outcome.revision,
                    "result": outcome.result,
                    "reason": outcome.reason[:2000],
                    "seconds": round(time.monotonic() - started, 3),
                    **(outcome.report.counts() if outcome.report else {}),
                }
            },
        )
        return outcome

    def _reconcile(self, dry_run: bool) -> Outcome:
        head: str | None
        try:
            head = self.source.head()
        except SourceError as error:
            self.metrics.source_errors.inc()
            log.warning(
                "source unavailable", extra={"fields": {"error": error.message, "hint": error.hint}}
            )
            head = None
        candidate: Desired | None = None
        if (
            head is not None
            and head != (self.desired.revision if self.desired else None)
            and head != self.refused
        ):
            try:
                candidate = self._candidate(head)
            except Refused as refusal:
                self.refused = head
                failures = sum(1 for p in refusal.problems if " refused: " in p)
                self.metrics.signature_failures.inc(failures)
                if not dry_run:
                    self._recover(head)
                    if self.status.record(
                        revision=head, result=REFUSED, reason="\n".join(refusal.problems)
                    ):
                        self.status.event(
                            "Refused", f"{head[:12]}: {refusal.problems[0]}", warning=True
                        )
                if dry_run or self.desired is None:
                    return Outcome(head, REFUSED, "\n".join(refusal.problems))
            except SourceError as error:
                self.metrics.source_errors.inc()
                log.warning(
                    "fetch failed", extra={"fields": {"revision": head, "error": error.message}}
                )
        if head is None and not dry_run:
            self._recover(None)
        target = candidate or self.desired
        if target is None:
            reason = "no revision could be read from the config repository yet"
            return Outcome(head, "source-error", reason)
        report = self.engine.sync(target, dry_run=dry_run)
        self.ready = True
        if dry_run:
            return Outcome(target.revision, "dry-run", report=report, verdicts=target.verdicts)
        outcome = self._record(target, candidate is not None, report)
        if self.refused is not None and self.refused == head:
            outcome.refused_head = head
            why = self.status.current().get("reason", "")
            outcome.reason = "\n".join(
                x for x in (f"revision {head} refused:", why, outcome.reason) if x
            )
        return outcome

    def _record(self, target: Desired, is_new: bool, report: SyncReport) -> Outcome:
        for r in report.apply.results:
            if r.result != "unchanged" or is_new:
                self.metrics.objects.labels(result=r.result).inc()
        self.metrics.drift_corrections.inc(sum(1 for r in report.apply.results if r.drift))
        self.metrics.pruned.inc(len(report.pruned))
        problems = [f"{r.id}: {r.message}" for r in report.apply.failed]
        unhealthy: list[str] = []
        if not problems and report.wrote and self.config.health_timeout > 0:
            unhealthy = self.wait_healthy(target, self.config.health_timeout)
            problems += unhealthy
        if problems:
            reason = "\n".join(problems)
            if self.refused is None and self.status.record(
                revision=target.revision, result=FAILED, reason=reason, counts=report.counts()
            ):
                self.status.event("Failed", f"{target.revision[:12]}: {problems[0]}", warning=True)
            return Outcome(target.revision, FAILED, reason, report, unhealthy)
        if is_new:
            self.desired = target
            self.refused = None
            self._promote(target.revision)
        notes = []
        if report.prune.blocked:
            notes.append(f"prune blocked: {report.prune.blocked}")
        notes += [f"prune of {oid} failed: {message}" for oid, message in report.prune_failed]
        counts = report.counts() if report.wrote else None
        if self.refused is not None:
            # The head is refused: the status keeps saying so while the
            # previous revision is reconciled (drift still corrected).
            if report.drift:
                self.status.event(
                    "DriftCorrected",
                    f"{report.drift} object(s) re-applied after drift",
                    warning=True,
                )
            return Outcome(
                target.revision, APPLIED if report.wrote else "unchanged", "\n".join(notes), report
            )
        if self.status.record(
            revision=target.revision,
            result=APPLIED,
            reason="\n".join(notes),
            images=target.images,
            counts=counts,
        ):
            self.status.event("Applied", f"{target.revision[:12]}: {report.counts()}")
            if report.prune.blocked:
                self.status.event("PruneBlocked", report.prune.blocked, warning=True)
            for oid, message in report.prune_failed:
                self.status.event("PruneFailed", f"{oid}: {message}", warning=True)
        if report.drift:
            self.status.event(
                "DriftCorrected", f"{report.drift} object(s) re-applied after drift", warning=True
            )
        self.metrics.set_revision(target.revision)
        self.metrics.last_applied_time.set(time.time())
        return Outcome(
            target.revision, APPLIED if report.wrote else "unchanged", "\n".join(notes), report
        )

    def wait_healthy(self, desired: Desired, timeout: float) -> list[str]:
        """Problems of workloads not Current within `timeout` (empty when healthy)."""
        kinds = {
            m.id.group_kind: info for m, info in desired.objects if m.id.group_kind in WORKLOADS
        }
        wanted = {m.id for m, _ in desired.objects if m.id.group_kind in WORKLOADS}
        # With allowed namespaces the RBAC is namespaced: list per namespace.
        scopes = (
            sorted({oid.namespace for oid in wanted}) if self.config.allowed_namespaces else [""]
        )
        deadline = time.monotonic() + timeout
        while True:
            pending: list[str] = []
            failed: list[str] = []
            seen: set[ObjectId] = set()
            live = [
                obj
                for info in kinds.values()
                for namespace in scopes
                for obj in self.engine.cluster.list(
                    info, label_selector=f"{OWNER_LABEL}={self.config.name}", namespace=namespace
                )
            ]
            for obj in live:
                oid = ObjectId.of(obj)
                if oid not in wanted:
                    continue
                seen.add(oid)
                verdict = health(obj)
                if verdict.status == HEALTH_FAILED:
                    failed.append(f"{oid}: unhealthy: {verdict.message}")
                elif verdict.status != "Current":
                    pending.append(f"{oid}: not ready after {timeout:.0f}s: {verdict.message}")
            pending += [f"{oid}: not found" for oid in sorted(wanted - seen)]
            if failed or not pending:
                return failed
            if time.monotonic() >= deadline:
                return pending
            time.sleep(1.0)

    # -- the loop --------------------------------------------------------------

    def run(self, on_outcome: Callable[[Outcome], None] | None = None) -> None:
        """Reconcile every interval, or at once when the webhook triggers."""
        was_leading = False
        while not self.stop.is_set():
            if self.elector is not None:
                leading = self.elector.leading
                self.metrics.leader.set(1 if leading else 0)
                if leading and not was_leading:
                    self.status.invalidate()  # the previous leader may have written it
                was_leading = leading
                if not leading:
                    self.heartbeat = time.monotonic()
                    self.trigger.wait(min(self.config.interval_seconds, 1.0))
                    self.trigger.clear()
                    continue
            outcome = self.reconcile()
            if on_outcome:
                on_outcome(outcome)
            self.trigger.wait(self.config.interval_seconds)
            self.trigger.clear()
        if self.elector is not None:
            self.elector.stop()
