"""Paths of the cosign-made interop vectors (copied from ../shared/interop/,
see tests/data/interop/README.md for their sources and licence)."""

from __future__ import annotations

import json
from pathlib import Path

INTEROP = Path(__file__).resolve().parents[2] / "data" / "interop"
KEYS = INTEROP / "cosign-encrypted-keys"
CLASSIC = INTEROP / "cosign-classic-key"
BUNDLE = INTEROP / "cosign-bundle-dsse"
PASSWORD = b"hello"

CLASSIC_DIGEST = "sha256:634a8f35b5f16dcf4aaa0822adc0b1964bb786fca12f6831de8ddc45e5986a00"
BUNDLE_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
BUNDLE_IDENTITY = "cody@soyland.com"
BUNDLE_ISSUER = "https://github.com/login/oauth"


def classic_signature() -> tuple[bytes, dict[str, str], str]:
    """(payload, annotations, mime type) of containers/image's saved `.sig` layer."""
    raw = (CLASSIC / "signature-1").read_bytes()
    prefix = b"\x00sigstore-json\n"
    assert raw.startswith(prefix)
    document = json.loads(raw[len(prefix) :])
    import base64

    return base64.b64decode(document["payload"]), document["annotations"], document["mimeType"]
