"""Per-kind defaulting and validation: the subset of the API server's
strategies that changes what clients see (defaults a dry-run apply shows,
422 errors for objects a real server refuses, immutable fields)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from tests.kube_standin.errors import invalid
from tests.kube_standin.resources import ResourceType
from tests.kube_standin.selectors import match_selector

Cause = tuple[str, str, str]  # (reason, field, message)

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_NAMES = frozenset({"namespaces", "services"})  # DNS-1123 labels, not subdomains
_WORKLOADS = frozenset({"deployments", "replicasets", "statefulsets", "daemonsets"})


# --- defaulting ---------------------------------------------------------------


def default(rtype: ResourceType, obj: dict[str, Any], cluster_ip: str) -> None:
    spec = obj.setdefault("spec", {}) if rtype.plural in _SPEC_KINDS else obj.get("spec")
    if rtype.plural == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"][
            "name"
        ]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    elif rtype.plural == "secrets":
        obj.setdefault("type", "Opaque")
        string_data = obj.pop("stringData", None) or {}
        data = obj.setdefault("data", {})
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        if not data:
            del obj["data"]
    elif rtype.plural == "services" and isinstance(spec, dict):
        _default_service(spec, cluster_ip)
    elif rtype.plural == "pods" and isinstance(spec, dict):
        _default_pod_spec(spec)
    elif rtype.plural in _WORKLOADS and isinstance(spec, dict):
        _default_workload(rtype.plural, spec)
    elif rtype.plural == "jobs" and isinstance(spec, dict):
        _default_job(obj, spec)
    elif rtype.plural == "cronjobs" and isinstance(spec, dict):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = spec.get("jobTemplate", {}).get("spec")
        if isinstance(job_spec, dict):
            _default_job_spec(job_spec)


_SPEC_KINDS = frozenset(
    {
        "services",
        "pods",
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
    }
)


def _default_service(spec: dict[str, Any], cluster_ip: str) -> None:
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("clusterIP", cluster_ip)
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])


def _default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        tagless = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
        latest = tagless or (image.endswith(":latest") and "@" not in image)
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        container.setdefault("resources", {})
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _template_spec(spec: dict[str, Any]) -> dict[str, Any] | None:
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        return template["spec"]  # type: ignore[no-any-return]
    return None


def _default_workload(plural: str, spec: dict[str, Any]) -> None:
    if plural != "daemonsets":
        spec.setdefault("replicas", 1)
    if plural in ("deployments", "statefulsets", "daemonsets"):
        spec.setdefault("revisionHistoryLimit", 10)
    if plural == "deployments":
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
    elif plural == "statefulsets":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        retention.setdefault("whenDeleted", "Retain")
        retention.setdefault("whenScaled", "Retain")
    elif plural == "daemonsets":
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
    pod_spec = _template_spec(spec)
    if pod_spec is not None:
        _default_pod_spec(pod_spec)


def _default_job_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    pod_spec = _template_spec(spec)
    if pod_spec is not None:
        _default_pod_spec(pod_spec)


def _default_job(obj: dict[str, Any], spec: dict[str, Any]) -> None:
    _default_job_spec(spec)
    uid = obj["metadata"].get("uid", "")
    if not spec.get("manualSelector") and uid and "selector" not in spec:
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
        labels["batch.kubernetes.io/controller-uid"] = uid
        labels["batch.kubernetes.io/job-name"] = obj["metadata"]["name"]
        labels["controller-uid"] = uid
        labels["job-name"] = obj["metadata"]["name"]


def cluster_ip_for(namespace: str, name: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 1)}"


# --- validation ---------------------------------------------------------------


def validate(rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Raise 422 Invalid with the causes a real server would list."""
    name = obj["metadata"].get("name", "")
    causes: list[Cause] = []
    _validate_metadata(rtype, obj["metadata"], causes)
    spec = obj.get("spec")
    if rtype.plural in _WORKLOADS:
        _validate_workload(spec if isinstance(spec, dict) else {}, causes)
    elif rtype.plural == "pods":
        _validate_pod_spec(spec if isinstance(spec, dict) else {}, "spec", causes)
    elif rtype.plural == "jobs":
        _validate_job(spec if isinstance(spec, dict) else {}, causes)
    elif rtype.plural == "customresourcedefinitions":
        _validate_crd(obj, causes)
    if old is not None:
        _validate_immutable(rtype, obj, old, causes)
    if causes:
        raise invalid(rtype, name, causes)


