"""The bearer-token flow (`WWW-Authenticate: Bearer realm=...`) against the
real registry configured with token auth."""

from __future__ import annotations

import uuid

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
