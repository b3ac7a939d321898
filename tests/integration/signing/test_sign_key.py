"""sign / verify-signature with a key file against the real local registry,
checked by an independent implementation of cosign's format."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import Pushed, push_image

pytestmark = pytest.mark.timeout(120)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# --- an independent check of cosign's classic format, written from the spec ---
# Plain HTTP and `cryptography` only: nothing from shipstep.signing.


def spec_signatures(registry: Registry, image: Pushed) -> list[tuple[bytes, bytes, dict[str, str]]]:
    path = image.repository.split("/", 1)[1]
    tag = image.digest.replace(":", "-") + ".sig"
    response = requests.get(
        f"{registry.url}/v2/{path}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}, timeout=10
    )
    assert response.status_code == 200, response.text
    manifest = response.json()
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == OCI_MANIFEST
    found = []
    for layer in manifest["layers"]:
        blob = requests.get(f"{registry.url}/v2/{path}/blobs/{layer['digest']}", timeout=10).content
        assert "sha256:" + hashlib.sha256(blob).hexdigest() == layer["digest"]
        assert layer["size"] == len(blob)
        signature = base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])
        found.append((blob, signature, layer))
    return found


def spec_verify(
    public_pem: bytes, image: Pushed, blob: bytes, signature: bytes, layer: dict[str, str]
) -> None:
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(signature, blob, ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    payload = json.loads(blob)
    assert payload["critical"]["type"] == "cosign container image signature"
    assert payload["critical"]["image"]["docker-manifest-digest"] == image.digest
    assert payload["critical"]["identity"]["docker-reference"] == image.repository
    assert set(payload) == {"critical", "optional"}


def test_sign_verify_round_trip_and_spec_check(
    registry: Registry, key_pair: tuple[Path, Path], shipstep
) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    image = push_image(registry.host)
    signed = shipstep("sign", "--image", image.tag_ref, "--key", str(private))
    assert signed.code == 0, signed.err
    outputs = signed.json
    assert outputs["digest"] == image.digest
    assert outputs["operation"] == "signed" and outputs["format"] == "classic"
    assert str(outputs["signature-ref"]).startswith(f"{image.repository}:sha256-")

    [(blob, signature, layer)] = spec_signatures(registry, image)
    spec_verify(public.read_bytes(), image, blob, signature, layer)
    assert json.loads(blob)["optional"] is None

    again = shipstep("sign", "--image", image.pinned, "--key", str(private))
    assert again.code == 0 and again.json["operation"] == "unchanged"
    assert len(spec_signatures(registry, image)) == 1

    annotated = shipstep(
        "sign", "--image", image.tag_ref, "--key", str(private), "-a", "run=42", "-a", "env=prod"
    )
    assert annotated.json["operation"] == "signed"
    signatures = spec_signatures(registry, image)
    assert len(signatures) == 2
    assert signatures[0][0] == blob  # the first signature is kept as it was
    spec_verify(public.read_bytes(), image, *signatures[1])
    assert json.loads(signatures[1][0])["optional"] == {"env": "prod", "run": "42"}

    verified = shipstep("verify-signature", "--image", image.tag_ref, "--key", str(public))
    assert verified.code == 0, verified.err
    assert verified.json["verified"] is True and verified.json["digest"] == image.digest
    assert verified.json["signer"] == str(public)


def test_verify_with_another_key_fails_with_reasons(
    registry: Registry, key_pair: tuple[Path, Path], shipstep, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    private, _ = key_pair
    image = push_image(registry.host)
    assert shipstep("sign", "--image", image.tag_ref, "--key", str(private)).code == 0
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    other_pub = tmp_path / "other.pub"
    other_pub.write_bytes(
        other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    result = shipstep("verify-signature", "--image", image.tag_ref, "--key", str(other_pub))
    assert result.code == 1
    assert result.json["verified"] is False
    reasons = result.json["reasons"]
    assert isinstance(reasons, list) and any("does not verify with" in r for r in reasons)


def _put(registry: Registry, path: str, reference: str, manifest: dict[str, object]) -> None:
    response = requests.put(
        f"{registry.url}/v2/{path}/manifests/{reference}",
        data=json.dumps(manifest).encode(),
        headers={"Content-Type": OCI_MANIFEST},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def _upload(registry: Registry, path: str, blob: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    start = requests.post(f"{registry.url}/v2/{path}/blobs/uploads/", timeout=10)
    location = start.headers["Location"]
    location = location if location.startswith("http") else registry.url + location
    sep = "&" if "?" in location else "?"
    done = requests.put(
        f"{location}{sep}digest={digest}",
        data=blob,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert done.status_code == 201, done.text
    return digest


def _sig_manifest(registry: Registry, image: Pushed) -> tuple[str, str, dict]:  # type: ignore[type-arg]
    path = image.repository.split("/", 1)[1]
    tag = image.digest.replace(":", "-") + ".sig"
    manifest = requests.get(
        f"{registry.url}/v2/{path}/manifests/{tag}", headers={"Accept": OCI_MANIFEST}, timeout=10
    ).json()
    return path, tag, manifest


def test_tampering_fails(registry: Registry, key_pair: tuple[Path, Path], shipstep) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    image = push_image(registry.host)
    assert shipstep("sign", "--image", image.tag_ref, "--key", str(private)).code == 0
    path, tag, manifest = _sig_manifest(registry, image)
    original = json.loads(json.dumps(manifest))
    [(blob, signature, _)] = spec_signatures(registry, image)

    # The payload changed by one byte (a different identity), same signature.
    tampered = blob.replace(b'"docker-reference":"', b'"docker-reference":"X')
    manifest["layers"][0]["digest"] = _upload(registry, path, tampered)
    manifest["layers"][0]["size"] = len(tampered)
    _put(registry, path, tag, manifest)
    result = shipstep("verify-signature", "--image", image.pinned, "--key", str(public))
    assert result.code == 1 and any("does not verify" in r for r in result.json["reasons"])  # type: ignore[union-attr]
    with pytest.raises(InvalidSignature):
        spec_verify(public.read_bytes(), image, tampered, signature, manifest["layers"][0])

    # The signature changed.
    manifest = json.loads(json.dumps(original))
    bad = bytearray(signature)
    bad[-2] ^= 0x10
    manifest["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = base64.b64encode(
        bytes(bad)
    ).decode()
    _put(registry, path, tag, manifest)
    assert shipstep("verify-signature", "--image", image.pinned, "--key", str(public)).code == 1

    # A valid signature of another digest copied onto this image.
    _put(registry, path, tag, original)
    assert shipstep("verify-signature", "--image", image.pinned, "--key", str(public)).code == 0
    other = push_image(registry.host, path.split("/", 1)[1])
    _put(registry, path, other.digest.replace(":", "-") + ".sig", original)
    copied = shipstep("verify-signature", "--image", other.pinned, "--key", str(public))
    assert copied.code == 1
    assert any(f"signs {image.digest}, not {other.digest}" in r for r in copied.json["reasons"])  # type: ignore[union-attr]


def test_garbage_layers_are_ignored_and_reported(
    registry: Registry, key_pair: tuple[Path, Path], shipstep
) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    image = push_image(registry.host)
    path = image.repository.split("/", 1)[1]
    junk = b"\x89 not a payload"
    junk_digest = _upload(registry, path, junk)
    config = b"{}"
    config_digest = _upload(registry, path, config)
    garbage = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": 2,
        },
        "layers": [
            {
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": junk_digest,
                "size": len(junk),
                "annotations": {"dev.cosignproject.cosign/signature": "bm90IGEgc2lnbmF0dXJl"},
            },
            {"mediaType": "application/octet-stream", "digest": junk_digest, "size": len(junk)},
        ],
    }
    _put(registry, path, image.digest.replace(":", "-") + ".sig", garbage)
    unsigned = shipstep("verify-signature", "--image", image.pinned, "--key", str(public))
    assert unsigned.code == 1
    reasons = unsigned.json["reasons"]
    assert isinstance(reasons, list) and len(reasons) == 2
    assert "not JSON" in reasons[0] and "unexpected media type" in reasons[1]

    signed = shipstep("sign", "--image", image.pinned, "--key", str(private))
    assert signed.code == 0, signed.err
    verified = shipstep("verify-signature", "--image", image.pinned, "--key", str(public))
    assert verified.code == 0
    assert len(verified.json["reasons"]) == 3  # type: ignore[arg-type]
    assert "layer 2" in str(verified.json["signature-ref"])


def test_tag_not_found_and_unsigned_image(
    registry: Registry, key_pair: tuple[Path, Path], shipstep
) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    image = push_image(registry.host)
    missing = shipstep("sign", "--image", f"{image.repository}:no-such-tag", "--key", str(private))
    assert missing.code == 1
    assert "does not exist" in missing.err and "Traceback" not in missing.err
    unsigned = shipstep("verify-signature", "--image", image.tag_ref, "--key", str(public))
    assert unsigned.code == 1
    assert unsigned.json["verified"] is False
    assert any("has no signatures" in r for r in unsigned.json["reasons"])  # type: ignore[union-attr]
    missing_verify = shipstep(
        "verify-signature", "--image", f"{image.repository}:nope", "--key", str(public)
    )
    assert missing_verify.code == 1 and "nothing to verify" in missing_verify.err


def test_wrong_password_and_sec1_key(
    registry: Registry, key_pair: tuple[Path, Path], shipstep, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    private, _ = key_pair
    image = push_image(registry.host)
    monkeypatch.setenv("COSIGN_PASSWORD", "pw-7Gx9")
    result = shipstep("sign", "--image", image.tag_ref, "--key", str(private))
    assert result.code == 1 and "wrong password" in result.err
    assert "pw-7Gx9" not in result.err + result.out
    monkeypatch.setenv("COSIGN_PASSWORD", "hello")
    sec1 = (
        Path(__file__).resolve().parents[2]
        / "data/interop/cosign-encrypted-keys/cosign-labeled-sec1-ec.key"
    )
    result = shipstep("sign", "--image", image.tag_ref, "--key", str(sec1))
    assert result.code == 2 and "SEC1" in result.err and "PKCS#8" in result.err
    assert (
        requests.get(
            f"{registry.url}/v2/{image.repository.split('/', 1)[1]}/manifests/{image.digest.replace(':', '-')}.sig",
            timeout=10,
        ).status_code
        == 404
    )


def test_registry_refusing_the_signature_push(
    registry: Registry, readonly_registry: Registry, key_pair: tuple[Path, Path], shipstep
) -> None:  # type: ignore[no-untyped-def]
    private, _ = key_pair
    image = push_image(registry.host)
    on_readonly = image.tag_ref.replace(registry.host, readonly_registry.host)
    result = shipstep("sign", "--image", on_readonly, "--key", str(private))
    assert result.code == 1
    assert "refused" in result.err and "Traceback" not in result.err
    assert "sha256-" not in str(
        requests.get(
            f"{registry.url}/v2/{image.repository.split('/', 1)[1]}/tags/list", timeout=10
        ).json()
    )


def test_keygen_refuses_to_overwrite(
    tmp_path: Path, shipstep, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COSIGN_PASSWORD", "pw")
    (tmp_path / "k.pub").write_text("existing")
    result = shipstep("keygen", "--output-prefix", str(tmp_path / "k"))
    assert result.code == 2 and "Refusing to overwrite" in result.err
    assert not (tmp_path / "k.key").exists()
    assert (tmp_path / "k.pub").read_text() == "existing"
    ok = shipstep("keygen", "--output-prefix", str(tmp_path / "fresh"))
    assert ok.code == 0
    assert (tmp_path / "fresh.key").stat().st_mode & 0o777 == 0o600
    assert ok.json == {
        "private-key": str(tmp_path / "fresh.key"),
        "public-key": str(tmp_path / "fresh.pub"),
    }


def test_sign_refuses_to_overwrite_a_sig_tag_that_is_not_a_signature_manifest(
    registry: Registry, key_pair: tuple[Path, Path], shipstep
) -> None:  # type: ignore[no-untyped-def]
    private, _ = key_pair
    image = push_image(registry.host)
    path = image.repository.split("/", 1)[1]
    tag = image.digest.replace(":", "-") + ".sig"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": image.digest, "size": 1}],
    }
    response = requests.put(
        f"{registry.url}/v2/{path}/manifests/{tag}",
        data=json.dumps(index).encode(),
        headers={"Content-Type": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    result = shipstep("sign", "--image", image.tag_ref, "--key", str(private))
    assert result.code == 1 and "refusing to overwrite" in result.err
    kept = requests.get(
        f"{registry.url}/v2/{path}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    ).json()
    assert kept == index
