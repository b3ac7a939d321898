"""The resource types the stand-in serves: built-in kinds and those added by CRDs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    # The API sets metadata.generation and bumps it when anything outside
    # metadata and status changes (workloads, CRDs, custom resources).
    generation: bool = False
    # A status subresource: main-resource writes keep the stored status and
    # `/status` writes change nothing else.
    status: bool = False
    scale: bool = False  # a `/scale` subresource (autoscaling/v1 Scale)
    verbs: tuple[str, ...] = ALL_VERBS
    custom: bool = False  # served for a CustomResourceDefinition

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """`deployments.apps`, `configmaps`: how the API names it in messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.custom:
            entry["categories"] = ["all"]
        entries = [entry]
        if self.status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": list(SUB_VERBS),
                }
            )
        if self.scale:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": list(SUB_VERBS),
                }
            )
        return entries


def _t(
    group: str, version: str, plural: str, kind: str, namespaced: bool, **kw: Any
) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, **kw)


BUILTIN: tuple[ResourceType, ...] = (
    _t("", "v1", "namespaces", "Namespace", False, short_names=("ns",), status=True),
    _t("", "v1", "configmaps", "ConfigMap", True, short_names=("cm",)),
    _t("", "v1", "secrets", "Secret", True),
    _t("", "v1", "services", "Service", True, short_names=("svc",), status=True),
    _t("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=("sa",)),
    _t("", "v1", "pods", "Pod", True, short_names=("po",), status=True),
    _t("", "v1", "events", "Event", True, short_names=("ev",)),
    _t(
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        True,
        short_names=("pvc",),
        status=True,
    ),
    _t(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        True,
        short_names=("deploy",),
        generation=True,
        status=True,
        scale=True,
    ),
    _t(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        True,
        short_names=("rs",),
        generation=True,
        status=True,
        scale=True,
    ),
    _t(
        "apps",
        "v1",
        "statefulsets",
        "StatefulSet",
        True,
        short_names=("sts",),
        generation=True,
        status=True,
        scale=True,
    ),
    _t(
        "apps",
        "v1",
        "daemonsets",
        "DaemonSet",
        True,
        short_names=("ds",),
        generation=True,
        status=True,
    ),
    _t("batch", "v1", "jobs", "Job", True, generation=True, status=True),
    _t(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        True,
        short_names=("cj",),
        generation=True,
        status=True,
    ),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _t(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        short_names=("crd", "crds"),
        generation=True,
        status=True,
    ),
    _t("coordination.k8s.io", "v1", "leases", "Lease", True),
    _t("events.k8s.io", "v1", "events", "Event", True, short_names=("ev",)),
    _t(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        True,
        short_names=("ing",),
        generation=True,
        status=True,
    ),
    _t(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        True,
        short_names=("netpol",),
        generation=True,
    ),
    _t(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        True,
        short_names=("pdb",),
        generation=True,
        status=True,
    ),
    _t(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        True,
        short_names=("hpa",),
        status=True,
    ),
)


@dataclass
class Registry:
    """The served types: the built-ins plus the established CRDs' versions."""

    custom: dict[str, list[ResourceType]] = field(default_factory=dict)  # CRD name -> types

    def all(self) -> list[ResourceType]:
        return [*BUILTIN, *(t for types in self.custom.values() for t in types)]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rtype in self.all():
            if (rtype.group, rtype.version, rtype.plural) == (group, version, plural):
                return rtype
        return None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        for rtype in self.all():
            if (rtype.api_version, rtype.kind) == (api_version, kind):
                return rtype
        return None

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions (preferred first), core group excluded."""
        result: dict[str, list[str]] = {}
        for rtype in self.all():
            if rtype.group and rtype.version not in result.setdefault(rtype.group, []):
                result[rtype.group].append(rtype.version)
        return result

    def set_crd(self, crd: dict[str, Any]) -> None:
        """Serve the versions of an established CRD (replacing what it served before)."""
        spec = crd.get("spec", {})
        names = spec.get("names", {})
        types = [
            ResourceType(
                group=spec.get("group", ""),
                version=version["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope") == "Namespaced",
                short_names=tuple(names.get("shortNames", ())),
                generation=True,
                status="status" in (version.get("subresources") or {}),
                custom=True,
            )
            for version in _storage_first(spec.get("versions", []))
            if version.get("served", True)
        ]
        self.custom[crd["metadata"]["name"]] = types

    def drop_crd(self, name: str) -> list[ResourceType]:
        return self.custom.pop(name, [])


def _storage_first(versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(versions, key=lambda v: not v.get("storage", False))
