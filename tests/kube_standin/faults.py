"""Knobs a test turns: injected faults, a deny list, and the request log."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    status: int | None = None  # answer this code instead of serving
    retry_after: int | None = None
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without an answer
    count: int | None = None  # for the next N matching requests
    share: float | None = None  # or for this share of them (seeded, reproducible)
    method: str | None = None  # match only this method ("GET", ...)
    path: str | None = None  # match only paths containing this text

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path in path
        )


@dataclass
class Action:
    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    drop: bool = False


class Faults:
    """Faults for the next N requests or a share of them, matched by method and path.

    `fail(503, count=2)`, `fail(429, share=0.3, retry_after=1)`,
    `delay(0.2, count=5)`, `drop(count=1)`; `clear()` removes them all.
    Each rule without `count` or `share` applies to every matching request.
    """

    def __init__(self, seed: int = 7) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        if fault.count is not None and fault.share is not None:
            raise ValueError("give count or share, not both")
        with self._lock:
            self._rules.append(fault)
        return fault

    def fail(
        self,
        status: int,
        *,
        count: int | None = None,
        share: float | None = None,
        retry_after: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        if status not in (429, 500, 502, 503, 504):
            raise ValueError(f"unsupported fault status {status}")
        if status == 429 and retry_after is None:
            retry_after = 1
        return self.add(
            Fault(
                status=status,
                retry_after=retry_after,
                count=count,
                share=share,
                method=method,
                path=path,
            )
        )

    def delay(
        self,
        seconds: float,
        *,
        count: int | None = None,
        share: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        return self.add(Fault(delay=seconds, count=count, share=share, method=method, path=path))

    def drop(
        self,
        *,
        count: int | None = None,
        share: float | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> Fault:
        return self.add(Fault(drop=True, count=count, share=share, method=method, path=path))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def pick(self, method: str, path: str) -> Action:
        """What to do with this request (consumes counted rules)."""
        action = Action()
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.share is not None and self._random.random() >= rule.share:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self._rules.remove(rule)
                action.delay += rule.delay
                action.drop = action.drop or rule.drop
                if rule.status is not None and action.status is None:
                    action.status, action.retry_after = rule.status, rule.retry_after
        return action


@dataclass(frozen=True)
class DenyRule:
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection, or "*"
    resource: str  # "deployments", "deployments.apps", or "*"
    namespace: str | None = None
    name: str | None = None
    message: str | None = None  # e.g. an admission webhook's words; RBAC wording otherwise
    code: int = 403

    def matches(self, verb: str, resource: str, namespace: str, name: str) -> bool:
        return (
            self.verb in ("*", verb)
            and self.resource in ("*", resource)
            and self.namespace in (None, namespace)
            and self.name in (None, name)
        )


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: str
    content_type: str  # "" when the request had no body
    status: int  # 0 when the connection was dropped


@dataclass
class RequestLog:
    """Every request the API answered (or dropped), in order; the internal
    `/_standin/` endpoints are not logged."""

    _items: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: Request) -> None:
        with self._lock:
            self._items.append(request)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def all(self) -> list[Request]:
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def count(
        self,
        method: str | None = None,
        path: str | None = None,
        content_type: str | None = None,
        *,
        path_contains: str | None = None,
        status: int | None = None,
    ) -> int:
        """Requests matching every given criterion (path is compared exactly)."""
        return sum(
            1
            for r in self.all()
            if (method is None or r.method == method)
            and (path is None or r.path == path)
            and (content_type is None or r.content_type == content_type)
            and (path_contains is None or path_contains in r.path)
            and (status is None or r.status == status)
        )
