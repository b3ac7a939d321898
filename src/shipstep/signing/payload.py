"""The simple-signing payload of classic cosign signatures.

cosign writes it with Go's `encoding/json`:

    {"critical":{"identity":{"docker-reference":"REPO"},"image":{"docker-manifest-digest":"sha256:..."},"type":"cosign container image signature"},"optional":null}

Keys in struct order, map keys sorted, no spaces, `<`, `>`, `&`, U+2028 and
U+2029 escaped. We produce the same bytes so that a payload signed by
shipstep is the payload cosign would have signed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SIGNATURE_TYPE = "cosign container image signature"
MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


class PayloadError(ValueError):
    """A payload that is not a cosign simple-signing payload; the message says why."""


def go_json(value: Any) -> bytes:
    """`value` encoded as Go's json.Marshal does (for maps of strings and nested objects)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode()


@dataclass(frozen=True)
class SimpleSigning:
    docker_reference: str
    digest: str
    optional: Mapping[str, Any] | None = field(default=None)


def build(docker_reference: str, digest: str, optional: Mapping[str, str] | None = None) -> bytes:
    """The payload bytes cosign signs for `digest` in repository `docker_reference`."""
    if not DIGEST.fullmatch(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": {key: optional[key] for key in sorted(optional)} if optional else None,
    }
    return go_json(document)


def parse(data: bytes) -> SimpleSigning:
    """The fields of a payload; `PayloadError` if it is not a cosign payload."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the payload is not JSON") from None
    if not isinstance(document, dict):
        raise PayloadError("the payload is not a JSON object")
    critical = document.get("critical")
    if not isinstance(critical, dict):
        raise PayloadError("the payload has no 'critical' section")
    if critical.get("type") != SIGNATURE_TYPE:
        raise PayloadError(f"the payload type is {critical.get('type')!r}, not {SIGNATURE_TYPE!r}")
    image = critical.get("image")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    if not isinstance(digest, str) or not DIGEST.fullmatch(digest):
        raise PayloadError("the payload has no valid critical.image.docker-manifest-digest")
    identity = critical.get("identity")
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    if not isinstance(reference, str):
        raise PayloadError("the payload has no critical.identity.docker-reference")
    optional = document.get("optional")
    if optional is not None and not isinstance(optional, dict):
        raise PayloadError("the payload's 'optional' is not an object")
    return SimpleSigning(reference, digest, optional)
