"""Image references: parse, normalise and print `registry/repo[:tag][@sha256:...]`.

Public API (used by publish, sign, bump and the agent):

- `parse_reference(text) -> Reference`: parse and normalise a reference the
  way the Docker CLI does (`busybox` -> `docker.io/library/busybox`,
  `index.docker.io` -> `docker.io`), raising `InputError` with a hint for an
  invalid one. A missing tag stays `None` (`Reference.identifier` falls back
  to `latest` when there is no digest either).
- `Reference(registry, repository, tag=None, digest=None)`: immutable;
  `str(ref)` is the canonical form; `ref.name` is `registry/repository`;
  `ref.with_digest(d)`, `ref.with_tag(t)`, `ref.without_tag()`, `ref.pinned(d)`
  derive new references; `ref.repository_path` is the repository as users
  write it without a registry host (`busybox` for Docker Hub library images);
  `ref.same_repository(other)` matches a reference written with or without
  its registry host.
- `parse_digest(text) -> str`: validate a `sha256:<64 hex>` digest.
- `is_loopback(host)`: whether a registry host is on this machine (plain HTTP).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from shipstep.errors import InputError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

# The grammar of github.com/distribution/reference.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")
_MAX_NAME = 255

_HINT = "Write it as REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.2.3."


def parse_digest(text: str, *, what: str = "digest") -> str:
    """`text` if it is a valid `sha256:`/`sha512:` digest, else `InputError`."""
    if not _DIGEST.fullmatch(text):
        raise InputError(
            f"Invalid {what} {text!r}: expected 'sha256:' followed by 64 lowercase hex digits.",
            hint="Copy the digest from the registry or from the output of the previous step.",
        )
    return text


def is_loopback(host: str) -> bool:
    """Whether a registry host (with or without port) is on this machine."""
    name = host
    if name.startswith("["):
        name = name[1 : name.index("]")]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Reference:
    """A normalised image reference. `registry` is the host (with port) the
    user names (`docker.io` for Docker Hub); `api_host` is where its API is."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """`registry/repository`, without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API_HOST if self.registry == DOCKER_HUB else self.registry

    @property
    def identifier(self) -> str:
        """What goes after `/manifests/`: the digest, else the tag, else `latest`."""
        return self.digest or self.tag or "latest"

    @property
    def repository_path(self) -> str:
        """The repository as written without a registry host (`busybox`, not
        `library/busybox`, for Docker Hub's official images)."""
        if self.registry == DOCKER_HUB and self.repository.startswith("library/"):
            return self.repository[len("library/") :]
        return self.repository

    def with_digest(self, digest: str) -> Reference:
        """The same repository pinned to `digest`, dropping the tag."""
        return Reference(self.registry, self.repository, None, parse_digest(digest))

    def pinned(self, digest: str) -> Reference:
        """The same reference with `digest` added, keeping the tag (`repo:tag@sha256:...`)."""
        return replace(self, digest=parse_digest(digest))

    def with_tag(self, tag: str) -> Reference:
        """The same repository at `tag`, dropping the digest."""
        if not _TAG.fullmatch(tag):
            raise InputError(
                f"Invalid tag {tag!r}: up to 128 letters, digits, '_', '.', '-', not starting with '.' or '-'.",
                hint="Choose a tag like 1.2.3 or main-3f2c1ab.",
            )
        return Reference(self.registry, self.repository, tag, None)

    def without_tag(self) -> Reference:
        return replace(self, tag=None)

    def in_repository(self, other: Reference) -> Reference:
        """This reference's tag and digest in `other`'s registry and repository."""
        return Reference(other.registry, other.repository, self.tag, self.digest)

    def same_repository(self, other: Reference | str) -> bool:
        """Whether `other` names this repository, with or without a registry
        host (`app` matches `123.dkr.ecr.eu-west-1.amazonaws.com/app` only when
        written without a host; a different explicit host never matches)."""
        if isinstance(other, str):
            first = other.split("/", 1)[0]
            if "/" in other and _looks_like_host(first):
                other = parse_reference(other)
            else:
                path = other.split("@", 1)[0]
                if ":" in path.rsplit("/", 1)[-1]:
                    path = path.rsplit(":", 1)[0]
                return path in (self.repository, self.repository_path)
        return other.registry == self.registry and other.repository == self.repository

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _looks_like_host(component: str) -> bool:
    # Docker's rule: a first component is a host if it has a dot or a port,
    # is `localhost`, or has uppercase letters (repositories cannot).
    return (
        "." in component
        or ":" in component
        or component == "localhost"
        or component.lower() != component
        or component.startswith("[")
    )


def parse_reference(text: str, *, what: str = "image reference") -> Reference:
    """Parse and normalise an image reference; `InputError` when invalid."""
    original = text
    text = text.strip()

    def invalid(reason: str) -> InputError:
        return InputError(f"Invalid {what} {original!r}: {reason}.", hint=_HINT)

    if not text:
        raise invalid("it is empty")
    if any(c.isspace() for c in text):
        raise invalid("it contains whitespace")
    if "://" in text:
        raise invalid("a reference has no URL scheme (drop 'https://')")
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise invalid("the digest must be 'sha256:' followed by 64 lowercase hex digits")
    registry = DOCKER_HUB
    rest = text
    first, sep, remainder = text.partition("/")
    if sep and _looks_like_host(first):
        registry, rest = first, remainder
        if not _HOST.fullmatch(registry):
            raise invalid(f"{registry!r} is not a valid registry host")
    tag: str | None = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise invalid(
                f"tag {tag!r} must be up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            )
    if not rest:
        raise invalid("the repository name is missing")
    if not _REPOSITORY.fullmatch(rest):
        reason = "repository names are lowercase"
        if rest.lower() != rest:
            reason = "repository names must be lowercase"
        else:
            reason = "the repository name may only hold lowercase letters, digits, '.', '_', '-' and '/' between components"
        raise invalid(reason)
    if registry.lower() in _DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in rest:
        rest = f"library/{rest}"
    if len(registry) + 1 + len(rest) > _MAX_NAME:
        raise invalid(f"the name is longer than {_MAX_NAME} characters")
    return Reference(registry, rest, tag, digest)
