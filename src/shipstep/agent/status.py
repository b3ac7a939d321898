"""The status the agent reports per revision, for people and for `shipstep verify`.

ConfigMap `<name>-status` in the agent's namespace (default
`shipstep-status` in `shipstep-system`); all values are strings:

| key | value |
|---|---|
| `revision` | the config repository commit last attempted (40 hex) |
| `result` | `applied`, `failed` or `refused` for that revision |
| `reason` | empty when applied; else why (one problem per line, `file:line: ...` for validation and policy refusals) |
| `lastAppliedRevision` | the last commit whose result was `applied` (what runs now) |
| `images` | the images of `lastAppliedRevision`'s objects, sorted, one per line |
| `objects` | JSON counts of the last sync that wrote: `created`, `configured`, `unchanged`, `failed`, `pruned`, `drift` |
| `updated` | RFC 3339 UTC time of the last change |
| `history` | JSON list, newest first, at most 20: `{"revision", "result", "reason", "time"}` |

`refused` means the revision was never applied (parse error, unknown kind,
forbidden namespace or kind, unpinned or unsigned image): the previous
revision (`lastAppliedRevision`) stays applied. `failed` means applying
started and did not complete (an API error, a conflict, a CRD that never
became Established, or an unhealthy rollout when health waiting is on).
The ConfigMap is written only when something changed, never on a no-op
reconcile. Each change also emits a Kubernetes Event on the ConfigMap
(reasons `Applied`, `Failed`, `Refused`, `DriftCorrected`, `PruneBlocked`,
`PruneFailed`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from shipstep.agent.config import AgentConfig
from shipstep.agent.kube import CONFIG_MAP, EVENT, Cluster, KubeError

APPLIED, FAILED, REFUSED = "applied", "failed", "refused"
_COMPARED = ("revision", "result", "reason", "lastAppliedRevision", "images")
HISTORY = 20
log = logging.getLogger("shipstep.agent")
MAX_REASON = 16_000


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def next_status(
    current: dict[str, str],
    *,
    revision: str,
    result: str,
    reason: str,
    images: list[str] | None,
    counts: dict[str, int] | None,
) -> dict[str, str]:
    """The status data after a sync (pure)."""
    data = dict(current)
    data.update(revision=revision, result=result, reason=reason[:MAX_REASON])
    if result == APPLIED:
        data["lastAppliedRevision"] = revision
        if images is not None:
            data["images"] = "\n".join(sorted(set(images)))
    data.setdefault("lastAppliedRevision", "")
    data.setdefault("images", "")
    if counts is not None:
        data["objects"] = json.dumps(counts, sort_keys=True)
    data.setdefault("objects", "{}")
    if any(current.get(k) != data.get(k) for k in _COMPARED):
        time = now()
        data["updated"] = time
        try:
            history = json.loads(current.get("history") or "[]")
        except ValueError:
            history = []
        entry = {"revision": revision, "result": result, "reason": reason[:500], "time": time}
        if history and history[0].get("revision") == revision:
            history[0] = entry
        else:
            history.insert(0, entry)
        data["history"] = json.dumps(history[:HISTORY])
    return data


class StatusWriter:
    def __init__(self, cluster: Cluster, config: AgentConfig) -> None:
        self.cluster = cluster
        self.config = config
        self._current: dict[str, str] | None = None
        # Told (revision, result, reason) after every change written: the commit status.
        self.on_change: Callable[[str, str, str], None] | None = None

    def current(self) -> dict[str, str]:
        if self._current is None:
            live = self.cluster.get(CONFIG_MAP, self.config.namespace, self.config.status_name)
            self._current = dict((live or {}).get("data") or {})
        return self._current

    def invalidate(self) -> None:
        """Read the ConfigMap again before the next write (another replica may have written it)."""
        self._current = None

    def record(
        self,
        *,
        revision: str,
        result: str,
        reason: str = "",
        images: list[str] | None = None,
        counts: dict[str, int] | None = None,
    ) -> bool:
        """Write the status if it changed; True when written."""
        current = self.current()
        data = next_status(
            current, revision=revision, result=result, reason=reason, images=images, counts=counts
        )
        if data == current:
            return False
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": self.config.status_name,
                "namespace": self.config.namespace,
                "labels": {"app.kubernetes.io/managed-by": "shipstep-agent"},
            },
            "data": data,
        }
        self.cluster.apply(CONFIG_MAP, body, self.config.field_manager, True)
        self._current = data
        if self.on_change is not None:
            self.on_change(revision, result, reason)
        return True

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        """A Kubernetes Event on the status ConfigMap; best effort."""
        time = now()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{self.config.status_name}.",
                "namespace": self.config.namespace,
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "name": self.config.status_name,
                "namespace": self.config.namespace,
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": self.config.field_manager},
            "firstTimestamp": time,
            "lastTimestamp": time,
            "count": 1,
        }
        try:
            self.cluster.create(EVENT, self.config.namespace, event)
        except KubeError as error:  # events are informational; the ConfigMap is the record
            log.warning(
                "event not recorded", extra={"fields": {"reason": reason, "error": error.message}}
            )
