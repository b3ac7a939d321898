"""`KubeStandin`: one server with its store, knobs, request log and controller."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.kube_standin.controller import Controller
from tests.kube_standin.faults import RequestLog
from tests.kube_standin.knobs import Knobs
from tests.kube_standin.server import Server, serve, write_kubeconfig
from tests.kube_standin.store import Obj, Store

T = TypeVar("T")
TOKEN = "standin-token"


class KubeStandin:
    """A running stand-in API server on 127.0.0.1.

    `url`, `kubeconfig` (a file whose current context points here, namespace
    `default`), `knobs`, `faults` (= `knobs.faults`), `requests` (the request
    log), `store` (the objects; replaced by `reset()`).
    """

    def __init__(self, kubeconfig: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._clients = 0
        self.knobs = Knobs()
        self.requests = RequestLog()
        self.store = self._new_store()
        self._server: Server
        self._server, self._thread = serve(self, host, port)
        address = self._server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        self.url = f"http://{self.host}:{self.port}"
        self.kubeconfig = write_kubeconfig(kubeconfig, self.url, TOKEN)
        self.controller = Controller(self)
        self.controller.start()

    @property
    def faults(self) -> Any:
        return self.knobs.faults

    def _new_store(self) -> Store:
        return Store(establish_crds=lambda: self.knobs.crd_establish_delay <= 0)

    def reset(self) -> None:
        """Fresh objects (the four default namespaces), default knobs, empty log;
        open watches end."""
        with self._lock:
            old = self.store
            self.knobs = Knobs()
            self.store = self._new_store()
            old.close()
            self.requests.clear()

    def stop(self) -> None:
        self.controller.stop()
        self.store.close()
        self._server.shutdown()
        self._server.server_close()

    def wait(self, check: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
        """Poll `check` until it returns something truthy; its value, or TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not reached within {timeout}s")
            time.sleep(0.01)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the controller has nothing left to do now (a pass with no
        writes). Work waiting on a timer (pod_start_delay, crd_establish_delay,
        a progress deadline) is not waited for: use `wait` for those."""
        self.controller.settle(timeout)

    # Direct access for test setup and assertions (not logged as requests).

    def object(self, api_version: str, kind: str, name: str, namespace: str = "") -> Obj | None:
        rtype = self.store.registry.by_kind(api_version, kind)
        if rtype is None:
            raise KeyError(f"no resource type for {api_version} {kind}")
        return self.store.find(rtype, namespace if rtype.namespaced else "", name)

    def objects(
        self, api_version: str, kind: str, namespace: str | None = None, labels: str = ""
    ) -> list[Obj]:
        rtype = self.store.registry.by_kind(api_version, kind)
        if rtype is None:
            raise KeyError(f"no resource type for {api_version} {kind}")
        return self.store.list(rtype, namespace, labels)[0]

    def seed(self, *objects: Obj, manager: str = "seed") -> list[Obj]:
        """Create objects directly (namespace from metadata, default `default`)."""
        created = []
        for obj in objects:
            rtype = self.store.registry.by_kind(obj["apiVersion"], obj["kind"])
            if rtype is None:
                raise KeyError(f"no resource type for {obj['apiVersion']} {obj['kind']}")
            namespace = (
                obj.get("metadata", {}).get("namespace", "default") if rtype.namespaced else ""
            )
            created.append(self.store.create(rtype, namespace, obj, manager=manager))
        return created

    # Clients configured from the kubeconfig (the `kubernetes` package is
    # imported only here: the server itself does not need it).

    def api_client(self) -> Any:
        """A `kubernetes.client.ApiClient` for this stand-in."""
        from kubernetes import config

        return config.new_client_from_config(config_file=str(self.kubeconfig))  # type: ignore[no-untyped-call]

    def dynamic_client(self) -> Any:
        """A `kubernetes.dynamic.DynamicClient` with its own discovery cache file.

        DynamicClient caches discovery in a file named after the server URL;
        the default one would outlive `reset()` and show CRDs of earlier tests.
        """
        from kubernetes.dynamic import DynamicClient

        self._clients += 1
        cache = (
            self.kubeconfig.parent
            / f"discovery-{self.port}-{self._clients}-{uuid.uuid4().hex[:8]}.json"
        )
        return DynamicClient(self.api_client(), cache_file=str(cache))  # type: ignore[no-untyped-call]
