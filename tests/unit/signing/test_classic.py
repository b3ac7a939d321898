"""Classic cosign signatures: the payload format and the real cosign vector."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.signing import classic
from shipstep.signing import payload as simple
from shipstep.signing.classic import TrustedKey
from shipstep.signing.interface import ClassicLayer
from shipstep.signing.keys import load_public_key
from tests.unit.signing.interop import CLASSIC, CLASSIC_DIGEST, classic_signature

pytestmark = pytest.mark.timeout(30)


def cosign_key() -> TrustedKey:
    return TrustedKey("cosign.pub", load_public_key((CLASSIC / "cosign.pub").read_bytes()))


def vector_layer(
    payload: bytes | None = None, annotations: dict[str, str] | None = None
) -> ClassicLayer:
    real_payload, real_annotations, _ = classic_signature()
    return ClassicLayer(
        "signature-1",
        real_payload if payload is None else payload,
        real_annotations if annotations is None else annotations,
    )


def test_vector_manifest_digest() -> None:
    manifest = (CLASSIC / "manifest.json").read_bytes()
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == CLASSIC_DIGEST


def test_cosign_signature_verifies() -> None:
    check = classic.verify_layer(vector_layer(), CLASSIC_DIGEST, [cosign_key()])
    assert check.ok, check.reason
    assert check.signer == "cosign.pub"


def test_we_build_the_exact_payload_cosign_signed() -> None:
    payload, _, mime = classic_signature()
    assert mime == simple.MEDIA_TYPE
    parsed = simple.parse(payload)
    assert parsed.digest == CLASSIC_DIGEST
    assert simple.build(parsed.docker_reference, parsed.digest) == payload


def test_one_byte_of_payload_changed_fails() -> None:
    payload, _, _ = classic_signature()
    for index in (0, len(payload) // 2, len(payload) - 1):
        tampered = bytearray(payload)
        tampered[index] ^= 0x01
        check = classic.verify_layer(vector_layer(bytes(tampered)), CLASSIC_DIGEST, [cosign_key()])
        assert not check.ok


def test_a_signed_payload_for_another_digest_fails() -> None:
    other = CLASSIC_DIGEST[:-1] + ("1" if CLASSIC_DIGEST[-1] != "1" else "2")
    check = classic.verify_layer(vector_layer(), other, [cosign_key()])
    assert not check.ok
    assert f"not {other}" in check.reason


def test_digest_changed_in_the_payload_fails_the_signature() -> None:
    payload, _, _ = classic_signature()
    other = CLASSIC_DIGEST[:-1] + "1"
    tampered = payload.replace(CLASSIC_DIGEST.encode(), other.encode())
    check = classic.verify_layer(vector_layer(tampered), other, [cosign_key()])
    assert not check.ok
    assert "does not verify with cosign.pub" in check.reason


def test_signature_changed_fails() -> None:
    _, annotations, _ = classic_signature()
    signature = bytearray(base64.b64decode(annotations[classic.SIGNATURE_ANNOTATION]))
    signature[-3] ^= 0x40
    bad = {classic.SIGNATURE_ANNOTATION: base64.b64encode(bytes(signature)).decode()}
    assert not classic.verify_layer(
        vector_layer(annotations=bad), CLASSIC_DIGEST, [cosign_key()]
    ).ok


def test_another_key_fails() -> None:
    other = TrustedKey("other.pub", ec.generate_private_key(ec.SECP256R1()).public_key())
    check = classic.verify_layer(vector_layer(), CLASSIC_DIGEST, [other])
    assert not check.ok and "other.pub" in check.reason
    assert classic.verify_layer(vector_layer(), CLASSIC_DIGEST, [other, cosign_key()]).ok


@pytest.mark.parametrize(
    ("payload", "annotations", "reason"),
    [
        (b"\x00\xff garbage", None, "not JSON"),
        (b"[1, 2]", None, "not a JSON object"),
        (b'{"critical": {"type": "something else"}}', None, "payload type"),
        (None, {}, "no dev.cosignproject.cosign/signature"),
        (None, {classic.SIGNATURE_ANNOTATION: "***"}, "not base64"),
    ],
)
def test_garbage_layers_are_reported(
    payload: bytes | None, annotations: dict[str, str] | None, reason: str
) -> None:
    check = classic.verify_layer(vector_layer(payload, annotations), CLASSIC_DIGEST, [cosign_key()])
    assert not check.ok
    assert reason in check.reason


def test_unreadable_layer() -> None:
    layer = ClassicLayer("layer 3", None, {}, problem="blob sha256:… is missing")
    assert (
        classic.verify_layer(layer, CLASSIC_DIGEST, [cosign_key()]).reason
        == "blob sha256:… is missing"
    )


def test_payload_optional_annotations_and_go_escaping() -> None:
    digest = "sha256:" + "ab" * 32
    data = simple.build("reg/app", digest, {"z": "1", "a": "<b>&\u2028é"})
    assert data == (
        b'{"critical":{"identity":{"docker-reference":"reg/app"},"image":{"docker-manifest-digest":"'
        + digest.encode()
        + b'"},"type":"cosign container image signature"},"optional":{"a":"\\u003cb\\u003e\\u0026\\u2028\xc3\xa9","z":"1"}}'
    )
    assert simple.parse(data).optional == {"a": "<b>&\u2028é", "z": "1"}
    with pytest.raises(ValueError):
        simple.build("reg/app", "sha256:short")


def test_append_keeps_existing_layers_and_finds_identical() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = "sha256:" + "cd" * 32
    first_payload = simple.build("reg/app", digest)
    first = classic.append_signature(
        None, first_payload, key.sign(first_payload, ec.ECDSA(hashes.SHA256()))
    )
    manifest = json.loads(first.manifest)
    assert manifest["mediaType"] == classic.OCI_MANIFEST
    assert len(manifest["layers"]) == 1
    assert manifest["config"]["digest"] == classic.sha256_digest(first.config)
    assert json.loads(first.config)["rootfs"]["diff_ids"] == [first.layer_digest]
    assert classic.find_identical(manifest, first_payload, key.public_key()) is not None
    other_key = ec.generate_private_key(ec.SECP256R1())
    assert classic.find_identical(manifest, first_payload, other_key.public_key()) is None
    second_payload = simple.build("reg/app", digest, {"run": "2"})
    assert classic.find_identical(manifest, second_payload, key.public_key()) is None
    second = classic.append_signature(manifest, second_payload, b"sig")
    layers = json.loads(second.manifest)["layers"]
    assert layers[0] == manifest["layers"][0]
    assert len(layers) == 2 and layers[1]["digest"] == classic.sha256_digest(second_payload)
    assert classic.signature_tag(digest) == "sha256-" + "cd" * 32 + ".sig"
