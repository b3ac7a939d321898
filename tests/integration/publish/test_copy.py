"""Copying images between repositories and registries, by digest."""

from __future__ import annotations

import os

import pytest

from shipstep.oci.client import RegistryClient
from shipstep.oci.manifest import (
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    Manifest,
    digest_of,
    encode_json,
)
from shipstep.oci.reference import Reference, parse_reference
from tests.fixtures.artifacts import artifact_manifest
from tests.fixtures.registry import Registry, RegistryFactory
from tests.integration.publish.helpers import run_publish, skopeo_inspect, unique

pytestmark = pytest.mark.timeout(120)


def push_platform_image(client: RegistryClient, ref: Reference, arch: str) -> tuple[str, int]:
    config = encode_json(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    layer = os.urandom(200_000)
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
    return client.put_manifest(ref.with_digest(digest_of(manifest)), manifest, OCI_MANIFEST), len(
        manifest
    )


def push_index(client: RegistryClient, ref: Reference) -> str:
    children = []
    for arch in ("amd64", "arm64"):
        digest, size = push_platform_image(client, ref, arch)
        children.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": size,
                "platform": {"architecture": arch, "os": "linux"},
            }
        )
    index = encode_json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    return client.put_manifest(ref, index, OCI_INDEX)


def sign(client: RegistryClient, repo: Reference, digest: str) -> tuple[str, str]:
    """A cosign-style `.sig` tag and an OCI 1.1 referrer for `digest`."""
    payload = encode_json({"critical": {"image": {"docker-manifest-digest": digest}}})
    client.upload_blob(repo, payload, digest_of(payload), len(payload))
    client.upload_blob(repo, EMPTY_JSON, EMPTY_JSON_DIGEST, len(EMPTY_JSON))
    sig = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": EMPTY_JSON_DIGEST, "size": 2},
            "layers": [
                {
                    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": digest_of(payload),
                    "size": len(payload),
                    "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="},
                }
            ],
        }
    )
    sig_digest = client.put_manifest(
        repo.with_tag("sha256-" + digest[7:] + ".sig"), sig, OCI_MANIFEST
    )
    referrer = artifact_manifest(
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        digest_of(payload),
        len(payload),
        digest,
        subject_media_type=OCI_INDEX,
    )
    referrer_digest = client.put_manifest(
        repo.with_digest(digest_of(referrer)), referrer, OCI_MANIFEST
    )
    return sig_digest, referrer_digest


def test_copy_index_between_registries_with_signatures(
    registry: Registry, make_registry: RegistryFactory
) -> None:
    client = RegistryClient()
    src = parse_reference(f"{registry.host}/{unique('src')}:2.0")
    digest = push_index(client, src)
    sig_digest, referrer_digest = sign(client, src.without_tag(), digest)
    other = make_registry()
    dest_repo = unique("dest")
    result = run_publish(source=str(src), to=f"{other.host}/{dest_repo}", with_signatures=True)
    assert result.digest == digest
    assert result.tags == ["2.0"]  # the source's tag when --to has none
    assert result.operation == "pushed"
    assert result.stats.manifests_written >= 3
    # every platform, byte for byte: skopeo sees the same raw index and children
    assert skopeo_inspect(f"{other.host}/{dest_repo}:2.0", raw=True) == skopeo_inspect(
        str(src), raw=True
    )
    assert skopeo_inspect(f"{other.host}/{dest_repo}:2.0")["Digest"] == digest
    dest = parse_reference(f"{other.host}/{dest_repo}")
    index = Manifest.parse(client.get_manifest(dest.with_digest(digest))[0])
    for child in index.manifests:
        assert client.manifest_digest(dest.with_digest(child.digest)) == child.digest
        for blob in Manifest.parse(client.get_manifest(dest.with_digest(child.digest))[0]).blobs():
            assert client.blob_exists(dest, blob.digest)
    assert client.resolve(dest.with_tag("sha256-" + digest[7:] + ".sig")) == sig_digest
    assert [d.digest for d in client.referrers(dest.with_digest(digest))] == [referrer_digest]
    assert len(result.signatures) == 2

    again = run_publish(source=str(src), to=f"{other.host}/{dest_repo}", with_signatures=True)
    assert again.operation == "unchanged"
    assert again.bytes_uploaded == 0


def test_copy_within_a_registry_mounts_blobs(registry: Registry) -> None:
    client = RegistryClient()
    src = parse_reference(f"{registry.host}/{unique('src')}:1")
    digest, _ = push_platform_image(client, src, "amd64")
    client.put_manifest(src, client.get_manifest(src.with_digest(digest))[0], OCI_MANIFEST)
    result = run_publish(
        source=f"{src.name}@{digest}", to=f"{registry.host}/{unique('promoted')}:prod"
    )
    assert result.stats.blobs_mounted == 2 and result.stats.blobs_uploaded == 0
    assert result.bytes_uploaded < 2000  # only the manifest
    assert result.tags == ["prod"]


def test_copy_from_missing_source(registry: Registry) -> None:
    from shipstep.oci.client import RegistryError

    with pytest.raises(RegistryError) as caught:
        run_publish(source=f"{registry.host}/{unique('none')}:1", to=f"{registry.host}/x:1")
    assert "not found" in caught.value.message


def test_corrupt_source_blob_is_not_copied(
    make_registry: RegistryFactory, registry: Registry
) -> None:
    from shipstep.oci.client import DigestMismatch

    source_registry = make_registry()
    client = RegistryClient()
    src = parse_reference(f"{source_registry.host}/{unique('src')}:1")
    digest, _ = push_platform_image(client, src, "amd64")
    client.put_manifest(src, client.get_manifest(src.with_digest(digest))[0], OCI_MANIFEST)
    layer = Manifest.parse(client.get_manifest(src)[0]).layers[0]
    hexdigest = layer.digest.split(":")[1]
    stored = next(source_registry.storage.rglob(f"blobs/sha256/{hexdigest[:2]}/{hexdigest}/data"))
    stored.write_bytes(os.urandom(layer.size))
    dest = parse_reference(f"{registry.host}/{unique('dest')}:1")
    with pytest.raises(DigestMismatch):
        run_publish(source=str(src), to=str(dest))
    assert client.manifest_digest(dest) is None
    assert not client.blob_exists(dest, layer.digest)