def _validate_metadata(rtype: ResourceType, metadata: dict[str, Any], causes: list[Cause]) -> None:
    name = metadata.get("name", "")
    pattern = _DNS_LABEL if rtype.plural in _LABEL_NAMES else _SUBDOMAIN
    limit = 63 if rtype.plural in _LABEL_NAMES else 253
    if not rtype.custom and name and (not pattern.match(name) or len(name) > limit):
        kind = "RFC 1123 label" if rtype.plural in _LABEL_NAMES else "RFC 1123 subdomain"
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{name}": a lowercase {kind} must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            )
        )
    for key, value in (metadata.get("labels") or {}).items():
        if not isinstance(value, str) or len(value) > 63 or not _LABEL_VALUE.match(value):
            causes.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{value}": a valid label must be an empty string or consist of '
                    "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                    "alphanumeric character",
                )
            )
        if not _QUALIFIED.match(key.rsplit("/", 1)[-1]) or len(key.rsplit("/", 1)[-1]) > 63:
            causes.append(
                (
                    "FieldValueInvalid",
                    "metadata.labels",
                    f'Invalid value: "{key}": name part must consist of alphanumeric characters, '
                    "'-', '_' or '.', and must start and end with an alphanumeric character",
                )
            )


def _validate_workload(spec: dict[str, Any], causes: list[Cause]) -> None:
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    template: dict[str, Any] = spec["template"] if isinstance(spec.get("template"), dict) else {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(selector, dict) and selector and not match_selector(selector, labels):
        causes.append(
            (
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                f"Invalid value: {labels}: `selector` does not match template `labels`",
            )
        )
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or replicas < 0:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    _validate_pod_spec(template.get("spec") or {}, "spec.template.spec", causes)


def _validate_job(spec: dict[str, Any], causes: list[Cause]) -> None:
    template: dict[str, Any] = spec["template"] if isinstance(spec.get("template"), dict) else {}
    pod_spec = template.get("spec") or {}
    _validate_pod_spec(pod_spec, "spec.template.spec", causes)
    if pod_spec.get("restartPolicy") not in ("OnFailure", "Never"):
        causes.append(
            (
                "FieldValueNotSupported",
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{pod_spec.get("restartPolicy")}": supported values: "OnFailure", "Never"',
            )
        )


def _validate_pod_spec(spec: dict[str, Any], where: str, causes: list[Cause]) -> None:
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        causes.append(("FieldValueRequired", f"{where}.containers", "Required value"))
        return
    seen: set[str] = set()
    for index, container in enumerate(containers):
        container = container if isinstance(container, dict) else {}
        name = container.get("name")
        if not name:
            causes.append(
                ("FieldValueRequired", f"{where}.containers[{index}].name", "Required value")
            )
        elif name in seen:
            causes.append(
                (
                    "FieldValueDuplicate",
                    f"{where}.containers[{index}].name",
                    f'Duplicate value: "{name}"',
                )
            )
        seen.add(str(name))
        if not container.get("image"):
            causes.append(
                ("FieldValueRequired", f"{where}.containers[{index}].image", "Required value")
            )


def _validate_crd(obj: dict[str, Any], causes: list[Cause]) -> None:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    for field, value in (
        ("spec.group", spec.get("group")),
        ("spec.names.plural", names.get("plural")),
        ("spec.names.kind", names.get("kind")),
        ("spec.scope", spec.get("scope")),
        ("spec.versions", spec.get("versions")),
    ):
        if not value:
            causes.append(("FieldValueRequired", field, "Required value"))
    if spec.get("scope") and spec["scope"] not in ("Namespaced", "Cluster"):
        causes.append(
            (
                "FieldValueNotSupported",
                "spec.scope",
                f'Unsupported value: "{spec["scope"]}": supported values: "Cluster", "Namespaced"',
            )
        )
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if obj["metadata"].get("name") != expected:
        causes.append(
            (
                "FieldValueInvalid",
                "metadata.name",
                f'Invalid value: "{obj["metadata"].get("name")}": must be spec.names.plural+"."+spec.group',
            )
        )
    versions = spec.get("versions") or []
    if versions and sum(1 for v in versions if v.get("storage")) != 1:
        causes.append(
            (
                "FieldValueInvalid",
                "spec.versions",
                "Invalid value: must have exactly one version marked as storage version",
            )
        )


_IMMUTABLE: dict[str, tuple[str, ...]] = {
    "deployments": ("selector",),
    "replicasets": ("selector",),
    "statefulsets": ("selector",),
    "daemonsets": ("selector",),
    "jobs": ("selector", "template", "completions"),
    "customresourcedefinitions": ("group", "scope"),
}


def _validate_immutable(
    rtype: ResourceType, obj: dict[str, Any], old: dict[str, Any], causes: list[Cause]
) -> None:
    new_spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
    for field in _IMMUTABLE.get(rtype.plural, ()):
        if new_spec.get(field) != old_spec.get(field):
            causes.append(
                (
                    "FieldValueInvalid",
                    f"spec.{field}",
                    f"Invalid value: {new_spec.get(field)}: field is immutable",
                )
            )
    if (
        rtype.plural == "secrets"
        and old.get("immutable")
        and (obj.get("data") != old.get("data") or obj.get("immutable") is not True)
    ):
        causes.append(
            ("FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set")
        )
    if (
        rtype.plural == "configmaps"
        and old.get("immutable")
        and (obj.get("data") != old.get("data") or obj.get("immutable") is not True)
    ):
        causes.append(
            ("FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set")
        )
