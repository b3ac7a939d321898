"""WATCH: chunked JSON lines of events after a resourceVersion, bookmarks, 410."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from tests.kube_standin import errors
from tests.kube_standin.errors import ApiError
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.selectors import parse_fields, parse_labels
from tests.kube_standin.store import Event, Obj, Store

if TYPE_CHECKING:
    from tests.kube_standin.server import Server


class Watching:
    """The watch part of the request handler (a mixin of `Handler`)."""

    server: Server
    close_connection: bool
    wfile: Any

    if TYPE_CHECKING:  # provided by Handler and BaseHTTPRequestHandler

        def _log(self, status: int) -> None: ...
        def send_response(self, code: int, message: str | None = None) -> None: ...
        def send_header(self, keyword: str, value: str) -> None: ...
        def end_headers(self) -> None: ...

    def _watch(
        self, store: Store, rtype: ResourceType, namespace: str | None, q: dict[str, str]
    ) -> int:
        knobs = self.server.standin.knobs
        labels = parse_labels(q["labelSelector"]) if q.get("labelSelector") else []
        checks = parse_fields(q["fieldSelector"], rtype) if q.get("fieldSelector") else []
        timeout = float(q.get("timeoutSeconds") or knobs.watch_timeout)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1") and knobs.bookmark_interval > 0
        requested = q.get("resourceVersion", "")

        def selected(obj: Obj) -> bool:
            return (
                (namespace is None or obj["metadata"].get("namespace") == namespace)
                and all(r(obj["metadata"].get("labels") or {}) for r in labels)
                and all(c(obj) for c in checks)
            )

        def same_type(event: Event) -> bool:
            return (event.rtype.group, event.rtype.plural) == (rtype.group, rtype.plural)

        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with store.changed:
            if requested in ("", "0"):
                items, rv_text = store.list(rtype, namespace)
                position = int(rv_text)
                initial = [{"type": "ADDED", "object": obj} for obj in items if selected(obj)]
            else:
                try:
                    position = int(requested)
                except ValueError:
                    position = -1
                initial = []
        try:
            for added in initial:
                self._chunk(added)
            if position < 0:
                self._chunk(
                    {
                        "type": "ERROR",
                        "object": errors.bad_request(
                            f'invalid resource version "{requested}"'
                        ).status(),
                    }
                )
                return self._end_chunks()
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + knobs.bookmark_interval
            while (
                time.monotonic() < deadline
                and not store.closed
                and self.server.standin.store is store
            ):
                try:
                    events, head = store.events_after(position, same_type)
                except ApiError as exc:
                    self._chunk({"type": "ERROR", "object": exc.status() | {"code": 410}})
                    break
                for event in events:
                    shown = self._translate(event, selected)
                    if shown is not None:
                        self._chunk({"type": shown, "object": _served(rtype, event.obj)})
                position = head
                if bookmarks and time.monotonic() >= next_bookmark:
                    bookmark = {
                        "kind": rtype.kind,
                        "apiVersion": rtype.api_version,
                        "metadata": {"resourceVersion": str(position)},
                    }
                    self._chunk({"type": "BOOKMARK", "object": bookmark})
                    next_bookmark = time.monotonic() + knobs.bookmark_interval
                with store.changed:
                    if store.rv == position and not store.closed:
                        until = next_bookmark if bookmarks else deadline
                        wait = min(deadline, until) - time.monotonic()
                        store.changed.wait(timeout=max(0.0, min(wait, 0.5)))
            return self._end_chunks()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return 200

    @staticmethod
    def _translate(event: Event, selected: Any) -> str | None:
        """The event as this watch shows it: objects entering or leaving its
        selector appear ADDED or DELETED, like the API server's watch cache."""
        now = selected(event.obj)
        if event.type != "MODIFIED":
            return event.type if now else None
        before = event.old is not None and selected(event.old)
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> int:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return 200


def _served(rtype: ResourceType, obj: Obj) -> Obj:
    if rtype.custom:
        return {**obj, "apiVersion": rtype.api_version}
    return obj
