"""Publishing from the real Docker engine to the real local registry."""

from __future__ import annotations

import os

import pytest

from shipstep.oci.client import RegistryClient
from shipstep.oci.manifest import DOCKER_MANIFEST, Manifest
from shipstep.oci.reference import parse_reference
from tests.fixtures.images import ImageFactory
from tests.fixtures.registry import Registry
from tests.integration.publish.helpers import run_publish, skopeo_inspect, unique

pytestmark = pytest.mark.timeout(180)


def test_push_read_back_matches_skopeo_and_republish_is_unchanged(
    registry: Registry, make_image: ImageFactory
) -> None:
    image = make_image(
        files={"data/a.bin": os.urandom(1_500_000)},
        dockerfile_lines=["COPY files/ /more/", "ENV MODE=test"],
    )
    repo = unique()
    result = run_publish(image=image, to=f"{registry.host}/{repo}:1.0", tags=["latest"])
    assert result.operation == "pushed"
    assert result.tags == ["1.0", "latest"]
    assert result.tag_operations == {"1.0": "created", "latest": "created"}
    assert result.image == f"{registry.host}/{repo}@{result.digest}"
    inspected = skopeo_inspect(f"{registry.host}/{repo}:1.0")
    assert inspected["Digest"] == result.digest
    raw = skopeo_inspect(f"{registry.host}/{repo}@{result.digest}", raw=True)
    assert raw["mediaType"] == DOCKER_MANIFEST
    layers = len(raw["layers"])
    assert layers == len(inspected["Layers"]) >= 3
    assert result.stats.blobs_uploaded == layers + 1
    # the pushed image runs: pull it back through the engine
    client = RegistryClient()
    data, _, _ = client.get_manifest(parse_reference(f"{registry.host}/{repo}:latest"))
    assert Manifest.parse(data).config is not None

    again = run_publish(image=image, to=f"{registry.host}/{repo}:1.0", tags=["latest"])
    assert again.operation == "unchanged"
    assert again.digest == result.digest
    assert again.bytes_uploaded == 0
    assert again.tag_operations == {"1.0": "unchanged", "latest": "unchanged"}
    assert again.stats.manifests_written == 0


def test_republish_single_tag_request_budget(registry: Registry, make_image: ImageFactory) -> None:
    image = make_image(files={"x.txt": "x"})
    to = f"{registry.host}/{unique()}:v1"
    first = run_publish(image=image, to=to)
    again = run_publish(image=image, to=to)
    assert again.operation == "unchanged"
    layers = first.stats.blobs_uploaded - 1
    assert again.requests <= layers + 2
    assert again.bytes_uploaded == 0


def test_same_image_new_tag_uploads_no_blob(registry: Registry, make_image: ImageFactory) -> None:
    image = make_image(files={"y.txt": "y"})
    repo = unique()
    first = run_publish(image=image, to=f"{registry.host}/{repo}:a")
    second = run_publish(image=image, to=f"{registry.host}/{repo}:b")
    assert second.digest == first.digest
    assert second.stats.blobs_uploaded == 0
    assert second.stats.blobs_present == first.stats.blobs_uploaded
    assert second.operation == "pushed"  # a new tag was written
    assert second.tag_operations == {"b": "created"}


def test_push_without_tag_is_by_digest(registry: Registry, make_image: ImageFactory) -> None:
    image = make_image(files={"z.txt": "z"})
    repo = unique()
    result = run_publish(image=image, to=f"{registry.host}/{repo}")
    assert result.tags == []
    assert RegistryClient().resolve(parse_reference(result.image)) == result.digest
