"""Which image is bumped, to what, and how a new value is spelled.

Matching is by repository, never by substring: `team/app` matches
`team/app:1.0` and `registry.example/team/app@sha256:...` but never
`team/app-worker` or `other/team/app`. A `--image` without a registry host
matches that repository path on any registry; when that finds several
different registries, the bump is ambiguous and refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shipstep.errors import InputError
from shipstep.oci.reference import DOCKER_HUB, Reference, parse_reference

Format = Literal["tag-digest", "digest", "tag"]
FORMATS: tuple[Format, ...] = ("tag-digest", "digest", "tag")
Part = Literal["reference", "tag", "digest", "tag-digest", "name"]
PARTS: tuple[Part, ...] = ("reference", "tag", "digest", "tag-digest", "name")


def _has_host(text: str) -> bool:
    ref = parse_reference(text)
    return ref.registry != DOCKER_HUB or text.split("/", 1)[0].lower() in (
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
    )


@dataclass(frozen=True)
class ImageSpec:
    """The repository being bumped and the reference it is bumped to."""

    repository: Reference  # tag and digest unset
    explicit_host: bool
    new: Reference
    format: Format = "tag-digest"

    @classmethod
    def create(cls, image: str, to: str, format: Format | str = "tag-digest") -> ImageSpec:
        if format not in FORMATS:
            raise InputError(
                f"Unknown --format {format!r}.", hint=f"Use one of: {', '.join(FORMATS)}."
            )
        repo = parse_reference(image, what="--image")
        if repo.tag or repo.digest:
            raise InputError(
                f"--image {image!r} should name a repository only, without tag or digest.",
                hint="Pass the repository (e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app) and the new reference with --to.",
            )
        to_text = to if not to.startswith((":", "@")) else str(repo) + to
        new = parse_reference(to_text, what="--to")
        explicit = _has_host(image)
        same = new.name == repo.name if explicit else new.repository_path == repo.repository_path
        if not same:
            raise InputError(
                f"--to {to!r} is not a reference in the bumped repository {image!r}.",
                hint="Pass --to as the same repository with the new tag and digest (REPOSITORY:TAG@sha256:DIGEST).",
            )
        fmt: Format = format
        if fmt in ("tag-digest", "digest") and not new.digest:
            raise InputError(
                f"--to {to!r} has no digest; the {fmt} format pins images by digest.",
                hint="Pass the digest the publish step printed (REPOSITORY:TAG@sha256:...), or --format tag.",
            )
        if fmt == "tag" and not new.tag:
            raise InputError(f"--to {to!r} has no tag, but --format tag writes tags only.")
        return cls(repo.without_tag(), explicit, new, fmt)

    def match(self, value: str) -> Reference | None:
        """The reference `value` holds if it is in the bumped repository."""
        # Cheap rejections first: every spelling of the repository contains
        # its path, and references hold no spaces or template syntax.
        if self.repository.repository_path not in value:
            return None
        if " " in value or "\t" in value or "\n" in value or "{" in value or "$" in value:
            return None
        try:
            ref = parse_reference(value)
        except InputError:
            return None
        return ref if self.matches_repository(value, ref) else None

    def matches_repository(self, text: str, ref: Reference) -> bool:
        if self.explicit_host:
            if ref.name == self.repository.name:
                return True
            # Written without a host: compare the path only.
            return not _has_host(text.split("@", 1)[0]) and (
                ref.repository_path == self.repository.repository_path
            )
        return ref.repository_path == self.repository.repository_path

    # --- new values -------------------------------------------------------

    def reference_value(self, old_text: str) -> str:
        """A whole reference, keeping the way the file spells the repository."""
        spelling = old_text.split("@", 1)[0]
        last = spelling.rsplit("/", 1)
        if ":" in last[-1]:
            spelling = spelling[: spelling.rfind(":")]
        return spelling + self.suffix()

    def suffix(self) -> str:
        tag = f":{self.new.tag}" if self.new.tag else ""
        digest = f"@{self.new.digest}" if self.new.digest else ""
        if self.format == "digest":
            return digest
        if self.format == "tag":
            return tag
        return tag + digest

    def tag_value(self, has_digest_field: bool) -> str | None:
        """The value of a separate tag field (None: leave it)."""
        tag = self.new.tag
        if self.format == "tag":
            return tag
        if self.format == "digest":
            return tag if has_digest_field else None
        if has_digest_field:
            return tag
        # One field for both, as Helm charts writing `repo:{{ tag }}` and
        # kustomize's newTag accept.
        return f"{tag}@{self.new.digest}" if tag else None

    def digest_value(self) -> str | None:
        return None if self.format == "tag" else self.new.digest

    def display(self) -> str:
        return str(self.repository.without_tag()) + self.suffix()
