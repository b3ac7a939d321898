"""Leader election on a `coordination.k8s.io/v1` Lease, so that two replicas
never apply at once. Acquire and renew with optimistic concurrency (PUT with
the read `resourceVersion`; a 409 means someone else won)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any

from shipstep.agent.kube import LEASE, Cluster, KubeError

log = logging.getLogger("shipstep.agent")


def _micro(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(text: str | None) -> float:
    if not text:
        return 0.0
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return 0.0


class LeaderElector:
    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        name: str,
        identity: str | None = None,
        lease_seconds: int = 30,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.name = name
        self.identity = identity or socket.gethostname()
        self.lease_seconds = lease_seconds
        self.leading = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Keep trying to acquire, and renewing, every third of the lease."""

        def renew() -> None:
            while not self._stop.is_set():
                try:
                    self.leading = self.try_acquire()
                except KubeError as error:
                    log.warning(
                        "leader election failed", extra={"fields": {"error": error.message}}
                    )
                    self.leading = False
                self._stop.wait(max(self.lease_seconds / 3, 0.2))

        self._thread = threading.Thread(target=renew, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.leading:
            self.release()
        self.leading = False

    def _body(self, acquire_time: str, transitions: int, rv: str | None) -> dict[str, Any]:
        now = _micro(time.time())
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if rv:
            meta["resourceVersion"] = rv
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": acquire_time or now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def try_acquire(self) -> bool:
        """Acquire or renew the lease; False when another holder's lease is valid."""
        try:
            lease = self.cluster.get(LEASE, self.namespace, self.name)
            if lease is None:
                self.cluster.create(LEASE, self.namespace, self._body("", 0, None))
                return True
            spec = lease.get("spec") or {}
            holder = spec.get("holderIdentity")
            rv = (lease.get("metadata") or {}).get("resourceVersion")
            transitions = int(spec.get("leaseTransitions") or 0)
            if holder == self.identity:
                self.cluster.replace(
                    LEASE, self._body(str(spec.get("acquireTime") or ""), transitions, rv)
                )
                return True
            expires = _parse(spec.get("renewTime")) + int(
                spec.get("leaseDurationSeconds") or self.lease_seconds
            )
            if holder and time.time() < expires:
                return False
            self.cluster.replace(LEASE, self._body("", transitions + 1, rv))
            return True
        except KubeError as error:
            if error.status == 409:  # another replica created or renewed it first
                return False
            raise

    def release(self) -> None:
        try:
            lease = self.cluster.get(LEASE, self.namespace, self.name)
            if lease and (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                self.cluster.replace(LEASE, lease)
        except KubeError:
            pass  # the lease expires on its own
