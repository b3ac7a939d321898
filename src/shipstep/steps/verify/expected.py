"""The images the cluster must run: given as `repo@sha256:…`, or read from
the bump's merge commit in the config repository (the digest-pinned
references its diff adds)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import yaml

from shipstep.errors import InputError
from shipstep.oci.reference import Reference, parse_reference
from shipstep.steps.verify.gitrepo import ConfigRepo

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_KUSTOMIZATION_BYTES = 1 << 20
# A digest-pinned image reference as it appears in YAML or JSON values.
_PINNED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-/:\[\]]*@sha256:[0-9a-f]{64}")


def parse_expected(texts: Iterable[str]) -> list[Reference]:
    out: list[Reference] = []
    for text in texts:
        ref = parse_reference(text, what="expected image")
        if ref.digest is None:
            raise InputError(
                f"Expected image {text!r} has no digest.",
                hint="Pass --image REPOSITORY@sha256:DIGEST (the digest the publish step printed); "
                "a tag can move, a digest cannot.",
            )
        if any(r.same_repository(ref) and r.digest != ref.digest for r in out):
            raise InputError(
                f"Two different digests expected for {ref.name}.",
                hint="Pass one --image per repository.",
            )
        if ref not in out:
            out.append(ref)
    return out


def _kustomize_images(data: bytes) -> set[str]:
    """`NAME@DIGEST` of a kustomization's `images:` entries that set a digest."""
    if len(data) > MAX_KUSTOMIZATION_BYTES:
        return set()
    try:
        doc = yaml.safe_load(data)
    except yaml.YAMLError:
        return set()
    out = set()
    for entry in (doc or {}).get("images") or [] if isinstance(doc, dict) else []:
        if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
            name = entry.get("newName") or entry.get("name")
            if isinstance(name, str) and name:
                out.add(f"{name}@{entry['digest']}")
    return out


def _kustomizations_changed(repo: ConfigRepo, commit: str) -> set[str]:
    parents = repo.parents(commit)
    if not parents:
        return set()
    paths = repo.git("diff", "--name-only", parents[0], commit).splitlines()
    kustomizations = [p for p in paths if p.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES]
    if not kustomizations:
        return set()
    now = repo.files_at(commit, kustomizations)
    before = repo.files_at(parents[0], kustomizations)
    added: set[str] = set()
    for path, data in now.items():
        added |= _kustomize_images(data) - _kustomize_images(before.get(path, b""))
    return added


def images_added_by(repo: ConfigRepo, commit: str) -> list[Reference]:
    """The digest-pinned images the commit adds relative to its first parent
    (for a merge commit: what the merged branch brought): references written
    `repo[:tag]@sha256:…` anywhere in the diff, and kustomization `images:`
    entries whose `digest` changed."""
    diff = repo.diff_against_first_parent(commit)
    found: list[Reference] = []
    for text in sorted(_kustomizations_changed(repo, commit)):
        try:
            ref = parse_reference(text)
        except InputError:
            continue
        if ref not in found:
            found.append(ref)
    for line in diff.splitlines():
        if not line.startswith("+") or line.startswith("+++"):
            continue
        for match in _PINNED.finditer(line):
            try:
                ref = parse_reference(match.group(0))
            except InputError:
                continue
            if ref not in found:
                found.append(ref)
    if not found:
        raise InputError(
            f"Commit {commit[:12]} adds no digest-pinned image reference.",
            hint="Pass the bump's merge commit, or name the images with --image REPO@sha256:DIGEST.",
        )
    return parse_expected(str(r) for r in found)
