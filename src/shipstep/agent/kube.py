"""The cluster layer: the only module that imports `kubernetes`.

Raw requests through the client's `ApiClient` (so kubeconfig, in-cluster
auth and TLS all come from the client) with JSON bodies; server-side apply
is a PATCH with `application/apply-patch+yaml`. 429 and 5xx answers and
dropped connections are retried with exponential backoff (honouring
`Retry-After`); other errors become `KubeError` carrying the API `Status`.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from shipstep.agent.objects import Obj
from shipstep.agent.validate import ResourceInfo
from shipstep.errors import ShipstepError

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
RETRYABLE = {429, 500, 502, 503, 504}


class KubeError(ShipstepError):
    """An error answer of the API server, or the server unreachable."""

    def __init__(self, status: int, reason: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason


def load_client(kubeconfig: Path | None, context: str | None, pool_size: int = 8) -> Any:
    """An `ApiClient` from a kubeconfig file, or in-cluster when none is given."""
    configuration = k8s_client.Configuration()
    try:
        if kubeconfig is None:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), context=context, client_configuration=configuration
            )
    except (k8s_config.ConfigException, OSError) as error:
        raise ShipstepError(
            f"Cannot load Kubernetes credentials: {error}",
            hint="Pass --kubeconfig, or run in a Pod with a ServiceAccount token mounted.",
        ) from None
    except (yaml.YAMLError, TypeError, ValueError, KeyError, AttributeError) as error:
        # The client reads the file without checking its shape first.
        raise ShipstepError(
            f"Cannot load Kubernetes credentials: {kubeconfig} is not a valid kubeconfig "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})",
            hint="Check it with `kubectl config view --kubeconfig FILE`, or pass another --kubeconfig.",
        ) from None
    configuration.connection_pool_maxsize = pool_size
    return k8s_client.ApiClient(configuration=configuration)


@dataclass
class RequestStats:
    reads: int = 0
    writes: int = 0
    retries: int = 0

    def count(self, method: str) -> None:
        if method in ("GET", "HEAD"):
            self.reads += 1
        else:
            self.writes += 1


class Cluster:
    def __init__(
        self,
        api_client: Any,
        *,
        max_retries: int = 6,
        backoff: float = 0.2,
        max_backoff: float = 10.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api = api_client
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.sleep = sleep
        self.stats = RequestStats()
        self._lock = threading.Lock()

    # -- transport -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[int, Obj]:
        """One API call with retries; returns (HTTP status, decoded body)."""
        if query:
            path = f"{path}?{urlencode(query)}"
        headers = {"Accept": "application/json"}
        if body is not None:  # the client serialises JSON (and apply-patch YAML) bodies
            headers["Content-Type"] = content_type
        attempt = 0
        while True:
            with self._lock:
                self.stats.count(method)
            status, data, retry_after = self._once(method, path, headers, body)
            if status < 400:
                return status, data
            if (status in RETRYABLE or status == 0) and attempt < self.max_retries:
                jitter = 0.5 + random.random() / 2  # noqa: S311 (jitter, not crypto)
                delay = min(self.max_backoff, self.backoff * (2**attempt)) * jitter
                if retry_after is not None:
                    delay = max(delay, min(retry_after, self.max_backoff))
                attempt += 1
                with self._lock:
                    self.stats.retries += 1
                self.sleep(delay)
                continue
            raise self._error(status, data, method, path)

    def _once(
        self, method: str, path: str, headers: dict[str, str], payload: Any
    ) -> tuple[int, Obj, float | None]:
        method_, url, header_params, _, _ = self.api.param_serialize(
            method=method,
            resource_path=path,
            header_params=dict(headers),
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api.call_api(
                method_,
                url,
                header_params=header_params,
                body=payload,
                _request_timeout=self.timeout,
            )
            raw = response.read()
        except (urllib3.exceptions.HTTPError, OSError, k8s_client.ApiException) as error:
            return 0, {"message": f"cannot reach the API server: {type(error).__name__}"}, None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {"message": raw[:200].decode(errors="replace")}
        retry_after: float | None = None
        header = response.headers.get("Retry-After")
        if header:
            try:
                retry_after = float(header)
            except ValueError:
                retry_after = None
        return (
            int(response.status),
            data if isinstance(data, dict) else {"items": data},
            retry_after,
        )

    @staticmethod
    def _error(status: int, data: Obj, method: str, path: str) -> KubeError:
        reason = str(data.get("reason") or ("Unreachable" if status == 0 else status))
        message = str(data.get("message") or f"HTTP {status}")
        hint = {
            0: "Check that the API server is up and reachable from the agent.",
            401: "The agent's credentials were refused: check its ServiceAccount token or kubeconfig.",
            403: "Grant the agent's ServiceAccount this permission (see deploy/agent RBAC), or remove the object.",
            409: "Another field manager owns these fields: resolve it, or run with --force-conflicts.",
            422: "Fix the manifest: the API server rejected it.",
        }.get(status)
        return KubeError(status, reason, f"{method} {path}: {reason}: {message}", hint=hint)

    # -- discovery -------------------------------------------------------------

    def discover(self) -> dict[tuple[str, str], ResourceInfo]:
        """(apiVersion, kind) -> ResourceInfo for every served top-level resource."""
        found: dict[tuple[str, str], ResourceInfo] = {}
        group_versions: list[tuple[str, str]] = []
        _, core = self.request("GET", "/api")
        group_versions += [("", str(v)) for v in core.get("versions") or []]
        _, groups = self.request("GET", "/apis")
        for group in groups.get("groups") or []:
            for version in group.get("versions") or []:
                group_versions.append((str(group["name"]), str(version["version"])))
        for group, version in group_versions:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            try:
                _, resources = self.request("GET", path)
            except KubeError as error:
                if error.status in (404, 503):  # an aggregated API that is down: skip it
                    continue
                raise
            for res in resources.get("resources") or []:
                name = str(res.get("name", ""))
                if "/" in name or not res.get("kind"):
                    continue
                info = ResourceInfo(
                    group, version, str(res["kind"]), name, bool(res.get("namespaced"))
                )
                found[(info.api_version, info.kind)] = info
        return found

    # -- objects ---------------------------------------------------------------

    def list(
        self, info: ResourceInfo, *, label_selector: str | None = None, namespace: str = ""
    ) -> list[Obj]:
        query = {"labelSelector": label_selector} if label_selector else None
        _, data = self.request("GET", info.path(namespace), query=query)
        items = data.get("items") or []
        for item in items:  # LIST items carry neither apiVersion nor kind
            item.setdefault("apiVersion", info.api_version)
            item.setdefault("kind", info.kind)
            # Never used, and often the largest part of an object.
            (item.get("metadata") or {}).pop("managedFields", None)
        return list(items)

    def get(self, info: ResourceInfo, namespace: str, name: str) -> Obj | None:
        try:
            return self.request("GET", info.path(namespace, name))[1]
        except KubeError as error:
            if error.status == 404:
                return None
            raise

    def apply(
        self, info: ResourceInfo, obj: Obj, field_manager: str, force: bool
    ) -> tuple[int, Obj]:
        meta = obj["metadata"]
        query = {"fieldManager": field_manager}
        if force:
            query["force"] = "true"
        return self.request(
            "PATCH",
            info.path(meta.get("namespace", ""), meta["name"]),
            query=query,
            body=obj,
            content_type=APPLY_PATCH,
        )

    def delete(self, info: ResourceInfo, namespace: str, name: str, uid: str | None) -> bool:
        """Delete (background propagation); False when it was already gone."""
        body: Obj = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", info.path(namespace, name), body=body)
        except KubeError as error:
            if error.status == 404:
                return False
            raise
        return True

    def create(self, info: ResourceInfo, namespace: str, obj: Obj) -> Obj:
        return self.request("POST", info.path(namespace), body=obj)[1]

    def replace(self, info: ResourceInfo, obj: Obj) -> Obj:
        meta = obj["metadata"]
        return self.request("PUT", info.path(meta.get("namespace", ""), meta["name"]), body=obj)[1]


CONFIG_MAP = ResourceInfo("", "v1", "ConfigMap", "configmaps", True)
EVENT = ResourceInfo("", "v1", "Event", "events", True)
LEASE = ResourceInfo("coordination.k8s.io", "v1", "Lease", "leases", True)
CRD = ResourceInfo(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
)
