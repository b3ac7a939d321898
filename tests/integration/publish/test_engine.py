"""Exporting images from the real Docker engine."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest

from shipstep.errors import InputError, ShipstepError
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


class _SavedImage:
    """The engine's `GET /images/{id}/get` answer replayed from bytes: used to
    feed the exporter a `docker save` archive as a containerd-store engine
    writes it (layers already gzip-compressed), which this engine cannot make."""

    def __init__(self, archive: bytes) -> None:
        self.archive = archive
        self.api = self

    def get_image(self, image: str, chunk_size: int) -> Iterator[bytes]:
        for start in range(0, len(self.archive), chunk_size):
            yield self.archive[start : start + chunk_size]


def _rewrite_layers(archive: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """A `docker save` archive with `change` applied to every layer tar."""
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as source,
        tarfile.open(fileobj=out, mode="w") as target,
    ):
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
            if data is not None and member.name.endswith("layer.tar"):
                data = change(data)
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _two_gzip_members(data: bytes) -> bytes:
    half = len(data) // 2
    return gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)


def test_export_of_already_compressed_layers(
    docker_client: docker.DockerClient, make_image: ImageFactory, tmp_path: Path
) -> None:
    tag = make_image(files={"big.bin": os.urandom(1_500_000)})
    image_id = local_image_id(docker_client, tag)
    saved = b"".join(docker_client.api.get_image(image_id, chunk_size=1 << 20))
    compressed = _rewrite_layers(saved, _two_gzip_members)
    exported = export_image(_SavedImage(compressed), image_id, tmp_path)  # type: ignore[arg-type]
    config = json.loads(exported.config.data or b"")
    for layer, diff_id in zip(exported.layers, config["rootfs"]["diff_ids"], strict=True):
        data = layer.path.read_bytes() if layer.path else layer.data
        assert data is not None and data[:2] == b"\x1f\x8b"
        assert "sha256:" + hashlib.sha256(data).hexdigest() == layer.digest
        assert "sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest() == diff_id
    # a truncated compressed layer is refused, not pushed
    truncated = _rewrite_layers(
        saved, lambda data: _two_gzip_members(data)[:-5000] if len(data) > 1_000_000 else data
    )
    with pytest.raises(ShipstepError, match=r"truncated|does not match"):
        export_image(_SavedImage(truncated), image_id, tmp_path)  # type: ignore[arg-type]
