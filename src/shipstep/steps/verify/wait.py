"""Wait for the cluster checks with a deadline, by watching.

One `list` per kind gives the starting state and a resourceVersion; then one
watch per kind (the workload kinds targeted, ReplicaSets for Deployments,
Pods) feeds a queue, and the
checks are evaluated again after every batch of events: a rollout that fails
is seen within one watch event. The agent's status ConfigMap is read every
poll interval until it reports the merge commit. With `watch=False` (for API
servers or RBAC that refuse watches) everything is listed every poll
interval instead.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shipstep.cluster.client import Cluster, ClusterError, WatchStopper
from shipstep.oci.reference import Reference
from shipstep.progress import NullReporter, Reporter
from shipstep.steps.verify.agent_status import AgentStatusCheck
from shipstep.steps.verify.report import Check, Status
from shipstep.steps.verify.rollout import WORKLOAD_KINDS, ClusterState, Targets, evaluate


@dataclass(frozen=True)
class WaitOptions:
    timeout: float = 300.0
    poll_interval: float = 5.0
    watch: bool = True


class _Watcher(threading.Thread):
    """Watches one kind until stopped, re-listing after `410 Gone`."""

    def __init__(
        self,
        cluster: Cluster,
        kind: str,
        targets: Targets,
        resource_version: str,
        deadline: float,
        events: queue.Queue[tuple[str, str, Any]],
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.cluster = cluster
        self.kind = kind
        self.targets = targets
        self.rv = resource_version
        self.deadline = deadline
        self.events = events
        self.stopper = WatchStopper()

    def _selector(self) -> str | None:
        return self.targets.selector if self.kind in WORKLOAD_KINDS else None

    def run(self) -> None:
        try:
            while not self.stopper.stopped.is_set():
                remaining = self.deadline - time.monotonic()
                if remaining <= 0:
                    return
                try:
                    for event_type, obj in self.cluster.watch(
                        self.kind,
                        self.targets.namespace,
                        resource_version=self.rv,
                        timeout=remaining,
                        label_selector=self._selector(),
                        stopper=self.stopper,
                    ):
                        if self.stopper.stopped.is_set():
                            return
                        rv = (obj.get("metadata") or {}).get("resourceVersion")
                        if rv:
                            self.rv = str(rv)
                        if event_type != "BOOKMARK":
                            self.events.put((self.kind, event_type, obj))
                except ClusterError as error:
                    if error.status != 410:
                        raise
                    # Our resourceVersion is too old: list again, then watch on.
                    items, self.rv = self.cluster.list_items(
                        self.kind, self.targets.namespace, self._selector()
                    )
                    self.events.put((self.kind, "RELIST", items))
        except BaseException as error:  # handed to the waiting thread, never lost
            if not self.stopper.stopped.is_set():
                self.events.put((self.kind, "ERROR", error))

    def stop(self) -> None:
        self.stopper.stop()


def _list_all(cluster: Cluster, targets: Targets, state: ClusterState) -> dict[str, str]:
    versions = {}
    for kind in targets.watched_kinds:
        selector = targets.selector if kind in WORKLOAD_KINDS else None
        items, versions[kind] = cluster.list_items(kind, targets.namespace, selector)
        bucket = state.bucket(kind)
        bucket.clear()
        bucket.update({str(i["metadata"]["name"]): i for i in items})
    return versions


def wait_for_cluster(
    cluster: Cluster,
    targets: Targets,
    expected: list[Reference],
    agent: AgentStatusCheck | None,
    options: WaitOptions,
    *,
    reporter: Reporter | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[Check]:
    """The cluster checks once all are decided, one fails, or the deadline passes."""
    reporter = reporter or NullReporter()
    start = clock()
    deadline = start + options.timeout
    state = ClusterState()
    versions = _list_all(cluster, targets, state)

    def read_agent() -> Check | None:
        if agent is None:
            return None
        return agent.evaluate(cluster.get("ConfigMap", agent.namespace, agent.name))

    agent_check = read_agent()
    events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
    watchers: list[_Watcher] = []
    if options.watch:
        watchers = [
            _Watcher(cluster, kind, targets, versions[kind], deadline, events)
            for kind in targets.watched_kinds
        ]
        for watcher in watchers:
            watcher.start()
    next_poll = start + options.poll_interval
    last_summary = ""
    try:
        while True:
            # Without the agent's word, a missing workload or an old template may
            # still be on its way: wait for it until the deadline.
            applied = agent_check is not None and agent_check.status is Status.PASSED
            checks = ([agent_check] if agent_check else []) + evaluate(
                state, targets, expected, applied=applied
            )
            summary = "; ".join(f"{c.name}: {c.summary}" for c in checks if not c.decided)
            if summary and summary != last_summary:
                reporter.log(f"waiting: {summary}")
                last_summary = summary
            if all(c.decided for c in checks) or any(c.status is Status.FAILED for c in checks):
                return checks
            now = clock()
            if now >= deadline:
                return [c.timed_out(options.timeout) for c in checks]
            polling = not options.watch or (agent_check is not None and not agent_check.decided)
            wake = min(deadline, next_poll) if polling else deadline
            batch = []
            try:
                batch.append(events.get(timeout=max(wake - now, 0.0)))
                while True:  # take whatever else arrived: one evaluation per batch
                    batch.append(events.get_nowait())
            except queue.Empty:
                pass
            for kind, event_type, payload in batch:
                if event_type == "ERROR":
                    raise payload
                if event_type == "RELIST":
                    bucket = state.bucket(kind)
                    bucket.clear()
                    bucket.update({str(i["metadata"]["name"]): i for i in payload})
                else:
                    state.apply_event(kind, event_type, payload)
            if clock() >= next_poll:
                next_poll = clock() + options.poll_interval
                if agent_check is not None and not agent_check.decided:
                    agent_check = read_agent()
                if not options.watch:
                    _list_all(cluster, targets, state)
    finally:
        for watcher in watchers:
            watcher.stop()
        for watcher in watchers:
            # Shut sockets end the streams at once; a thread that outlives
            # this is a daemon and exits when its next read fails.
            watcher.join(timeout=1)
