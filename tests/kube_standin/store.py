"""Objects in memory: resourceVersion, generation, uid, managedFields,
finalizers, owner-reference garbage collection, and the event history that
watches read."""

from __future__ import annotations

import collections
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.kube_standin import apply as ssa
from tests.kube_standin import errors, kinds, patches
from tests.kube_standin.fields import clone
from tests.kube_standin.resources import Registry, ResourceType
from tests.kube_standin.selectors import parse_fields, parse_labels

Obj = dict[str, Any]
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
CONTROLLER = "kube-controller-manager"


@dataclass
class Event:
    rv: int
    rtype: ResourceType
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj
    old: Obj | None = None  # the object before a MODIFIED


@dataclass
class Store:
    """All objects, keyed by (group, plural) then (namespace, name).

    Every method is safe to call from any thread; `changed` is notified after
    each write so watches and the controller wake up.
    """

    history_limit: int = 10_000
    # Whether to establish CRDs as soon as they are written (else the controller does, later).
    establish_crds: Callable[[], bool] = lambda: True
    changed: threading.Condition = field(
        default_factory=lambda: threading.Condition(threading.RLock())
    )
    registry: Registry = field(default_factory=Registry)
    objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = field(default_factory=dict)
    events: collections.deque[Event] = field(default_factory=collections.deque)
    rv: int = 1000
    compacted_rv: int = 1000  # watches from before this get 410 Gone
    closed: bool = False

    def __post_init__(self) -> None:
        namespaces = self.registry.find("", "v1", "namespaces")
        assert namespaces is not None
        for name in DEFAULT_NAMESPACES:
            self.create(
                namespaces,
                "",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                manager="kube-apiserver",
            )

    # --- reads ---------------------------------------------------------------

    def _bucket(self, rtype: ResourceType) -> dict[tuple[str, str], Obj]:
        return self.objects.setdefault((rtype.group, rtype.plural), {})

    def _served(self, rtype: ResourceType, obj: Obj) -> Obj:
        result = clone(obj)
        if rtype.custom:
            result["apiVersion"] = rtype.api_version
        return result

    def get(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        with self.changed:
            obj = self._bucket(rtype).get((namespace, name))
            if obj is None:
                raise errors.not_found(rtype, name)
            return self._served(rtype, obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        with self.changed:
            obj = self._bucket(rtype).get((namespace, name))
            return self._served(rtype, obj) if obj is not None else None

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None,
        label_selector: str = "",
        field_selector: str = "",
    ) -> tuple[list[Obj], str]:
        labels = parse_labels(label_selector) if label_selector else []
        checks = parse_fields(field_selector, rtype) if field_selector else []
        with self.changed:
            items = [
                self._served(rtype, obj)
                for (ns, _), obj in sorted(self._bucket(rtype).items())
                if (namespace is None or ns == namespace)
                and all(r(obj.get("metadata", {}).get("labels") or {}) for r in labels)
                and all(check(obj) for check in checks)
            ]
            return items, str(self.rv)

    def view(self, rtype: ResourceType, namespace: str | None) -> Sequence[Obj]:
        """The stored objects themselves, for the controller: read-only, never copied
        (the store replaces objects on writes, it never changes them in place)."""
        with self.changed:
            return [
                obj
                for (ns, _), obj in sorted(self._bucket(rtype).items())
                if namespace is None or ns == namespace
            ]

    def namespace_exists(self, name: str) -> bool:
        with self.changed:
            return ("", name) in self.objects.get(("", "namespaces"), {})

    # --- writes --------------------------------------------------------------

    def create(
        self,
        rtype: ResourceType,
        namespace: str,
        body: Obj,
        *,
        manager: str,
        dry_run: bool = False,
        record: bool = True,
    ) -> Obj:
        """Create an object; `record=False` keeps the body's managedFields (an apply)."""
        with self.changed:
            obj = self._prepare_body(rtype, namespace, body)
            metadata = obj["metadata"]
            if not metadata.get("name") and metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
            if not metadata.get("name"):
                raise errors.invalid(
                    rtype,
                    "",
                    [
                        (
                            "FieldValueRequired",
                            "metadata.name",
                            "Required value: name or generateName is required",
                        )
                    ],
                )
            self._check_namespace(rtype, namespace, metadata["name"])
            if (namespace, metadata["name"]) in self._bucket(rtype):
                raise errors.already_exists(rtype, metadata["name"])
            for key in (
                "resourceVersion",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
            ):
                metadata.pop(key, None)
            metadata["uid"] = str(uuid.uuid4())
            metadata["creationTimestamp"] = ssa.now()
            if rtype.status and rtype.plural not in ("namespaces", "pods"):
                obj.pop("status", None)
            self._admit(rtype, obj, None)
            if rtype.generation:
                metadata["generation"] = 1
            if record:
                ssa.record_update(None, obj, rtype=rtype, manager=manager)
            if dry_run:
                return self._served(rtype, obj)
            return self._write(rtype, None, obj)

    def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        with self.changed:
            obj = self._prepare_body(rtype, namespace, body)
            if obj["metadata"].get("name", name) != name:
                raise errors.bad_request(
                    f"the name of the object ({obj['metadata'].get('name')}) does not match the name on the URL ({name})"
                )
            obj["metadata"]["name"] = name
            old = self._bucket(rtype).get((namespace, name))
            if old is None:
                raise errors.not_found(rtype, name)
            wanted = obj["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.stale(rtype, name)
            return self._update(
                rtype, old, obj, manager=manager, subresource=subresource, dry_run=dry_run
            )

    def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        patch_type: str,
        body: Any,
        *,
        manager: str,
        force: bool = False,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Obj:
        with self.changed:
            old = self._bucket(rtype).get((namespace, name))
            if patch_type == patches.APPLY_PATCH:
                return self._apply(
                    rtype, namespace, name, old, body, manager, force, subresource, dry_run
                )
            if old is None:
                raise errors.not_found(rtype, name)
            current = self._served(rtype, old)
            if patch_type == patches.MERGE_PATCH:
                new = patches.merge_patch(current, body)
            elif patch_type == patches.STRATEGIC_PATCH:
                if rtype.custom:
                    raise errors.ApiError(
                        415,
                        "UnsupportedMediaType",
                        "strategic merge patch is not supported for custom resources; use merge patch or server-side apply",
                    )
                new = patches.strategic_merge(current, body)
            elif patch_type == patches.JSON_PATCH:
                new = patches.json_patch(current, body)
            else:
                raise errors.unsupported_media_type(patch_type)
            if not isinstance(new, dict):
                raise errors.bad_request("the patch did not produce an object")
            new = self._prepare_body(rtype, namespace, new)
            if new["metadata"].get("name") != name:
                raise errors.bad_request("metadata.name cannot be changed by a patch")
            wanted = new["metadata"].get("resourceVersion")
            if wanted and wanted != old["metadata"]["resourceVersion"]:
                raise errors.stale(rtype, name)
            return self._update(
                rtype, old, new, manager=manager, subresource=subresource, dry_run=dry_run
            )

    def _apply(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        old: Obj | None,
        body: Any,
        manager: str,
        force: bool,
        subresource: str,
        dry_run: bool,
    ) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the apply configuration must be an object")
        body = clone(body)
        if not body.get("apiVersion") or not body.get("kind"):
            raise errors.bad_request("the apply configuration must set apiVersion and kind")
        metadata = body.setdefault("metadata", {})
        if metadata.get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")
        if metadata.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})"
            )
        metadata["name"] = name
        self._check_kind(rtype, body)
        if rtype.namespaced:
            if metadata.get("namespace", namespace) != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
        if old is None:
            if subresource:
                raise errors.not_found(rtype, name)
            new = ssa.apply(None, body, rtype=rtype, manager=manager, force=force)
            return self.create(
                rtype, namespace, new, manager=manager, dry_run=dry_run, record=False
            )
        current = self._served(rtype, old)
        new = ssa.apply(
            current, body, rtype=rtype, manager=manager, force=force, subresource=subresource
        )
        return self._update(rtype, old, new, manager=None, subresource=subresource, dry_run=dry_run)

    def _update(
        self,
        rtype: ResourceType,
        old: Obj,
        obj: Obj,
        *,
        manager: str | None,
        subresource: str,
        dry_run: bool,
    ) -> Obj:
        metadata = obj["metadata"]
        for key in (
            "uid",
            "creationTimestamp",
            "namespace",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            if key in old["metadata"]:
                metadata[key] = old["metadata"][key]
            else:
                metadata.pop(key, None)
        metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
        if "generation" in old["metadata"]:
            metadata["generation"] = old["metadata"]["generation"]
        if subresource == "status":
            obj = {**clone(old), "status": obj.get("status", {})}
            obj["metadata"]["managedFields"] = metadata.get("managedFields", [])
        elif rtype.status:
            obj.pop("status", None)
            if "status" in old:
                obj["status"] = clone(old["status"])
        if subresource != "status":
            self._admit(rtype, obj, old)
        if rtype.generation and _spec_of(obj) != _spec_of(old):
            metadata["generation"] = old["metadata"].get("generation", 0) + 1
        if manager is not None:
            ssa.record_update(old, obj, rtype=rtype, manager=manager, subresource=subresource)
        if not obj["metadata"].get("managedFields"):
            obj["metadata"].pop("managedFields", None)
        if _without_times(obj) == _without_times(old):
            return self._served(rtype, old)  # a no-op write keeps the resourceVersion
        if dry_run:
            return self._served(rtype, obj)
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            self._remove(rtype, obj)
            return self._served(rtype, obj)
        return self._write(rtype, old, obj)

    def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
        precondition_uid: str | None = None,
        precondition_rv: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Returns the object as deleted (or marked for deletion when it has finalizers)."""
        with self.changed:
            old = self._bucket(rtype).get((namespace, name))
            if old is None:
                raise errors.not_found(rtype, name)
            if precondition_uid and precondition_uid != old["metadata"]["uid"]:
                raise errors.conflict(
                    rtype,
                    name,
                    f"Precondition failed: UID in precondition: {precondition_uid}, UID in object meta: {old['metadata']['uid']}",
                )
            if precondition_rv and precondition_rv != old["metadata"]["resourceVersion"]:
                raise errors.conflict(
                    rtype,
                    name,
                    f"Precondition failed: ResourceVersion in precondition: {precondition_rv}, ResourceVersion in object meta: {old['metadata']['resourceVersion']}",
                )
            if dry_run:
                return self._served(rtype, old)
            if old["metadata"].get("finalizers"):
                if old["metadata"].get("deletionTimestamp"):
                    return self._served(rtype, old)
                obj = clone(old)
                obj["metadata"]["deletionTimestamp"] = ssa.now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                return self._write(rtype, old, obj)
            obj = clone(old)
            if rtype.plural == "namespaces":
                obj["metadata"]["deletionTimestamp"] = ssa.now()
                obj.setdefault("status", {})["phase"] = "Terminating"
            self._remove(rtype, obj, propagation=propagation)
            return self._served(rtype, obj)

    # --- internals -----------------------------------------------------------

    def _prepare_body(self, rtype: ResourceType, namespace: str, body: Any) -> Obj:
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request must be an object")
        obj = clone(body)
        self._check_kind(rtype, obj)
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        metadata = obj.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise errors.bad_request("metadata must be an object")
        _check_string_maps(rtype, obj)
        if rtype.namespaced:
            if metadata.get("namespace", namespace) != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            metadata["namespace"] = namespace
        else:
            metadata.pop("namespace", None)
        return obj

    def _check_kind(self, rtype: ResourceType, obj: Obj) -> None:
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind and kind != rtype.kind:
            raise errors.bad_request(
                f"the kind of the object ({kind}) does not match the kind of the URL ({rtype.kind})"
            )
        if api_version and api_version != rtype.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({rtype.api_version})"
            )

    def _check_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        if not rtype.namespaced:
            return
        ns = self.objects.get(("", "namespaces"), {}).get(("", namespace))
        if ns is None:
            raise errors.namespace_not_found(namespace)
        if ns.get("metadata", {}).get("deletionTimestamp"):
            raise errors.forbidden(
                f'{rtype.group_resource} "{name}" is forbidden: unable to create new content in namespace {namespace} because it is being terminated'
            )

    def _admit(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> None:
        namespace = obj["metadata"].get("namespace", "")
        kinds.default(rtype, obj, kinds.cluster_ip_for(namespace, obj["metadata"].get("name", "")))
        if old is not None and rtype.plural == "services":
            for key in ("clusterIP", "clusterIPs"):
                if key in (old.get("spec") or {}) and key not in obj.get("spec", {}):
                    obj["spec"][key] = old["spec"][key]
        kinds.validate(rtype, obj, old)
        if rtype.plural == "namespaces":
            obj.setdefault("status", {}).setdefault("phase", "Active")
        if rtype.plural == "pods":
            obj.setdefault("status", {}).setdefault("phase", "Pending")
        if rtype.plural == "customresourcedefinitions" and self.establish_crds():
            establish_crd(obj)

    def _write(self, rtype: ResourceType, old: Obj | None, obj: Obj) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self._bucket(rtype)[key] = obj
        self._record(rtype, "ADDED" if old is None else "MODIFIED", obj, old)
        if rtype.plural == "customresourcedefinitions":
            self._sync_crd(obj)
        return self._served(rtype, obj)

    def _remove(self, rtype: ResourceType, obj: Obj, propagation: str = "Background") -> None:
        key = (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        self._bucket(rtype).pop(key, None)
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._record(rtype, "DELETED", obj)
        if rtype.plural == "namespaces":
            for other in self.registry.all():
                if other.namespaced:
                    for (ns, _name), child in list(self._bucket(other).items()):
                        if ns == key[1]:
                            self._force_remove(other, child)
        if rtype.plural == "customresourcedefinitions":
            for served in self.registry.drop_crd(obj["metadata"]["name"])[:1]:
                for child in list(self._bucket(served).values()):
                    self._force_remove(served, child)
        self._collect_dependents(obj["metadata"]["uid"], propagation)

    def _force_remove(self, rtype: ResourceType, obj: Obj) -> None:
        obj = clone(obj)
        obj["metadata"].pop("finalizers", None)
        self._remove(rtype, obj)

    def _collect_dependents(self, uid: str, propagation: str) -> None:
        """The garbage collector: a dependent goes with its last living owner;
        otherwise (or with Orphan) it only loses the reference."""
        alive: set[str] | None = None
        for rtype in self.registry.all():
            for child in list(self._bucket(rtype).values()):
                refs = child["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                remaining = [r for r in refs if r.get("uid") != uid]
                if alive is None:
                    alive = {
                        o["metadata"]["uid"] for b in self.objects.values() for o in b.values()
                    }
                if propagation != "Orphan" and not any(r.get("uid") in alive for r in remaining):
                    if not child["metadata"].get("finalizers"):
                        self._remove(rtype, clone(child))
                    elif not child["metadata"].get("deletionTimestamp"):
                        marked = clone(child)
                        marked["metadata"]["deletionTimestamp"] = ssa.now()
                        self._write(rtype, child, marked)
                    continue
                new = clone(child)
                new["metadata"]["ownerReferences"] = remaining
                if not remaining:
                    del new["metadata"]["ownerReferences"]
                self._write(rtype, child, new)

    def _record(self, rtype: ResourceType, kind: str, obj: Obj, old: Obj | None = None) -> None:
        self.events.append(Event(self.rv, rtype, kind, clone(obj), clone(old)))
        while len(self.events) > self.history_limit:
            self.compacted_rv = self.events.popleft().rv
        self.changed.notify_all()

    def _sync_crd(self, crd: Obj) -> None:
        conditions = {
            c.get("type"): c.get("status") for c in crd.get("status", {}).get("conditions", [])
        }
        if conditions.get("Established") == "True":
            self.registry.set_crd(crd)

    # --- for watches and the controller ----------------------------------------

    def events_after(self, rv: int, accept: Callable[[Event], bool]) -> tuple[Sequence[Event], int]:
        """Accepted events newer than `rv`, and the resourceVersion they run up to."""
        with self.changed:
            if rv < self.compacted_rv:
                raise errors.gone(f"too old resource version: {rv} ({self.compacted_rv})")
            newer: list[Event] = []
            for event in reversed(self.events):
                if event.rv <= rv:
                    break
                newer.append(event)
            return [e for e in reversed(newer) if accept(e)], max(rv, self.rv)

    def compact(self) -> None:
        """Forget the event history: watches from an older resourceVersion get 410 Gone."""
        with self.changed:
            self.events.clear()
            self.compacted_rv = self.rv

    def close(self) -> None:
        with self.changed:
            self.closed = True
            self.changed.notify_all()

    def write_status(
        self, rtype: ResourceType, obj: Obj, status: dict[str, Any], manager: str = CONTROLLER
    ) -> None:
        """A controller's (or the kubelet's) status update; nothing when unchanged."""
        with self.changed:
            current = self._bucket(rtype).get(
                (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            )
            if current is None or current.get("status") == status:
                return
            new = clone(current)
            new["status"] = status
            self._update(rtype, current, new, manager=manager, subresource="status", dry_run=False)


def establish_crd(crd: Obj) -> None:
    """Mark a CRD NamesAccepted and Established (kept as they are once set)."""
    spec = crd.get("spec", {})
    status = crd.setdefault("status", {})
    stamp = ssa.now()
    conditions = status.setdefault("conditions", [])
    present = {c.get("type") for c in conditions}
    for kind, reason, message in (
        ("NamesAccepted", "NoConflicts", "no conflicts found"),
        ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
    ):
        if kind not in present:
            conditions.append(
                {
                    "type": kind,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": stamp,
                }
            )
    status["acceptedNames"] = dict(spec.get("names", {}))
    stored = status.setdefault("storedVersions", [])
    for version in spec.get("versions", []):
        if version.get("storage") and version.get("name") not in stored:
            stored.append(version["name"])


_STRING_MAPS = {"configmaps": ("data", "binaryData"), "secrets": ("data", "stringData")}


def _check_string_maps(rtype: ResourceType, obj: Obj) -> None:
    """Maps of strings in the Go types: anything else fails to decode (400)."""
    places = [(obj["metadata"], key, f"ObjectMeta.{key}") for key in ("labels", "annotations")]
    places += [(obj, key, f"{rtype.kind}.{key}") for key in _STRING_MAPS.get(rtype.plural, ())]
    for parent, key, where in places:
        value = parent.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise errors.bad_request(
                f"json: cannot unmarshal into Go struct field {where} of type map[string]string"
            )


def _spec_of(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _without_times(obj: Obj) -> Obj:
    result = clone(obj)
    for entry in result.get("metadata", {}).get("managedFields") or []:
        entry.pop("time", None)
    return result
