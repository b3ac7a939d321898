"""The HTTP layer: routing, verbs, Status errors, watches, faults, request log."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.kube_standin import discovery, errors, patches
from tests.kube_standin.errors import ApiError
from tests.kube_standin.faults import Request
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.store import Obj, Store
from tests.kube_standin.watch import Watching

if TYPE_CHECKING:
    from tests.kube_standin.standin import KubeStandin

RETURNS_DELETED_OBJECT = frozenset({"namespaces", "pods", "services", "customresourcedefinitions"})
MAX_BODY = 3 * 1024 * 1024  # the API server's request size limit


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    standin: KubeStandin

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client going away (dropped-connection faults, closed watches) is normal.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Handler(Watching, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small writes would otherwise wait for delayed ACKs
    server: Server

    # --- plumbing ------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log records requests; nothing on stderr

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        standin = self.server.standin
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip() if raw else ""
        if path.startswith("/_standin/"):
            self._internal(method, path)
            return
        # Logged just before the answer is written, so a client that has its
        # answer always finds its request in the log.
        self._pending: Request | None = Request(method, path, url.query, content_type, 0)
        action = standin.faults.pick(method, path)
        if action.delay:
            time.sleep(action.delay)
        if action.drop:
            self._log(0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            if action.status is not None:
                headers = {"Retry-After": str(action.retry_after)} if action.retry_after else {}
                raise _fault_error(action.status, headers)
            self._authenticate()
            self._route(method, path, query, raw, content_type)
        except ApiError as exc:
            self._send(exc.code, exc.status(), exc.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # an internal error answers 500 like the API would
            self._send(
                500, ApiError(500, "InternalError", f"Internal error occurred: {exc!r}").status()
            )
        finally:
            self._log(0)

    def _log(self, status: int) -> None:
        pending = getattr(self, "_pending", None)
        if pending is not None:
            self._pending = None
            self.server.standin.requests.add(
                Request(pending.method, pending.path, pending.query, pending.content_type, status)
            )

    def _send(self, code: int, body: Any, headers: dict[str, str] | None = None) -> int:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._log(code)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Audit-Id", "standin")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return code

    def _authenticate(self) -> None:
        token = self.server.standin.knobs.token
        if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _internal(self, method: str, path: str) -> None:
        standin = self.server.standin
        if path == "/_standin/requests" and method == "GET":
            self._send(200, [r.__dict__ for r in standin.requests.all()])
        elif path == "/_standin/requests" and method == "DELETE":
            standin.requests.clear()
            self._send(200, {})
        elif path == "/_standin/reset" and method == "POST":
            standin.reset()
            self._send(200, {})
        else:
            self._send(404, errors.ApiError(404, "NotFound", "no such stand-in endpoint").status())

    # --- routing -------------------------------------------------------------

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes, content_type: str
    ) -> int:
        store = self.server.standin.store
        parts = [p for p in path.split("/") if p]
        if parts == ["version"] and method == "GET":
            return self._send(200, discovery.VERSION)
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return self._send_text("ok")
        if not parts or parts[0] not in ("api", "apis"):
            raise _no_route()
        if parts == ["api"]:
            return self._send(
                200,
                discovery.api_versions(f"{self.server.standin.host}:{self.server.standin.port}"),
            )
        if parts == ["apis"]:
            return self._send(200, discovery.api_group_list(store.registry))
        if parts[0] == "apis" and len(parts) == 2:
            group_doc = discovery.api_group(store.registry, parts[1])
            if group_doc is None:
                raise _no_route()
            return self._send(200, group_doc)
        group, version, rest = (
            ("", parts[1], parts[2:]) if parts[0] == "api" else (parts[1], parts[2], parts[3:])
        )
        if not rest:
            listing = discovery.resource_list(store.registry, group, version)
            if listing is None or method != "GET":
                raise _no_route()
            return self._send(200, listing)
        namespace, plural, name, sub = _split_resource(group, rest)
        rtype = store.registry.find(group, version, plural)
        if (
            rtype is None
            or (namespace and not rtype.namespaced)
            or sub not in ("", "status", "scale")
        ):
            raise _no_route()
        if (sub == "status" and not rtype.status) or (sub == "scale" and not rtype.scale):
            raise _no_route()
        return self._serve(store, rtype, method, namespace, name, sub, query, raw, content_type)

    def _serve(
        self,
        store: Store,
        rtype: ResourceType,
        method: str,
        namespace: str,
        name: str,
        sub: str,
        query: dict[str, list[str]],
        raw: bytes,
        content_type: str,
    ) -> int:
        q = {k: v[-1] for k, v in query.items()}
        watching = q.get("watch") in ("true", "1")
        verb = _verb(method, bool(name), watching)
        self._check_denied(rtype, verb, namespace, name)
        dry_run = _dry_run(query)
        manager = q.get("fieldManager") or self._default_manager()
        if len(manager) > 128:
            raise errors.invalid(
                rtype,
                name,
                [("FieldValueTooLong", "fieldManager", "Too long: may not be more than 128 bytes")],
            )
        if rtype.namespaced and not namespace and verb not in ("list", "watch"):
            raise errors.method_not_allowed(method, rtype.plural)
        if verb == "watch":
            return self._watch(store, rtype, namespace or None, q)
        if sub == "scale":
            return self._scale(
                store, rtype, verb, namespace, name, raw, content_type, manager, dry_run
            )
        if verb == "list":
            items, rv = store.list(
                rtype, namespace or None, q.get("labelSelector", ""), q.get("fieldSelector", "")
            )
            return self._send(200, _list_body(rtype, items, rv, q))
        if verb == "get":
            return self._send(200, store.get(rtype, namespace, name))
        if verb == "create":
            body = _parse(raw, content_type)
            return self._send(
                201, store.create(rtype, namespace, body, manager=manager, dry_run=dry_run)
            )
        if verb == "update":
            body = _parse(raw, content_type)
            return self._send(
                200,
                store.update(
                    rtype, namespace, name, body, manager=manager, subresource=sub, dry_run=dry_run
                ),
            )
        if verb == "patch":
            if content_type not in (
                patches.APPLY_PATCH,
                patches.MERGE_PATCH,
                patches.STRATEGIC_PATCH,
                patches.JSON_PATCH,
            ):
                raise errors.unsupported_media_type(content_type)
            body = _parse(
                raw,
                "application/yaml" if content_type == patches.APPLY_PATCH else "application/json",
            )
            force = q.get("force") in ("true", "1")
            if force and content_type != patches.APPLY_PATCH:
                raise errors.bad_request("force is only allowed for server-side apply")
            existed = store.find(rtype, namespace, name) is not None
            result = store.patch(
                rtype,
                namespace,
                name,
                content_type,
                body,
                manager=q.get("fieldManager")
                or ("" if content_type == patches.APPLY_PATCH else manager),
                force=force,
                subresource=sub,
                dry_run=dry_run,
            )
            return self._send(200 if existed else 201, result)
        if verb == "delete":
            options = _parse(raw, "application/json") if raw else {}
            propagation = (
                q.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            )
            preconditions = options.get("preconditions") or {}
            deleted = store.delete(
                rtype,
                namespace,
                name,
                propagation=propagation,
                precondition_uid=preconditions.get("uid"),
                precondition_rv=preconditions.get("resourceVersion"),
                dry_run=dry_run,
            )
            if rtype.plural in RETURNS_DELETED_OBJECT or deleted["metadata"].get("finalizers"):
                return self._send(200, deleted)
            details: dict[str, Any] = {
                "name": name,
                "kind": rtype.plural,
                "uid": deleted["metadata"]["uid"],
            }
            if rtype.group:
                details["group"] = rtype.group
            return self._send(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                },
            )
        if verb == "deletecollection":
            items, _ = store.list(
                rtype, namespace or None, q.get("labelSelector", ""), q.get("fieldSelector", "")
            )
            deleted_items = []
            for item in items:
                try:
                    deleted_items.append(
                        store.delete(rtype, namespace, item["metadata"]["name"], dry_run=dry_run)
                    )
                except ApiError as exc:
                    if exc.code != 404:
                        raise
            return self._send(200, _list_body(rtype, deleted_items, str(store.rv), {}))
        raise errors.method_not_allowed(method, rtype.plural)

    def _scale(
        self,
        store: Store,
        rtype: ResourceType,
        verb: str,
        namespace: str,
        name: str,
        raw: bytes,
        content_type: str,
        manager: str,
        dry_run: bool,
    ) -> int:
        """The `/scale` subresource: an autoscaling/v1 Scale view of spec.replicas."""
        current = scale_of(store.get(rtype, namespace, name))
        if verb == "get":
            return self._send(200, current)
        if verb == "update":
            wanted = _parse(raw, content_type)
        elif verb == "patch":
            body = _parse(raw, "application/json")
            if content_type == patches.JSON_PATCH:
                wanted = patches.json_patch(current, body)
            elif content_type in (patches.MERGE_PATCH, patches.STRATEGIC_PATCH):
                wanted = patches.merge_patch(current, body)
            else:
                raise errors.unsupported_media_type(content_type)
        else:
            raise errors.method_not_allowed(self.command, f"{rtype.plural}/scale")
        replicas = (wanted.get("spec") or {}).get("replicas") if isinstance(wanted, dict) else None
        if not isinstance(replicas, int) or replicas < 0:
            raise errors.invalid(
                rtype,
                name,
                [
                    (
                        "FieldValueInvalid",
                        "spec.replicas",
                        f"Invalid value: {replicas}: must be greater than or equal to 0",
                    )
                ],
            )
        merge: dict[str, Any] = {"spec": {"replicas": replicas}}
        wanted_rv = (wanted.get("metadata") or {}).get("resourceVersion")
        if wanted_rv:
            merge["metadata"] = {"resourceVersion": wanted_rv}
        updated = store.patch(
            rtype, namespace, name, patches.MERGE_PATCH, merge, manager=manager, dry_run=dry_run
        )
        return self._send(200, scale_of(updated))

    def _send_text(self, text: str) -> int:
        data = text.encode()
        self._log(200)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        return 200

    def _default_manager(self) -> str:
        agent = self.headers.get("User-Agent", "")
        return agent.split("/", 1)[0][:128] or "unknown"

    def _check_denied(self, rtype: ResourceType, verb: str, namespace: str, name: str) -> None:
        for rule in self.server.standin.knobs.deny:
            if not (
                rule.matches(verb, rtype.plural, namespace, name)
                or rule.matches(verb, rtype.group_resource, namespace, name)
            ):
                continue
            if rule.message is not None:
                message = rule.message
            else:
                target = f'{rtype.group_resource} "{name}"' if name else rtype.group_resource
                scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
                message = (
                    f'{target} is forbidden: User "{self.server.standin.knobs.user}" cannot {verb} '
                    f'resource "{rtype.plural}" in API group "{rtype.group}" {scope}'
                )
            reason = {403: "Forbidden", 400: "BadRequest", 422: "Invalid"}.get(
                rule.code, "Forbidden"
            )
            details: dict[str, Any] = {"name": name, "kind": rtype.plural}
            if rtype.group:
                details["group"] = rtype.group
            raise ApiError(rule.code, reason, message, details)


def scale_of(obj: Obj) -> Obj:
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = ",".join(f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items()))
    metadata = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: metadata[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in metadata
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": labels},
    }


def _split_resource(group: str, rest: list[str]) -> tuple[str, str, str, str]:
    """(namespace, plural, name, subresource) from the path after the group version."""
    if (
        rest[0] == "namespaces"
        and len(rest) >= 3
        and not (group == "" and len(rest) == 3 and rest[2] in ("status", "finalize"))
    ):
        padded = [*rest[3:], "", ""]
        if len(rest) > 5:
            raise _no_route()
        return rest[1], rest[2], padded[0], padded[1]
    if len(rest) > 3:
        raise _no_route()
    padded = [*rest[1:], "", ""]
    return "", rest[0], padded[0], padded[1]


def _verb(method: str, named: bool, watching: bool) -> str:
    if method == "GET":
        return "watch" if watching else ("get" if named else "list")
    table = {
        ("POST", False): "create",
        ("PUT", True): "update",
        ("PATCH", True): "patch",
        ("DELETE", True): "delete",
        ("DELETE", False): "deletecollection",
    }
    verb = table.get((method, named))
    if verb is None:
        raise errors.method_not_allowed(method, "resource")
    return verb


def _dry_run(query: dict[str, list[str]]) -> bool:
    values = query.get("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'Invalid dryRun value: "{value}": supported values: "All"')
    return bool(values)


class _JsonLikeLoader(yaml.SafeLoader):
    """SafeLoader without YAML's timestamps: `2024-01-01T00:00:00Z` stays a string, as in the API."""


_JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _parse(raw: bytes, content_type: str) -> Any:
    if len(raw) > MAX_BODY:
        raise ApiError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    if not raw:
        raise errors.bad_request("the request has no body")
    try:
        if content_type in ("application/yaml", patches.APPLY_PATCH):
            return yaml.load(raw, Loader=_JsonLikeLoader)
        if content_type not in ("application/json", ""):
            raise errors.unsupported_media_type(content_type)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"the body of the request could not be decoded: {exc}") from exc


def _list_body(rtype: ResourceType, items: list[Obj], rv: str, q: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": rv}
    limit = int(q.get("limit") or 0)
    offset = int(q.get("continue") or 0)
    if limit:
        page = items[offset : offset + limit]
        if offset + limit < len(items):
            metadata["continue"] = str(offset + limit)
            metadata["remainingItemCount"] = len(items) - offset - limit
        items = page
    if not rtype.custom:  # built-in lists omit each item's kind; custom resources keep it
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
    return {
        "kind": f"{rtype.kind}List",
        "apiVersion": rtype.api_version,
        "metadata": metadata,
        "items": items,
    }


def _no_route() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def _fault_error(status: int, headers: dict[str, str]) -> ApiError:
    reasons = {
        429: ("TooManyRequests", "Too many requests, please try again later."),
        500: ("InternalError", "Internal error occurred: injected fault"),
        502: ("InternalError", "Bad gateway"),
        503: ("ServiceUnavailable", "The server is currently unable to handle the request"),
        504: ("Timeout", "The server was unable to return a response in the time allotted"),
    }
    reason, message = reasons[status]
    details = (
        {"retryAfterSeconds": int(headers["Retry-After"])} if "Retry-After" in headers else None
    )
    return ApiError(status, reason, message, details, headers)


def write_kubeconfig(path: Path, url: str, token: str, namespace: str = "default") -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "standin", "cluster": {"server": url}}],
        "users": [{"name": "standin", "user": {"token": token}}],
        "contexts": [
            {
                "name": "standin",
                "context": {"cluster": "standin", "user": "standin", "namespace": namespace},
            }
        ],
        "current-context": "standin",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def serve(standin: KubeStandin, host: str, port: int) -> tuple[Server, threading.Thread]:
    server = Server((host, port), Handler)
    server.standin = standin
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="kube-standin",
        daemon=True,
    )
    thread.start()
    return server, thread
