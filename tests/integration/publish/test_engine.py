"""Exporting images from the real Docker engine."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import docker
import pytest

from shipstep.errors import InputError
from shipstep.steps.publish_engine import export_image, local_image_id
from tests.fixtures.images import ImageFactory

pytestmark = pytest.mark.timeout(120)


def test_export_is_deterministic_and_matches_the_config(
    docker_client: docker.DockerClient, make_image: ImageFactory, tmp_path: Path
) -> None:
    tag = make_image(files={"big.bin": os.urandom(2_500_000), "small.txt": "s"})
    image_id = local_image_id(docker_client, tag)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = export_image(docker_client, image_id, tmp_path / "a")
    second = export_image(docker_client, image_id, tmp_path / "b")
    assert first.manifest == second.manifest
    assert first.digest == second.digest
    config = json.loads(first.config.data or b"")
    assert first.config.digest == image_id
    assert len(first.layers) == len(config["rootfs"]["diff_ids"]) >= 2
    spooled = [layer for layer in first.layers if layer.path is not None]
    assert spooled, "the 2.5 MB layer is spooled to disk, not kept in memory"
    for layer, diff_id in zip(first.layers, config["rootfs"]["diff_ids"], strict=True):
        data = layer.path.read_bytes() if layer.path else layer.data
        assert data is not None
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.digest
        assert len(data) == layer.size
        assert "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest() == diff_id


def test_unknown_and_invalid_local_images(docker_client: docker.DockerClient) -> None:
    with pytest.raises(InputError) as caught:
        local_image_id(docker_client, "shipstep-test/does-not-exist:1")
    assert "has no image" in caught.value.message
    with pytest.raises(InputError):
        local_image_id(docker_client, "bad name")
