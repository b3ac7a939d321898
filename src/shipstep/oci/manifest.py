"""Media types, descriptors and manifest parsing (Docker v2 and OCI).

- `Descriptor(media_type, digest, size, ...)`: an OCI content descriptor;
  `Descriptor.from_json(obj)`, `.to_json()`.
- `Manifest.parse(data, media_type)`: a manifest or index with `config`,
  `layers`, `manifests`, `subject`, `artifact_type`, `annotations`;
  `.is_index`, `.blobs()` (config + layers), `.children()` (index entries).
- `digest_of(data)`: `sha256:<hex>` of some bytes.
- `MANIFEST_ACCEPT`: the Accept header that asks for every manifest type.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shipstep.errors import ShipstepError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST, *INDEX_TYPES})
MANIFEST_ACCEPT = ", ".join(sorted(MANIFEST_TYPES))

# The empty JSON blob `{}` that OCI artifacts use as config.
EMPTY_JSON = b"{}"
EMPTY_JSON_DIGEST = "sha256:" + hashlib.sha256(EMPTY_JSON).hexdigest()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict, compare=False)
    artifact_type: str | None = None
    platform: dict[str, Any] | None = field(default=None, compare=False)

    @classmethod
    def from_json(cls, obj: Any) -> Descriptor:
        if not isinstance(obj, dict):
            raise ShipstepError("A manifest holds an invalid descriptor (not a JSON object).")
        try:
            return cls(
                media_type=str(obj.get("mediaType", "")),
                digest=str(obj["digest"]),
                size=int(obj["size"]),
                annotations=dict(obj.get("annotations") or {}),
                artifact_type=obj.get("artifactType"),
                platform=obj.get("platform"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ShipstepError(f"A manifest holds an invalid descriptor: {error}.") from None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.artifact_type:
            obj["artifactType"] = self.artifact_type
        if self.platform:
            obj["platform"] = self.platform
        if self.annotations:
            obj["annotations"] = self.annotations
        return obj


@dataclass(frozen=True)
class Manifest:
    media_type: str
    raw: dict[str, Any]
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    artifact_type: str | None
    annotations: dict[str, str]

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def blobs(self) -> list[Descriptor]:
        """The config and layers (what must exist before the manifest is PUT)."""
        return ([self.config] if self.config else []) + list(self.layers)

    def children(self) -> list[Descriptor]:
        return list(self.manifests)

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> Manifest:
        try:
            raw = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise ShipstepError("The registry returned a manifest that is not JSON.") from None
        if not isinstance(raw, dict):
            raise ShipstepError("The registry returned a manifest that is not a JSON object.")
        kind = str(raw.get("mediaType") or media_type or "")
        if not kind:
            kind = OCI_INDEX if "manifests" in raw else OCI_MANIFEST
        if kind not in MANIFEST_TYPES:
            raise ShipstepError(
                f"Unsupported manifest media type {kind!r}.",
                hint="shipstep handles Docker v2 schema 2 and OCI manifests and indexes.",
            )
        config = raw.get("config")
        subject = raw.get("subject")
        return cls(
            media_type=kind,
            raw=raw,
            config=Descriptor.from_json(config) if config else None,
            layers=tuple(Descriptor.from_json(d) for d in raw.get("layers") or []),
            manifests=tuple(Descriptor.from_json(d) for d in raw.get("manifests") or []),
            subject=Descriptor.from_json(subject) if subject else None,
            artifact_type=raw.get("artifactType"),
            annotations=dict(raw.get("annotations") or {}),
        )


def encode_json(obj: Any) -> bytes:
    """Canonical-enough JSON for manifests we write (stable bytes, stable digest)."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
