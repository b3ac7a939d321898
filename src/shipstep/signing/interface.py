"""The boundary of `signing/`: what a signer is, what a source of signatures
returns, and what checking one signature says.

`signing/` does not talk to registries itself: a `SignatureSource` (the OCI
implementation lives in `signing/oci_source.py`) hands it the signature
material it found for a digest, and verification is pure from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

Format = Literal["classic", "bundle"]


class Signer(Protocol):
    """Something that makes ECDSA P-256/SHA-256 DER signatures (key file, KMS)."""

    name: str

    def sign(self, message: bytes) -> bytes: ...

    def public_key(self) -> ec.EllipticCurvePublicKey: ...


@dataclass(frozen=True)
class ClassicLayer:
    """One layer of a `sha256-<hex>.sig` manifest, as read from the registry."""

    ref: str  # where it is, for reports: "sha256-….sig layer 2 (sha256:…)"
    payload: bytes | None  # None when the layer could not be read
    annotations: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None  # why the layer is unusable, if it is


@dataclass(frozen=True)
class FoundBundle:
    """One Sigstore bundle attached to the image (an OCI referrer)."""

    ref: str  # the referrer manifest's digest
    content: bytes | None
    problem: str | None = None


@dataclass
class FoundSignatures:
    classic: list[ClassicLayer] = field(default_factory=list)
    bundles: list[FoundBundle] = field(default_factory=list)
    # Problems with the signature material as a whole (unreadable .sig manifest).
    problems: list[str] = field(default_factory=list)


class SignatureSource(Protocol):
    """Where signatures come from (repository: registry host + path, no tag).

    Both methods raise `ShipstepError` only when the registry cannot be asked
    at all; an image without signatures gives empty lists. They are separate
    so that a verifier satisfied by a classic signature need not look up
    referrers (one round trip fewer)."""

    def classic_signatures(self, repository: str, digest: str) -> FoundSignatures:
        """The layers of the `sha256-<hex>.sig` manifest (in `classic`)."""

    def bundle_signatures(self, repository: str, digest: str) -> FoundSignatures:
        """The Sigstore bundles attached as referrers (in `bundles`)."""


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking one signature against the trusted signers."""

    format: Format
    ref: str
    ok: bool
    reason: str  # who signed it when ok, else why it does not count
    signer: str | None = None
