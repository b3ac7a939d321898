"""Validate rendered objects against the API server's kinds and the agent's
rules. All problems of a revision are collected; any one refuses it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from shipstep.agent.config import AgentConfig
from shipstep.agent.objects import Manifest, ObjectId, images_of, split_api_version
from shipstep.errors import ShipstepError
from shipstep.oci.reference import parse_reference

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class ResourceInfo:
    """What discovery says about a kind: where to send requests for it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str = "", name: str = "") -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


Discovery = Mapping[tuple[str, str], ResourceInfo]  # (apiVersion, kind) -> info


@dataclass(frozen=True)
class Problem:
    source: str  # path:line
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class Validated:
    """A valid revision: each object with its resource info, namespaces filled in."""

    objects: list[tuple[Manifest, ResourceInfo]]


def crd_resources(manifests: list[Manifest]) -> dict[tuple[str, str], ResourceInfo]:
    """Kinds defined by CustomResourceDefinitions in the revision itself."""
    out: dict[tuple[str, str], ResourceInfo] = {}
    for m in manifests:
        if m.kind != "CustomResourceDefinition" or not m.api_version.startswith(
            "apiextensions.k8s.io/"
        ):
            continue
        spec = m.obj.get("spec") or {}
        names = spec.get("names") or {}
        group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
        if not (isinstance(group, str) and isinstance(kind, str) and isinstance(plural, str)):
            continue
        for version in spec.get("versions") or []:
            if isinstance(version, dict) and version.get("served", True) and version.get("name"):
                info = ResourceInfo(
                    group, str(version["name"]), kind, plural, spec.get("scope") != "Cluster"
                )
                out[(info.api_version, kind)] = info
    return out


def image_problem(image: str, require_digest: bool) -> str | None:
    try:
        ref = parse_reference(image)
    except ShipstepError as error:
        return f"is not a valid image reference ({error.message})"
    if require_digest and not (ref.digest and DIGEST.fullmatch(ref.digest)):
        return "is not pinned by digest (@sha256:...)"
    return None


def validate(
    manifests: list[Manifest], discovery: Discovery, config: AgentConfig
) -> tuple[Validated, list[Problem]]:
    """Fill in default namespaces and check kinds, scopes, namespaces, images.

    Mutates each manifest's object in place (namespace filled in or dropped)."""
    problems: list[Problem] = []
    known = {**crd_resources(manifests), **discovery}
    seen: dict[ObjectId, str] = {}
    objects: list[tuple[Manifest, ResourceInfo]] = []
    for m in manifests:
        info = known.get((m.api_version, m.kind))
        if info is None:
            problems.append(
                Problem(m.source, f"kind {m.kind} ({m.api_version}) is not known to the API server")
            )
            continue
        meta = m.obj.setdefault("metadata", {})
        if info.namespaced:
            meta["namespace"] = meta.get("namespace") or config.default_namespace
            if not config.namespace_allowed(meta["namespace"]):
                problems.append(
                    Problem(
                        m.source,
                        f"{m.kind} {meta['name']}: namespace {meta['namespace']!r} is not allowed",
                    )
                )
        else:
            meta.pop("namespace", None)
            group, _ = split_api_version(m.api_version)
            if not config.cluster_kind_allowed(group, m.kind):
                problems.append(Problem(m.source, f"cluster-scoped kind {m.kind} is not allowed"))
            elif (
                m.kind == "Namespace" and group == "" and not config.namespace_allowed(meta["name"])
            ):
                problems.append(Problem(m.source, f"Namespace {meta['name']!r} is not allowed"))
        oid = m.id
        if oid in seen:
            problems.append(Problem(m.source, f"{oid} is also defined at {seen[oid]}"))
            continue
        seen[oid] = m.source
        for container, image in images_of(m.obj):
            problem = image_problem(image, config.require_digests)
            if problem:
                problems.append(
                    Problem(
                        m.source, f"{oid}: image {image!r} of container {container!r} {problem}"
                    )
                )
        objects.append((m, info))
    return Validated(objects), problems
