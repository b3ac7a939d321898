"""Render a checkout into desired objects.

Plain YAML directories are read natively: recursive, multi-document, sorted
by path, with the safe loader, size limits (aliases count at every use, so no
"billion laughs"), and no path leaving the checkout (symlinks included). A
directory holding a `kustomization.yaml` is built by an external
`kubectl kustomize` / `kustomize build` when configured, with a timeout.
Any error refuses the whole revision (`RenderError`, naming file:line).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from shipstep.agent.config import RenderLimits
from shipstep.agent.objects import Manifest, Obj
from shipstep.errors import ShipstepError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RenderError(ShipstepError):
    """The revision cannot be rendered: it is refused as a whole."""


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The (C) safe loader, remembering the line each document starts on."""

    def construct_document(self, node: Any) -> Any:
        self.document_line = node.start_mark.line + 1
        return super().construct_document(node)


def _check_tree(doc: Any, limit: int, where: str) -> None:
    """Refuse documents over `limit` nodes, counting aliased nodes at every
    use: a "billion laughs" stops at the limit instead of exploding later."""
    stack = [doc]
    count = 0
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            file, _, line = where.rpartition(":")
            raise RenderError(
                f"Document expands to more than {limit} nodes (aliases count at every use).",
                hint="Split the document or remove repeated aliases; the agent limits document size.",
                file=file,
                line=int(line),
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def parse_documents(text: str, relative: str, limits: RenderLimits) -> list[Manifest]:
    """The objects of one YAML stream; `relative` names the file in errors."""
    loader = _Loader(text)
    out: list[Manifest] = []
    try:
        while loader.check_data():
            doc = loader.get_data()
            where = f"{relative}:{loader.document_line}"
            if doc is None:
                continue
            _check_tree(doc, limits.max_nodes_per_document, where)
            out.extend(_objects(doc, relative, loader.document_line))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        raise RenderError(
            f"YAML parse error: {problem}.",
            hint="Fix the file; the agent refuses the whole revision until every file parses.",
            file=relative,
            line=line,
        ) from None
    except yaml.YAMLError as error:
        raise RenderError(f"YAML parse error: {error}.", file=relative) from None
    finally:
        loader.dispose()
    return out


def _objects(doc: Any, relative: str, line: int) -> list[Manifest]:
    def bad(message: str) -> RenderError:
        return RenderError(
            message,
            hint="Every document must be a Kubernetes object with apiVersion, kind and metadata.name.",
            file=relative,
            line=line,
        )

    if not isinstance(doc, dict):
        raise bad(f"Document is a {type(doc).__name__}, not a Kubernetes object.")
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not kind or not isinstance(api_version, str) or not api_version:
        raise bad("Document has no apiVersion or kind.")
    if kind == "List" and api_version == "v1":
        items = doc.get("items") or []
        if not isinstance(items, list):
            raise bad("List.items is not a list.")
        return [m for item in items for m in _objects(item, relative, line)]
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise bad(f"{kind} has no metadata.name.")
    if "namespace" in meta and not isinstance(meta["namespace"], str):
        raise bad(f"{kind} {meta['name']}: metadata.namespace is not a string.")
    obj: Obj = doc
    return [Manifest(obj, f"{relative}:{line}")]


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def _walk(root: Path, directory: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(directory, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        for link in [d for d in dirnames if (here / d).is_symlink()]:
            if not _inside(root, here / link):
                raise RenderError(
                    "Symbolic link points outside the repository.",
                    file=str((here / link).relative_to(root)),
                    hint="Remove the link; paths never leave the checkout.",
                )
        for name in sorted(filenames):
            if name.endswith(MANIFEST_SUFFIXES) and name not in KUSTOMIZATION_FILES:
                yield here / name


def render(
    checkout: Path,
    paths: tuple[str, ...],
    limits: RenderLimits,
    *,
    kustomize: str | None = None,
    kustomize_timeout: float = 60.0,
) -> list[Manifest]:
    """All desired objects of the configured paths, in a stable order."""
    root = checkout.resolve()
    manifests: list[Manifest] = []
    total = 0
    for entry in paths:
        start = root / entry
        if not _inside(root, start):
            raise RenderError(
                f"Path {entry!r} leaves the repository.", hint="Configure paths inside it."
            )
        if not start.exists():
            raise RenderError(
                f"Path {entry!r} does not exist in the repository.",
                hint="Check --path against the config repository's layout.",
            )
        if start.is_dir() and any((start / f).exists() for f in KUSTOMIZATION_FILES):
            if kustomize is None:
                raise RenderError(
                    f"{entry} holds a kustomization but kustomize is not enabled.",
                    hint="Pass --kustomize kubectl (or kustomize), or point --path at plain YAML.",
                    file=entry,
                )
            manifests.extend(_kustomize(root, start, kustomize, kustomize_timeout, limits))
            continue
        files = [start] if start.is_file() else sorted(_walk(root, start))
        for file in files:
            relative = str(file.relative_to(root))
            if not _inside(root, file):
                raise RenderError(
                    "Symbolic link points outside the repository.",
                    file=relative,
                    hint="Remove the link; paths never leave the checkout.",
                )
            size = file.stat().st_size
            if size > limits.max_file_bytes:
                raise RenderError(
                    f"File is {size} bytes, over the limit of {limits.max_file_bytes}.",
                    file=relative,
                    hint="Split it, or raise the agent's --max-file-bytes.",
                )
            total += size
            if total > limits.max_total_bytes:
                raise RenderError(
                    f"The revision is over {limits.max_total_bytes} bytes of manifests.",
                    hint="Raise --max-total-bytes or narrow --path.",
                )
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise RenderError("File is not UTF-8 text.", file=relative) from None
            manifests.extend(parse_documents(text, relative, limits))
            if len(manifests) > limits.max_documents:
                raise RenderError(
                    f"The revision has more than {limits.max_documents} objects.",
                    hint="Raise --max-documents or narrow --path.",
                )
    return manifests


def _kustomize(
    root: Path, directory: Path, tool: str, timeout: float, limits: RenderLimits
) -> list[Manifest]:
    argv = (
        ["kubectl", "kustomize", str(directory)]
        if tool == "kubectl"
        else ["kustomize", "build", str(directory)]
    )
    relative = str(directory.relative_to(root)) or "."
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)}
    try:
        completed = subprocess.run(
            argv, cwd=root, capture_output=True, timeout=timeout, check=False, env=env
        )
    except FileNotFoundError:
        raise RenderError(
            f"`{argv[0]}` is not installed.",
            hint="Install kubectl (Debian: kubernetes-client) or kustomize in the agent image.",
        ) from None
    except subprocess.TimeoutExpired:
        raise RenderError(
            f"kustomize build of {relative} took longer than {timeout:.0f}s.",
            hint="Simplify the kustomization or raise --kustomize-timeout.",
            file=relative,
        ) from None
    if completed.returncode != 0:
        detail = completed.stderr.decode(errors="replace").strip()[-2000:]
        raise RenderError(
            f"kustomize build of {relative} failed: {detail}",
            hint="Run `kubectl kustomize` on that directory locally to see the problem.",
            file=relative,
        )
    if len(completed.stdout) > limits.max_total_bytes:
        raise RenderError(f"kustomize output of {relative} is over the size limit.", file=relative)
    return parse_documents(completed.stdout.decode(), f"{relative} (kustomize)", limits)
