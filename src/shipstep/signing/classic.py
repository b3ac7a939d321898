"""Classic cosign signatures: an OCI manifest tagged `sha256-<hex>.sig` whose
layers are simple-signing payloads, each carrying its base64 DER signature in
the annotation `dev.cosignproject.cosign/signature`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.signing import payload as simple
from shipstep.signing.interface import ClassicLayer, SignatureCheck
from shipstep.signing.keys import verify_ecdsa

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


def signature_tag(digest: str) -> str:
    """`sha256:abc…` -> `sha256-abc….sig`."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}.sig"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TrustedKey:
    name: str  # how reports name it: a file path, an awskms:// reference
    key: ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class SignatureManifest:
    manifest: bytes
    config: bytes
    layer: bytes  # the new payload blob
    layer_digest: str


def layer_descriptor(payload_bytes: bytes, signature: bytes) -> dict[str, Any]:
    return {
        "mediaType": simple.MEDIA_TYPE,
        "size": len(payload_bytes),
        "digest": sha256_digest(payload_bytes),
        "annotations": {SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()},
    }


def existing_layers(manifest: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if manifest is None:
        return []
    layers = manifest.get("layers")
    return (
        [dict(layer) for layer in layers if isinstance(layer, dict)]
        if isinstance(layers, list)
        else []
    )


def find_identical(
    manifest: Mapping[str, Any] | None, payload_bytes: bytes, key: ec.EllipticCurvePublicKey
) -> dict[str, Any] | None:
    """A layer with this exact payload already signed by `key`, if there is one
    (ECDSA signatures are randomised, so "identical" means same payload, same
    signer: re-signing would add nothing)."""
    digest = sha256_digest(payload_bytes)
    for layer in existing_layers(manifest):
        annotations = layer.get("annotations") or {}
        encoded = annotations.get(SIGNATURE_ANNOTATION) if isinstance(annotations, dict) else None
        if layer.get("digest") != digest or not isinstance(encoded, str):
            continue
        try:
            signature = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        if verify_ecdsa(key, signature, payload_bytes):
            return layer
    return None


def append_signature(
    manifest: Mapping[str, Any] | None, payload_bytes: bytes, signature: bytes
) -> SignatureManifest:
    """The `.sig` manifest with one more layer; existing layers are kept as they are."""
    layers = existing_layers(manifest)
    layers.append(layer_descriptor(payload_bytes, signature))
    # cosign's config: an image config whose diff_ids are the (uncompressed) layers.
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256_digest(config)},
        "layers": layers,
    }
    return SignatureManifest(
        json.dumps(document, separators=(",", ":")).encode(),
        config,
        payload_bytes,
        sha256_digest(payload_bytes),
    )


def verify_layer(layer: ClassicLayer, digest: str, keys: Sequence[TrustedKey]) -> SignatureCheck:
    """Whether one `.sig` layer is a valid signature of `digest` by one of `keys`."""

    def fail(reason: str) -> SignatureCheck:
        return SignatureCheck("classic", layer.ref, False, reason)

    if layer.problem or layer.payload is None:
        return fail(layer.problem or "the layer could not be read")
    encoded = layer.annotations.get(SIGNATURE_ANNOTATION)
    if not encoded:
        return fail(f"the layer has no {SIGNATURE_ANNOTATION} annotation")
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return fail("the signature annotation is not base64")
    try:
        parsed = simple.parse(layer.payload)
    except simple.PayloadError as error:
        return fail(str(error))
    if parsed.digest != digest:
        return fail(f"the payload signs {parsed.digest}, not {digest}")
    if not keys:
        if CERTIFICATE_ANNOTATION in layer.annotations:
            return fail("a certificate-based classic signature; no key was given to check it")
        return fail("no key was given to check it")
    for trusted in keys:
        if verify_ecdsa(trusted.key, signature, layer.payload):
            return SignatureCheck(
                "classic", layer.ref, True, f"signed by {trusted.name}", trusted.name
            )
    names = ", ".join(key.name for key in keys)
    return fail(f"the signature does not verify with {names}")
