"""Read a cluster as plain dicts (the API's JSON): get, list and watch, with
every client failure turned into a diagnostic that says what to do."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3.exceptions
from kubernetes import client as k8s
from kubernetes import watch as _k8s_watch
from kubernetes.client import exceptions as _k8s_exceptions

from shipstep.errors import ShipstepError

Obj = dict[str, Any]
ApiException: Any = _k8s_exceptions.ApiException
k8s_watch: Any = _k8s_watch


@dataclass(frozen=True)
class Kind:
    name: str
    api: str  # "core" or "apps"
    singular: str  # the typed client's method suffix: `namespaced_<singular>`
    plural: str


KINDS = {
    k.name: k
    for k in (
        Kind("Deployment", "apps", "deployment", "deployments"),
        Kind("ReplicaSet", "apps", "replica_set", "replicasets"),
        Kind("StatefulSet", "apps", "stateful_set", "statefulsets"),
        Kind("DaemonSet", "apps", "daemon_set", "daemonsets"),
        Kind("Pod", "core", "pod", "pods"),
        Kind("ConfigMap", "core", "config_map", "configmaps"),
    )
}


class ClusterError(ShipstepError):
    """The cluster could not be read (unreachable, credentials, RBAC).
    `status` is the HTTP status when the API server answered."""

    status: int | None = None


class Cluster:
    def __init__(self, api_client: Any, where: str, cleanup: list[Path] | None = None) -> None:
        self.api_client = api_client
        self.where = where
        self._cleanup = cleanup or []
        self._apis = {"core": k8s.CoreV1Api(api_client), "apps": k8s.AppsV1Api(api_client)}

    def close(self) -> None:
        for path in self._cleanup:
            path.unlink(missing_ok=True)
        self._cleanup = []
        self.api_client.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _method(self, kind: str, verb: str) -> Callable[..., Any]:
        spec = KINDS[kind]
        return getattr(self._apis[spec.api], f"{verb}_namespaced_{spec.singular}")  # type: ignore[no-any-return]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        """The object, or None when it does not exist."""
        with self.translated(f"read {kind} {namespace}/{name}", missing_ok=True) as box:
            response = self._method(kind, "read")(name, namespace, _preload_content=False)
            box.append(json.loads(response.data))
        return box[0] if box else None

    def list_items(
        self, kind: str, namespace: str, label_selector: str | None = None
    ) -> tuple[list[Obj], str]:
        """The objects and the list's resourceVersion (to watch from)."""
        kwargs: dict[str, Any] = {"_preload_content": False}
        if label_selector:
            kwargs["label_selector"] = label_selector
        with self.translated(f"list {KINDS[kind].plural} in {namespace}"):
            response = self._method(kind, "list")(namespace, **kwargs)
            body = json.loads(response.data)
        items = body.get("items") or []
        api_version = "apps/v1" if KINDS[kind].api == "apps" else "v1"
        for item in items:  # list items carry no kind; add it back
            item.setdefault("kind", kind)
            item.setdefault("apiVersion", api_version)
        return items, str((body.get("metadata") or {}).get("resourceVersion") or "")

    def watch(
        self,
        kind: str,
        namespace: str,
        *,
        resource_version: str,
        timeout: float,
        label_selector: str | None = None,
        stopper: WatchStopper | None = None,
    ) -> Iterator[tuple[str, Obj]]:
        """(type, object) events from `resource_version` on, for at most `timeout`
        seconds. `stopper` receives the watch and its HTTP response, so that
        another thread can stop it (`stop_watch`) without waiting for an event."""
        w = k8s_watch.Watch()
        if stopper is not None:
            stopper.add(w)
        kwargs: dict[str, Any] = {
            "resource_version": resource_version,
            "timeout_seconds": max(int(timeout), 1),
            "_request_timeout": timeout + 5,
            "allow_watch_bookmarks": True,
        }
        if label_selector:
            kwargs["label_selector"] = label_selector
        method = self._method(kind, "list")

        def call(*args: Any, **kw: Any) -> Any:
            response = method(*args, **kw)
            if stopper is not None:
                stopper.add(response)
            return response

        # `call` has no docstring naming a model type, so the watch hands out
        # events as plain dicts (`raw_object`) without building model objects.
        # (Its `deserialize=False` would do the same but breaks on ERROR
        # events, e.g. 410 Gone: it looks for `raw_object`, which it never set.)
        with self.translated(f"watch {KINDS[kind].plural} in {namespace}"):
            for event in w.stream(call, namespace, **kwargs):
                obj = event.get("raw_object") or {}
                obj.setdefault("kind", kind)
                yield str(event.get("type")), obj

    @contextmanager
    def translated(self, action: str, missing_ok: bool = False) -> Iterator[list[Obj]]:
        box: list[Obj] = []
        try:
            yield box
        except ApiException as error:
            if missing_ok and error.status == 404:
                return
            raise api_error(error, action, self.where) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ClusterError(
                f"Cannot reach the Kubernetes API ({self.where}) to {action}: {_network_reason(error)}.",
                hint="Check the endpoint, the network path to it (VPN, security groups, "
                "private endpoint) and that the cluster is running.",
            ) from error


def _status_message(error: Any) -> str:
    try:
        body = json.loads(error.body or "{}")
    except (ValueError, TypeError):
        return str(error.reason or "")
    return str(body.get("message") or error.reason or "")


def api_error(error: Any, action: str, where: str) -> ClusterError:
    made = _api_error(error, action, where)
    made.status = error.status
    return made


def _api_error(error: Any, action: str, where: str) -> ClusterError:
    message = _status_message(error)
    if error.status == 401:
        return ClusterError(
            f"The Kubernetes API ({where}) refused the credentials to {action} (401 Unauthorized).",
            hint="The token or certificate is expired or invalid: refresh the kubeconfig "
            "credentials; for EKS check that the role is mapped to the cluster "
            "(access entry or aws-auth).",
        )
    if error.status == 403:
        return ClusterError(
            f"Forbidden to {action}: {message}",
            hint="Grant get, list and watch on deployments, statefulsets, daemonsets, "
            "replicasets, pods and "
            "configmaps in the namespace to the identity verify runs as.",
        )
    if error.status == 404:
        return ClusterError(f"Not found when trying to {action}: {message}")
    return ClusterError(
        f"The Kubernetes API ({where}) answered {error.status} {error.reason} to {action}: {message}",
        hint="Retry later; if it persists, check the API server's health.",
    )


def _network_reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    if "refused" in text.lower():
        return "connection refused"
    if "certificate" in text.lower() or "ssl" in text.lower():
        return f"TLS failure ({text.split(': ', 1)[-1]})"
    if "timed out" in text.lower() or "timeout" in text.lower():
        return "timed out"
    if "name or service not known" in text.lower() or "nodename nor servname" in text.lower():
        return "the host name does not resolve"
    return text.split(": ", 1)[-1]


class WatchStopper:
    """Ends watches from another thread at once: `stop()` marks them stopped
    and shuts their sockets, unblocking a read that would otherwise wait for
    the next event; a watch whose request is still being made is shut as
    soon as its response arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []
        self.stopped = threading.Event()

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
        if self.stopped.is_set():
            _end(item)

    def stop(self) -> None:
        self.stopped.set()
        with self._lock:
            items = list(self._items)
        for item in items:
            _end(item)


def _end(item: Any) -> None:
    if isinstance(item, k8s_watch.Watch):
        item.stop()
    else:
        with suppress(Exception):  # the stream may be gone already
            item.shutdown()
