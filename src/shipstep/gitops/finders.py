"""Where a config file refers to the bumped image.

Per document: container images in Kubernetes pod templates (any object with
`apiVersion` and `kind`: Deployments, StatefulSets, DaemonSets, Jobs,
CronJobs, Pods and the like, in `containers`, `initContainers` and
`ephemeralContainers`); kustomize `images:` entries; Helm-style values
(`image.repository` with `image.tag`/`image.digest`, key paths
configurable, and `image: REFERENCE` strings); ECS task definitions
(`containerDefinitions[].image`); any scalar followed by a marker comment
(Flux's `# {"$imagepolicy": "NS:POLICY[:tag|:name|:digest]"}` or shipstep's
`# {"$shipstep": "REPOSITORY[:PART]"}`); and explicit JSON-pointer targets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import jsonpointer
import yaml

from shipstep.errors import InputError, ShipstepError
from shipstep.gitops.images import PARTS, ImageSpec, Part
from shipstep.gitops.paths import check_relative
from shipstep.gitops.yamldoc import (
    Edit,
    SourceFile,
    make_edit,
    mapping_get,
    scalar_text,
    shared_nodes,
)

CONTAINER_KEYS = frozenset({"containers", "initContainers", "ephemeralContainers"})
KUSTOMIZATION_NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
_MARKER = re.compile(r'#\s*(\{\s*"\$(?:imagepolicy|shipstep)"\s*:\s*"[^"]*"\s*\})\s*$')

PathItem = str | int


@dataclass(frozen=True)
class ValuesKeys:
    """Dotted key paths of a Helm-style values block, relative to any mapping."""

    repository: str = "image.repository"
    tag: str = "image.tag"
    digest: str = "image.digest"
    registry: str = "image.registry"


@dataclass(frozen=True)
class Target:
    """An explicit target: `[PART=]FILE#/json/pointer`."""

    path: str
    pointer: str
    part: Part = "reference"

    @classmethod
    def parse(cls, text: str) -> Target:
        part: str = "reference"
        rest = text.strip()
        head, eq, tail = rest.partition("=")
        if eq and head in PARTS:
            part, rest = head, tail
        file, hash_, pointer = rest.partition("#")
        if not hash_ or not file:
            raise InputError(
                f"--target {text!r} is not FILE#/json/pointer.",
                hint="Example: --target 'apps/values.yaml#/app/image' or 'tag=apps/values.yaml#/app/tag'.",
            )
        try:
            jsonpointer.JsonPointer(pointer)
        except jsonpointer.JsonPointerException as error:
            raise InputError(
                f"--target {text!r}: {pointer!r} is not a JSON pointer ({error}).",
                hint="Write an RFC 6901 pointer starting with '/', escaping '~' as ~0 and '/' as ~1.",
            ) from None
        return cls(check_relative(file, "--target"), pointer, part)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SearchOptions:
    values_keys: ValuesKeys = ValuesKeys()
    flux_policies: frozenset[str] = frozenset()
    targets: tuple[Target, ...] = ()


@dataclass
class Found:
    """One reference to the bumped image; `edits` is empty when it already
    holds the new value."""

    path: str
    line: int
    kind: str
    old: str
    new: str
    repository: str
    edits: list[Edit] = field(default_factory=list)


def _walk(
    root: yaml.Node, shared: set[int]
) -> Iterator[tuple[tuple[PathItem, ...], yaml.Node, bool]]:
    """Every node with the last three steps of its path (all the finders
    look at) and whether an alias reaches it."""
    stack: list[tuple[tuple[PathItem, ...], yaml.Node, bool]] = [((), root, False)]
    visited: set[int] = set()
    while stack:
        path, node, aliased = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        aliased = aliased or id(node) in shared
        yield path, node, aliased
        if isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                if isinstance(key, yaml.ScalarNode):
                    stack.append(((*path[-2:], str(key.value)), value, aliased))
        elif isinstance(node, yaml.SequenceNode):
            for index in range(len(node.value) - 1, -1, -1):
                stack.append(((*path[-2:], index), node.value[index], aliased))


class FileSearch:
    def __init__(self, source: SourceFile, spec: ImageSpec, options: SearchOptions) -> None:
        self.source = source
        self.spec = spec
        self.options = options
        self.found: list[Found] = []
        self._claimed: set[int] = set()
        self._markers = self._marker_lines()

    def run(self) -> list[Found]:
        name = PurePosixPath(self.source.path).name
        targets = [t for t in self.options.targets if t.path == self.source.path]
        for doc in self.source.documents():
            # Aliases are written `*name`: without a `*` there are none.
            shared = shared_nodes(doc) if "*" in self.source.text else set()
            nodes = list(_walk(doc, shared))
            is_object = scalar_text(mapping_get(doc, "apiVersion")) is not None and (
                scalar_text(mapping_get(doc, "kind")) is not None
            )
            kind = scalar_text(mapping_get(doc, "kind"))
            for target in targets:
                self._pointer(doc, target, shared)
            if self._markers:
                self._marked(nodes)
            if name in KUSTOMIZATION_NAMES or kind == "Kustomization":
                self._kustomize(doc, nodes)
            elif name.endswith(".json") and self._ecs(doc, nodes):
                pass
            elif is_object:
                self._containers(nodes)
            else:
                self._values(nodes)
        for target in targets:
            if not any(f.kind == f"pointer {target.pointer}" for f in self.found):
                raise ShipstepError(
                    f"--target {target.path}#{target.pointer}: the pointer does not resolve to a value in {target.path}.",
                    hint="Check the pointer against the file (RFC 6901: /key/0/key).",
                    file=target.path,
                )
        return self.found

    # --- helpers ----------------------------------------------------------

    def _refuse_alias(self, node: yaml.Node) -> ShipstepError:
        line = node.start_mark.line + 1
        return ShipstepError(
            f"{self.source.path}:{line}: the image reference is defined through a YAML anchor/alias; "
            "editing it would change every place the alias is used.",
            hint="Write the image reference without anchors (&name) and aliases (*name, <<: *name) in this file.",
            file=self.source.path,
            line=line,
            title="Image behind a YAML alias",
        )

    def _add(
        self,
        kind: str,
        at: yaml.Node,
        old: str,
        repository: str,
        changes: Sequence[tuple[yaml.Node, str | None]],
        aliased: bool,
    ) -> None:
        if aliased:
            raise self._refuse_alias(at)
        edits: list[Edit] = []
        for node, new in changes:
            if new is None or not isinstance(node, yaml.ScalarNode):
                continue
            if id(node) in self._claimed:
                return
            if str(node.value) != new:
                edits.append(make_edit(self.source, node, new))
        for node, _ in changes:
            self._claimed.add(id(node))
        self.found.append(
            Found(
                self.source.path,
                at.start_mark.line + 1,
                kind,
                old,
                self.spec.display(),
                repository,
                edits,
            )
        )

    def _reference(self, kind: str, node: yaml.Node, aliased: bool) -> None:
        value = scalar_text(node)
        if value is None or id(node) in self._claimed:
            return
        ref = self.spec.match(value.strip())
        if ref is not None:
            self._add(
                kind, node, value, ref.name, [(node, self.spec.reference_value(value))], aliased
            )

    def _part(self, kind: str, node: yaml.Node, part: Part, aliased: bool) -> None:
        if not isinstance(node, yaml.ScalarNode) or id(node) in self._claimed:
            return
        if part == "reference":
            self._reference(kind, node, aliased)
            return
        new = self.spec.new
        value: str | None = {
            "tag": new.tag,
            "digest": new.digest,
            "tag-digest": f"{new.tag}@{new.digest}" if new.tag and new.digest else None,
            "name": None,
        }[part]
        self._add(kind, node, str(node.value), self.spec.repository.name, [(node, value)], aliased)

    # --- kinds of references ----------------------------------------------

    def _containers(self, nodes: list[tuple[tuple[PathItem, ...], yaml.Node, bool]]) -> None:
        for path, node, aliased in nodes:
            if (
                len(path) >= 3
                and path[-1] == "image"
                and isinstance(path[-2], int)
                and path[-3] in CONTAINER_KEYS
            ):
                self._reference("container", node, aliased)

    def _kustomize(
        self, doc: yaml.Node, nodes: list[tuple[tuple[PathItem, ...], yaml.Node, bool]]
    ) -> None:
        images = mapping_get(doc, "images")
        if not isinstance(images, yaml.SequenceNode):
            return
        aliased_ids = {id(n) for _, n, a in nodes if a}
        for entry in images.value:
            name = scalar_text(mapping_get(entry, "name"))
            new_name = scalar_text(mapping_get(entry, "newName"))
            effective = new_name or name
            if not effective:
                continue
            ref = self.spec.match(effective)
            if ref is None:
                continue
            tag_node = mapping_get(entry, "newTag")
            digest_node = mapping_get(entry, "digest")
            old = effective
            if isinstance(tag_node, yaml.ScalarNode):
                old += f":{tag_node.value}"
            if isinstance(digest_node, yaml.ScalarNode):
                old += f"@{digest_node.value}"
            changes = self._tag_digest_changes(
                entry, tag_node, digest_node, "kustomize images entry", "newTag: or digest:"
            )
            aliased = any(
                id(n) in aliased_ids for n in (entry, tag_node, digest_node) if n is not None
            )
            self._add("kustomize", entry, old, ref.name, changes, aliased)

    def _tag_digest_changes(
        self,
        at: yaml.Node,
        tag_node: yaml.Node | None,
        digest_node: yaml.Node | None,
        what: str,
        fields: str,
    ) -> list[tuple[yaml.Node, str | None]]:
        changes: list[tuple[yaml.Node, str | None]] = []
        if tag_node is not None:
            changes.append((tag_node, self.spec.tag_value(digest_node is not None)))
        if digest_node is not None:
            changes.append((digest_node, self.spec.digest_value()))
        if not any(value is not None for _, value in changes):
            line = at.start_mark.line + 1
            raise ShipstepError(
                f"{self.source.path}:{line}: the {what} names the image but has no field for the {self.spec.format} format to change.",
                hint=f"Add {fields} to it (shipstep edits values, it does not insert keys), or choose another --format.",
                file=self.source.path,
                line=line,
            )
        return changes

    def _ecs(
        self, doc: yaml.Node, nodes: list[tuple[tuple[PathItem, ...], yaml.Node, bool]]
    ) -> bool:
        definition = mapping_get(doc, "taskDefinition") or doc
        containers = mapping_get(definition, "containerDefinitions")
        if not isinstance(containers, yaml.SequenceNode):
            return False
        aliased_ids = {id(n) for _, n, a in nodes if a}
        for item in containers.value:
            image = mapping_get(item, "image")
            if image is not None:
                self._reference("ecs", image, id(image) in aliased_ids)
        return True

    def _values(self, nodes: list[tuple[tuple[PathItem, ...], yaml.Node, bool]]) -> None:
        keys = self.options.values_keys
        for path, node, aliased in nodes:
            if isinstance(node, yaml.MappingNode):
                repo_node = _dotted(node, keys.repository)
                repo = scalar_text(repo_node)
                if repo is None or repo_node is None:
                    continue
                registry = scalar_text(_dotted(node, keys.registry)) if keys.registry else None
                full = f"{registry}/{repo}" if registry else repo
                ref = self.spec.match(full)
                if ref is None:
                    continue
                tag_node = _dotted(node, keys.tag)
                digest_node = _dotted(node, keys.digest) if keys.digest else None
                old = full
                if isinstance(tag_node, yaml.ScalarNode) and tag_node.value:
                    old += f":{tag_node.value}"
                if isinstance(digest_node, yaml.ScalarNode) and digest_node.value:
                    old += f"@{digest_node.value}"
                changes = self._tag_digest_changes(
                    repo_node, tag_node, digest_node, "values block", f"{keys.tag} or {keys.digest}"
                )
                self._claimed.add(id(repo_node))
                self._add("values", repo_node, old, ref.name, changes, aliased)
            elif path and path[-1] == "image":
                self._reference("values", node, aliased)

    def _marker_lines(self) -> dict[int, tuple[str, str]]:
        text = self.source.text
        if "$imagepolicy" not in text and "$shipstep" not in text:
            return {}
        markers: dict[int, tuple[str, str]] = {}
        for number, line in enumerate(text.split("\n")):
            match = _MARKER.search(line.rstrip("\r"))
            if match:
                payload: dict[str, str] = json.loads(match.group(1))
                for key, value in payload.items():
                    markers[number] = (key, value)
        return markers

    def _marked(self, nodes: list[tuple[tuple[PathItem, ...], yaml.Node, bool]]) -> None:
        text = self.source.text
        for _, node, aliased in nodes:
            if not isinstance(node, yaml.ScalarNode) or node.end_mark.line not in self._markers:
                continue
            rest = text[node.end_mark.index :].split("\n", 1)[0].lstrip(" \t")
            if not rest.startswith("#"):
                continue
            key, value = self._markers[node.end_mark.line]
            if key == "$imagepolicy":
                policy, _, part = value.partition(":")[2].partition(":")
                full_policy = value.rsplit(":", 1)[0] if part else value
                if not part:
                    self._reference("flux-marker", node, aliased)
                elif full_policy in self.options.flux_policies and part in ("tag", "digest"):
                    self._part("flux-marker", node, part, aliased)  # type: ignore[arg-type]
                del policy
            else:
                repository, part = value, "reference"
                head, _, tail = value.rpartition(":")
                if head and tail in PARTS:
                    repository, part = head, tail
                try:
                    mine = self.spec.match(repository) is not None
                except InputError:
                    mine = False
                if mine:
                    self._part("shipstep-marker", node, part, aliased)  # type: ignore[arg-type]

    def _pointer(self, doc: yaml.Node, target: Target, shared: set[int]) -> None:
        node: yaml.Node | None = doc
        aliased = id(doc) in shared
        for token in jsonpointer.JsonPointer(target.pointer).parts:
            if isinstance(node, yaml.MappingNode):
                node = mapping_get(node, token)
            elif (
                isinstance(node, yaml.SequenceNode)
                and token.isdigit()
                and int(token) < len(node.value)
            ):
                node = node.value[int(token)]
            else:
                node = None
            if node is None:
                return
            aliased = aliased or id(node) in shared
        if not isinstance(node, yaml.ScalarNode):
            return
        before = len(self.found)
        self._part(f"pointer {target.pointer}", node, target.part, aliased)
        if target.part == "reference" and len(self.found) == before:
            line = node.start_mark.line + 1
            raise ShipstepError(
                f"{target.path}:{line}: --target {target.pointer} holds {node.value!r}, not a reference in {self.spec.repository.name}.",
                hint="Point the target at the image value, or give its part (tag=, digest=).",
                file=target.path,
                line=line,
            )


def _dotted(node: yaml.Node, dotted: str) -> yaml.Node | None:
    current: yaml.Node | None = node
    for key in dotted.split("."):
        current = mapping_get(current, key) if current is not None else None
    return current
