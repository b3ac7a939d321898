"""Keyless: everything around the Fulcio/Rekor call, against the real
registry (distribution 2.8 has no referrers API: the tag-schema fallback).
The network call itself (`keyless.sign_statement`) is replaced by a function
returning the real cosign-made bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from sigstore.dsse import Statement

from shipstep.oci.client import RegistryClient
from shipstep.signing.bundle import BUNDLE_MEDIA_TYPE
from shipstep.steps.sign import sign_keyless
from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import push_image

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).resolve().parents[2] / "data" / "interop" / "cosign-bundle-dsse"
BUNDLE = (DATA / "oci-attestation.sigstore.json").read_bytes()
BUNDLE_SUBJECT = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"
IDENTITY = [
    "--certificate-identity",
    "cody@soyland.com",
    "--certificate-oidc-issuer",
    "https://github.com/login/oauth",
]


def test_bundle_is_attached_as_referrer_with_fallback_index(registry: Registry, shipstep) -> None:  # type: ignore[no-untyped-def]
    image = push_image(registry.host)
    statements: list[dict[str, object]] = []

    def fake_sigstore(statement: Statement) -> bytes:
        statements.append(json.loads(statement._contents))
        return BUNDLE

    result = sign_keyless(RegistryClient(), image.tag_ref, fake_sigstore)
    assert result.format == "bundle" and result.digest == image.digest
    assert result.signer == "cody@soyland.com"
    [statement] = statements
    assert statement["subject"] == [
        {"name": image.repository, "digest": {"sha256": image.digest.split(":")[1]}}
    ]
    assert statement["_type"] == "https://in-toto.io/Statement/v1"

    # The fallback index, read over plain HTTP.
    path = image.repository.split("/", 1)[1]
    index = requests.get(
        f"{registry.url}/v2/{path}/manifests/{image.digest.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    ).json()
    [entry] = index["manifests"]
    assert entry["artifactType"] == BUNDLE_MEDIA_TYPE
    assert result.signature_ref == f"{image.repository}@{entry['digest']}"
    referrer = requests.get(
        f"{registry.url}/v2/{path}/manifests/{entry['digest']}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    ).json()
    assert referrer["subject"]["digest"] == image.digest
    assert referrer["artifactType"] == BUNDLE_MEDIA_TYPE
    blob = requests.get(
        f"{registry.url}/v2/{path}/blobs/{referrer['layers'][0]['digest']}", timeout=10
    ).content
    assert blob == BUNDLE

    # Verification finds it through the fallback, checks the signature and
    # identity (offline, with the trusted root), then the subject digest.
    verify = shipstep(
        "verify-signature",
        "--image",
        image.tag_ref,
        *IDENTITY,
        "--trusted-root",
        str(DATA / "trusted_root_pgi.json"),
    )
    assert verify.code == 1
    reasons = verify.json["reasons"]
    assert isinstance(reasons, list)
    assert any(f"subject is {BUNDLE_SUBJECT}, not {image.digest}" in r for r in reasons), reasons

    other = shipstep(
        "verify-signature",
        "--image",
        image.tag_ref,
        "--certificate-identity",
        "mallory@example.com",
        "--certificate-oidc-issuer",
        "https://github.com/login/oauth",
        "--trusted-root",
        str(DATA / "trusted_root_pgi.json"),
    )
    assert other.code == 1 and any(
        "do not match mallory@example.com" in r for r in other.json["reasons"]
    )  # type: ignore[union-attr]


def test_bundle_with_wrong_payload_type_and_garbage_bundles(registry: Registry, shipstep) -> None:  # type: ignore[no-untyped-def]
    image = push_image(registry.host)
    document = json.loads(BUNDLE)
    document["dsseEnvelope"]["payloadType"] = "application/vnd.dev.cosign.simplesigning.v1+json"
    wrong_type = json.dumps(document).encode()
    client = RegistryClient()
    sign_keyless(client, image.pinned, lambda _: wrong_type)
    sign_keyless(client, image.pinned, lambda _: b"this is no bundle")
    verify = shipstep(
        "verify-signature",
        "--image",
        image.pinned,
        *IDENTITY,
        "--trusted-root",
        str(DATA / "trusted_root_pgi.json"),
    )
    assert verify.code == 1
    reasons = verify.json["reasons"]
    assert isinstance(reasons, list) and len(reasons) == 2
    # The payload type is signed (DSSE PAE), so changing it breaks the signature.
    assert "invalid signature" in reasons[0]
    assert "not a Sigstore bundle" in reasons[1]


def test_keyless_without_an_oidc_identity_attaches_nothing(
    registry: Registry, shipstep, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    for name in (
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "SIGSTORE_ID_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    image = push_image(registry.host)
    result = shipstep("sign", "--image", image.tag_ref, "--keyless")
    assert result.code == 1 and "OIDC" in result.err and "id-token: write" in result.err
    path = image.repository.split("/", 1)[1]
    tags = requests.get(f"{registry.url}/v2/{path}/tags/list", timeout=10).json()["tags"]
    assert tags == ["v1"]


def test_bad_flag_combinations(registry: Registry, shipstep) -> None:  # type: ignore[no-untyped-def]
    image = push_image(registry.host)
    assert shipstep("sign", "--image", image.tag_ref).code == 2
    assert shipstep("sign", "--image", image.tag_ref, "--keyless", "--key", "x.key").code == 2
    assert shipstep("verify-signature", "--image", image.tag_ref).code == 2
    no_issuer = shipstep(
        "verify-signature", "--image", image.tag_ref, "--certificate-identity", "a@b"
    )
    assert no_issuer.code == 2 and "--certificate-oidc-issuer" in no_issuer.err
    bad_annotation = shipstep("sign", "--image", image.tag_ref, "--key", "x.key", "-a", "novalue")
    assert bad_annotation.code == 2 and "KEY=VALUE" in bad_annotation.err


def test_key_signed_bundle_as_cosign_v3_writes_it(
    registry: Registry, key_pair: tuple[Path, Path], shipstep
) -> None:  # type: ignore[no-untyped-def]
    """`cosign sign --key` in the bundle format (cosign v3's default) attaches a
    DSSE bundle with a public-key hint as a referrer: verify-signature --key
    finds and accepts it when there is no classic signature."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.unit.signing.test_bundle import _key_bundle

    key = ec.generate_private_key(ec.SECP256R1())
    public = Path(str(key_pair[1]) + ".v3")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    image = push_image(registry.host)
    sign_keyless(
        RegistryClient(), image.pinned, lambda _: _key_bundle(key, image.digest.split(":")[1])
    )
    result = shipstep("verify-signature", "--image", image.tag_ref, "--key", str(public))
    assert result.code == 0, result.out
    assert result.json["signer"] == str(public)
    assert str(result.json["signature-ref"]).startswith("sha256:")
    other = shipstep("verify-signature", "--image", image.tag_ref, "--key", str(key_pair[1]))
    assert other.code == 1 and any("does not verify" in r for r in other.json["reasons"])  # type: ignore[union-attr]
