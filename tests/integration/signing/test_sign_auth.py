"""Signing in a registry behind authentication, and password handling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fixtures.registry import Registry

pytestmark = pytest.mark.timeout(120)


def push_authenticated(registry: Registry) -> str:
    from shipstep.oci.auth import StaticCredentials
    from shipstep.oci.client import RegistryClient
    from shipstep.oci.manifest import (
        OCI_CONFIG,
        OCI_LAYER_GZIP,
        OCI_MANIFEST,
        digest_of,
        encode_json,
    )
    from shipstep.oci.reference import parse_reference

    assert registry.username and registry.password
    client = RegistryClient(StaticCredentials(registry.username, registry.password))
    ref = parse_reference(f"{registry.host}/sign-test/auth-{os.urandom(4).hex()}:v1")
    config, layer = encode_json({"os": "linux"}), os.urandom(64)
    for blob in (config, layer):
        client.upload_blob(ref, blob, digest_of(blob), len(blob))
    manifest = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": digest_of(layer), "size": len(layer)}
            ],
        }
    )
    client.put_manifest(ref, manifest, OCI_MANIFEST)
    return str(ref)


def test_sign_and_verify_with_registry_credentials(
    auth_registry: Registry,
    key_pair: tuple[Path, Path],
    shipstep,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))  # no credentials from a developer's config
    image = push_authenticated(auth_registry)
    denied = shipstep("sign", "--image", image, "--key", str(private))
    assert denied.code == 1 and "Traceback" not in denied.err
    assert auth_registry.password
    creds = ["--registry-username", str(auth_registry.username)]
    monkeypatch.setenv("SHIPSTEP_REGISTRY_PASSWORD", auth_registry.password)
    signed = shipstep("sign", "--image", image, "--key", str(private), *creds)
    assert signed.code == 0, signed.err
    assert auth_registry.password not in signed.out + signed.err
    verified = shipstep("verify-signature", "--image", image, "--key", str(public), *creds)
    assert verified.code == 0, verified.err
    monkeypatch.delenv("SHIPSTEP_REGISTRY_PASSWORD")
    half = shipstep("sign", "--image", image, "--key", str(private), *creds)
    assert half.code == 2 and "go together" in half.err


def test_missing_password_without_a_terminal(
    tmp_path: Path, shipstep, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("COSIGN_PASSWORD", raising=False)
    result = shipstep("keygen", "--output-prefix", str(tmp_path / "k"))
    assert result.code == 2 and "COSIGN_PASSWORD" in result.err
    assert not (tmp_path / "k.key").exists()
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    assert shipstep("keygen", "--output-prefix", str(tmp_path / "empty")).code == 0
    monkeypatch.delenv("COSIGN_PASSWORD")
    missing = shipstep("sign", "--image", "127.0.0.1:1/x:y", "--key", str(tmp_path / "empty.key"))
    assert missing.code == 2 and "COSIGN_PASSWORD" in missing.err
    monkeypatch.setenv("COSIGN_PASSWORD", "")
    assert (
        "does not exist"
        in shipstep("sign", "--image", "127.0.0.1:1/x:y", "--key", str(tmp_path / "nope.key")).err
    )
