"""The registry client against the real local registry (distribution 2.8)."""

from __future__ import annotations

import io
import json
import os
import uuid

import pytest

from shipstep.oci.auth import StaticCredentials
from shipstep.oci.client import DigestMismatch, RegistryClient, RegistryError
from shipstep.oci.manifest import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    digest_of,
    encode_json,
)
from shipstep.oci.reference import Reference, parse_reference
from tests.fixtures.artifacts import push_artifact
from tests.fixtures.registry import Registry

pytestmark = pytest.mark.timeout(60)


def unique_repo(registry: Registry, prefix: str = "client") -> Reference:
    return parse_reference(f"{registry.host}/{prefix}/{uuid.uuid4().hex[:10]}:v1")


def push_image(client: RegistryClient, ref: Reference, layer: bytes) -> tuple[bytes, str]:
    config = encode_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    for blob in (config, layer):
        assert client.upload_blob(ref, blob, digest_of(blob), len(blob)) == "uploaded"
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
    return manifest, client.put_manifest(ref, manifest, OCI_MANIFEST)


def test_blob_and_manifest_round_trip(registry: Registry) -> None:
    client = RegistryClient()
    ref = unique_repo(registry)
    layer = os.urandom(300_000)
    manifest, digest = push_image(client, ref, layer)
    assert digest == digest_of(manifest)
    assert client.resolve(ref) == digest
    data, media_type, got = client.get_manifest(ref.with_digest(digest))
    assert (data, media_type, got) == (manifest, OCI_MANIFEST, digest)
    assert client.blob_exists(ref, digest_of(layer))
    with client.get_blob(ref, digest_of(layer)) as stream:
        assert b"".join(stream) == layer
    # idempotent: the blob is found by HEAD and not uploaded again
    before = client.stats.bytes_uploaded
    assert client.upload_blob(ref, layer, digest_of(layer), len(layer)) == "exists"
    assert client.stats.bytes_uploaded == before
    assert client.manifest_digest(ref.with_tag("absent")) is None
    with pytest.raises(RegistryError) as caught:
        client.get_manifest(ref.with_tag("absent"))
    assert caught.value.status == 404


def test_streamed_upload_from_file_and_mount(registry: Registry) -> None:
    client = RegistryClient()
    ref = unique_repo(registry)
    data = os.urandom(2_000_000)
    digest = digest_of(data)
    assert client.upload_blob(ref, lambda: io.BytesIO(data), digest, len(data)) == "uploaded"
    other = unique_repo(registry)
    assert (
        client.upload_blob(other, data, digest, len(data), mount_from=ref.repository) == "mounted"
    )
    assert client.blob_exists(other, digest)
    third = unique_repo(registry)
    assert client.mount_blob(third, digest, ref.repository)
    assert not client.mount_blob(third, digest_of(b"nope"), ref.repository)


def test_upload_with_wrong_digest_is_refused(registry: Registry) -> None:
    client = RegistryClient()
    ref = unique_repo(registry)
    with pytest.raises(DigestMismatch):
        client.upload_blob(ref, b"actual content", digest_of(b"other content"), 14)
    assert not client.blob_exists(ref, digest_of(b"other content"))


def test_get_blob_with_wrong_digest_fails(registry: Registry) -> None:
    """A blob whose stored bytes were corrupted on disk is detected on download."""
    client = RegistryClient()
    ref = unique_repo(registry)
    data = b"original content" * 100
    client.upload_blob(ref, data, digest_of(data), len(data))
    hexdigest = digest_of(data).split(":")[1]
    stored = next(registry.storage.rglob(f"blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"))
    stored.write_bytes(b"X" * len(data))
    with pytest.raises(DigestMismatch), client.get_blob(ref, digest_of(data)) as stream:
        b"".join(stream)


def test_tags_pagination(registry: Registry) -> None:
    client = RegistryClient()
    ref = unique_repo(registry)
    manifest, _ = push_image(client, ref, b"layer")
    for tag in ("a", "b", "c", "d", "e"):
        client.put_manifest(ref.with_tag(tag), manifest, OCI_MANIFEST)
    assert sorted(client.list_tags(ref, page_size=2)) == ["a", "b", "c", "d", "e", "v1"]
    assert client.list_tags(parse_reference(f"{registry.host}/never/pushed")) == []


def test_referrers_fall_back_to_the_tag_schema(registry: Registry) -> None:
    client = RegistryClient()
    ref = unique_repo(registry)
    _, subject_digest = push_image(client, ref, b"subject layer")
    payload = b'{"hello":"world"}'
    artifacts = []
    bodies = []
    for artifact_type in ("application/example.a", "application/example.b"):
        digest, artifact = push_artifact(
            client,
            ref,
            artifact_type,
            payload,
            subject_digest,
            annotations={"org.example": artifact_type},
        )
        artifacts.append(digest)
        bodies.append(artifact)
    # twice: the index is not duplicated
    client.put_manifest(ref.with_digest(artifacts[0]), bodies[0], OCI_MANIFEST)
    found = client.referrers(ref)
    assert [d.digest for d in found] == artifacts
    assert [d.artifact_type for d in found] == ["application/example.a", "application/example.b"]
    only_b = client.referrers(ref, artifact_type="application/example.b")
    assert [d.digest for d in only_b] == [artifacts[1]]
    data, media_type, _ = client.get_manifest(ref.with_tag("sha256-" + subject_digest[7:]))
    assert media_type == OCI_INDEX
    assert len(json.loads(data)["manifests"]) == 2
    other = unique_repo(registry)
    push_image(client, other, b"lonely")
    assert client.referrers(other) == []


def test_auth_registry_basic(auth_registry: Registry) -> None:
    assert auth_registry.username and auth_registry.password
    creds = StaticCredentials(auth_registry.username, auth_registry.password)
    client = RegistryClient(creds)
    ref = unique_repo(auth_registry)
    _, digest = push_image(client, ref, b"authenticated layer")
    assert client.resolve(ref) == digest


def test_auth_refused_names_the_source_not_the_secret(auth_registry: Registry) -> None:
    wrong = "definitely-wrong-password-123"
    client = RegistryClient(StaticCredentials("shipstep", wrong, source="--password flag"))
    ref = unique_repo(auth_registry)
    with pytest.raises(Exception) as caught:
        client.resolve(ref)
    message = str(caught.value) + (getattr(caught.value, "hint", "") or "")
    assert "--password flag" in message and "refused" in message
    assert wrong not in message


def test_auth_required_without_credentials(auth_registry: Registry) -> None:
    with pytest.raises(Exception) as caught:
        RegistryClient().resolve(unique_repo(auth_registry))
    assert "requires authentication" in str(caught.value)


def test_unreachable_registry() -> None:
    from tests.fixtures.services import free_port

    client = RegistryClient(retries=1, backoff=0.01)
    with pytest.raises(Exception) as caught:
        client.resolve(parse_reference(f"127.0.0.1:{free_port()}/app:1"))
    assert "Cannot reach registry" in str(caught.value)
