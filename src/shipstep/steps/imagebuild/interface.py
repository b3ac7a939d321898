"""The boundary between the build step and the thing that builds images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from shipstep.progress import Reporter
from shipstep.steps.imagebuild.dockerfile import Dockerfile


@dataclass(frozen=True)
class BuildRequest:
    context: Path
    dockerfile: Dockerfile
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str | None = None
    platforms: tuple[str, ...] = ()
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()
    # Where buildx writes a multi-platform image (an OCI layout tarball).
    oci_output: Path | None = None
    title: str = "docker build"


@dataclass(frozen=True)
class BuiltImage:
    image_id: str  # the config digest (sha256:...) or, for an OCI output, the index digest
    steps: int = 0  # instructions run (or taken from the cache)
    cached_steps: int = 0
    loaded: bool = True  # the image is in the engine (False for an OCI tarball output)


class Builder(Protocol):
    name: str

    def build(self, request: BuildRequest, reporter: Reporter) -> BuiltImage:
        """Build, streaming the log to `reporter`; raise `ShipstepError` on failure
        with the failing instruction and the tail of its output."""
