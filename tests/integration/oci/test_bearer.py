"""The bearer-token flow (`WWW-Authenticate: Bearer realm=...`) against the
real registry configured with token auth."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from shipstep.errors import ShipstepError
from shipstep.oci.auth import StaticCredentials
from shipstep.oci.client import RegistryClient
from shipstep.oci.manifest import digest_of
from shipstep.oci.reference import parse_reference
from tests.fixtures.token_registry import SERVICE, TokenRegistry, token_registry

__all__ = ["token_registry"]

pytestmark = pytest.mark.timeout(60)


def test_push_and_pull_with_bearer_tokens(token_registry: TokenRegistry) -> None:
    client = RegistryClient(StaticCredentials(token_registry.username, token_registry.password))
    repo = parse_reference(f"{token_registry.host}/bearer/{uuid.uuid4().hex[:8]}:1")
    data = b"bearer blob"
    assert client.upload_blob(repo, data, digest_of(data), len(data)) == "uploaded"
    assert client.blob_exists(repo, digest_of(data))
    scopes = [q.get("scope") for q in token_registry.requests]
    assert [f"repository:{repo.repository}:pull,push"] in scopes
    assert all(q.get("service") == [SERVICE] for q in token_registry.requests)
    # tokens are cached per scope: more requests, no more token fetches
    fetched = len(token_registry.requests)
    for _ in range(3):
        assert client.blob_exists(repo, digest_of(data))
    assert len(token_registry.requests) <= fetched + 1


def test_refused_by_the_token_service(token_registry: TokenRegistry) -> None:
    client = RegistryClient(StaticCredentials("robot", "wrong-token-pass", source="--password"))
    with pytest.raises(ShipstepError) as caught:
        client.blob_exists(parse_reference(f"{token_registry.host}/bearer/x:1"), digest_of(b"x"))
    assert "refused the credentials from --password" in caught.value.message
    assert "wrong-token-pass" not in caught.value.diagnostic()


def test_insufficient_scope_is_access_denied(token_registry: TokenRegistry) -> None:
    from tests.fixtures.token_registry import READER

    client = RegistryClient(
        StaticCredentials(READER, token_registry.password, source="reader login")
    )
    repo = parse_reference(f"{token_registry.host}/bearer/{uuid.uuid4().hex[:8]}:1")
    assert not client.blob_exists(repo, digest_of(b"x"))  # pull is allowed
    with pytest.raises(ShipstepError) as caught:
        client.upload_blob(repo, b"x", digest_of(b"x"), 1)
    assert "denied access" in caught.value.message
    assert "reader login" in caught.value.message


def test_identity_token_from_docker_config(token_registry: TokenRegistry, tmp_path: Path) -> None:
    """`docker login` to an OAuth registry stores an identity (refresh) token;
    it is exchanged with the refresh_token grant, never sent to the registry."""
    from shipstep.oci.auth import DockerConfig
    from tests.fixtures.token_registry import REFRESH_TOKEN

    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"auths": {token_registry.host: {"auth": "", "identitytoken": REFRESH_TOKEN}}})
    )
    client = RegistryClient(DockerConfig(config))
    repo = parse_reference(f"{token_registry.host}/bearer/{uuid.uuid4().hex[:8]}:1")
    assert client.upload_blob(repo, b"oauth", digest_of(b"oauth"), 5) == "uploaded"
    assert any(q.get("grant_type") == ["refresh_token"] for q in token_registry.requests)
    config.write_text(
        json.dumps({"auths": {token_registry.host: {"identitytoken": "revoked-token"}}})
    )
    with pytest.raises(ShipstepError) as caught:
        RegistryClient(DockerConfig(config)).blob_exists(repo, digest_of(b"oauth"))
    assert f"docker config {config}" in caught.value.message
    assert "revoked-token" not in caught.value.diagnostic()
