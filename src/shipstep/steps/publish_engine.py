"""Read an image out of the Docker engine for publishing, without holding
its layers in memory.

`export_image(client, name, workdir)` streams `docker save` (the engine's
`GET /images/{name}/get`) through `tarfile` in stream mode. Each layer is
gzip-compressed on the fly (deterministically: no timestamp or name in the
gzip header, so the same layer always gives the same digest) into a file in
`workdir`, while its uncompressed digest is checked against the image
config's `rootfs.diff_ids`. The result lists blobs with their digests and
sizes and a factory that reopens each for (re)upload, plus the Docker v2
manifest that describes them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import docker
import docker.errors
import requests

from shipstep.errors import InputError, ShipstepError
from shipstep.oci.manifest import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST,
    digest_of,
    encode_json,
)
from shipstep.oci.transport import Body
from shipstep.progress import NullReporter, Reporter
from shipstep.steps.publish_gzip import gzip_stream

SMALL = 1 << 20  # members up to this size are kept in memory (configs, tiny layers)
COPY = 1 << 20


@dataclass
class LocalBlob:
    media_type: str
    digest: str
    size: int
    path: Path | None = None
    data: bytes | None = field(default=None, repr=False)

    def source(self) -> Body:
        if self.data is not None:
            return self.data
        path = self.path
        assert path is not None

        def reopen() -> IO[bytes]:
            return path.open("rb")

        return reopen

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass
class ExportedImage:
    image_id: str
    config: LocalBlob
    layers: list[LocalBlob]
    manifest: bytes
    media_type: str = DOCKER_MANIFEST

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def blobs(self) -> list[LocalBlob]:
        return [self.config, *self.layers]


class _IterReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class _HashingWriter:
    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)

    def flush(self) -> None:
        self.target.flush()


@dataclass
class _Spooled:
    path: Path
    digest: str  # of the gzip stream
    size: int
    diff_id: str  # of the uncompressed tar


def _compress(source: IO[bytes], target: IO[bytes], level: int) -> tuple[str, int, str]:
    """gzip `source` into `target`; (compressed digest, compressed size, raw digest)."""
    writer = _HashingWriter(target)
    diff_id = gzip_stream(source, writer.write, level=level)
    return "sha256:" + writer.hasher.hexdigest(), writer.size, diff_id


GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _refuse_unsupported(magic: bytes, name: str) -> None:
    if magic == ZSTD_MAGIC:
        raise ShipstepError(
            f"`docker save` gave the zstd-compressed layer {name}, which shipstep cannot push yet.",
            hint="Rebuild the image with gzip compression, or push it with `docker push` and use --from.",
        )


def _copy_compressed(source: IO[bytes], target: IO[bytes]) -> tuple[str, int, str]:
    """Copy an already gzip-compressed layer; (digest, size, diff ID of its content)."""
    writer = _HashingWriter(target)
    raw = hashlib.sha256()
    inflater = zlib.decompressobj(47)
    while chunk := source.read(COPY):
        writer.write(chunk)
        while chunk:
            raw.update(inflater.decompress(chunk))
            chunk = b""
            if inflater.eof and inflater.unused_data:  # the next gzip member
                chunk = inflater.unused_data
                inflater = zlib.decompressobj(47)
    raw.update(inflater.flush())
    if not inflater.eof:
        raise ShipstepError("A compressed layer from the Docker engine is truncated.")
    return "sha256:" + writer.hasher.hexdigest(), writer.size, "sha256:" + raw.hexdigest()


def local_image_id(client: docker.DockerClient, name: str) -> str:
    """The image ID (config digest) of a local image; `InputError` if unknown."""
    if not name.strip() or any(c.isspace() for c in name):
        raise InputError(
            f"Invalid local image name {name!r}.",
            hint="Pass a local tag such as app:1.0 or an image ID.",
        )
    try:
        return str(client.images.get(name).id)
    except docker.errors.ImageNotFound:
        raise InputError(
            f"The Docker engine has no image {name!r}.",
            hint="Build it first (shipstep build), or check the name with `docker images`.",
            title="Unknown local image",
        ) from None
    except docker.errors.APIError as error:
        raise ShipstepError(
            f"The Docker engine refused to look up image {name!r}: {error.explanation}"
        ) from None
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise ShipstepError(
            f"Cannot reach the Docker engine: {error.__class__.__name__}.",
            hint="Check DOCKER_HOST and that the engine is running.",
        ) from None


def export_image(
    client: docker.DockerClient,
    image_id: str,
    workdir: Path,
    *,
    compresslevel: int = 1,
    reporter: Reporter | None = None,
) -> ExportedImage:
    reporter = reporter or NullReporter()
    small: dict[str, bytes] = {}
    spooled: dict[str, _Spooled] = {}
    links: dict[str, str] = {}
    try:
        with reporter.task(f"export {image_id[7:19]}") as task:
            chunks = _advancing(client.api.get_image(image_id, chunk_size=COPY), task.advance)
            _read_archive(chunks, workdir, compresslevel, reporter, small, spooled, links)
    except docker.errors.APIError as error:
        raise ShipstepError(
            f"The Docker engine failed to export {image_id}: {error.explanation}"
        ) from None
    except (tarfile.TarError, requests.RequestException, OSError) as error:
        raise ShipstepError(
            f"Reading image {image_id} from the Docker engine failed: {error}"
        ) from None
    return _assemble(image_id, small, spooled, links, workdir, compresslevel)


def _advancing(chunks: Iterable[bytes], advance: Callable[[float], None]) -> Iterator[bytes]:
    for chunk in chunks:
        advance(len(chunk))
        yield chunk


def _read_archive(
    chunks: Iterable[bytes],
    workdir: Path,
    compresslevel: int,
    reporter: Reporter,
    small: dict[str, bytes],
    spooled: dict[str, _Spooled],
    links: dict[str, str],
) -> None:
    """Spool the members of a `docker save` stream: small ones in memory,
    layers compressed to files in `workdir`."""
    with tarfile.open(fileobj=_IterReader(chunks), mode="r|") as archive:
        for member in archive:
            name = posixpath.normpath(member.name)
            if member.issym() or member.islnk():
                base = posixpath.dirname(name) if member.issym() else ""
                links[name] = posixpath.normpath(posixpath.join(base, member.linkname))
                continue
            if not member.isfile():
                continue
            extracted = archive.extractfile(member)
            assert extracted is not None
            if member.size <= SMALL:
                small[name] = extracted.read()
                continue
            path = workdir / f"blob-{len(spooled)}.gz"
            magic = extracted.peek(4)[:4]  # type: ignore[attr-defined]
            _refuse_unsupported(magic, name)
            with path.open("wb") as target:
                if magic[:2] == GZIP_MAGIC:
                    # An engine with the containerd image store exports the
                    # layers as they were pulled: already compressed.
                    digest, size, diff_id = _copy_compressed(extracted, target)
                else:
                    digest, size, diff_id = _compress(extracted, target, compresslevel)
            spooled[name] = _Spooled(path, digest, size, diff_id)
            reporter.log(f"{name}: {member.size} -> {size} bytes")


def _assemble(
    image_id: str,
    small: dict[str, bytes],
    spooled: dict[str, _Spooled],
    links: dict[str, str],
    workdir: Path,
    level: int,
) -> ExportedImage:
    def resolve(name: str) -> str:
        name = posixpath.normpath(name)
        for _ in range(10):
            if name not in links:
                return name
            name = links[name]
        raise ShipstepError(f"`docker save` output has a symlink loop at {name}.")

    try:
        entries = json.loads(small["manifest.json"])
        entry = entries[0]
        config_name = resolve(entry["Config"])
        layer_names = [resolve(n) for n in entry["Layers"]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise ShipstepError(
            "The Docker engine exported an image without a readable manifest.json."
        ) from None
    if config_name in small:
        config_bytes = small[config_name]
    else:
        with gzip.open(spooled[config_name].path, "rb") as handle:
            config_bytes = handle.read()
    config_digest = digest_of(config_bytes)
    if config_digest != image_id:
        raise ShipstepError(
            f"The exported image config has digest {config_digest}, not the image ID {image_id}.",
            hint="The image changed while it was exported; retry.",
        )
    diff_ids = json.loads(config_bytes).get("rootfs", {}).get("diff_ids", [])
    layers: list[LocalBlob] = []
    for index, name in enumerate(layer_names):
        if name in spooled:
            item = spooled[name]
            blob = LocalBlob(DOCKER_LAYER_GZIP, item.digest, item.size, path=item.path)
            diff_id = item.diff_id
        elif name in small:
            raw = small[name]
            _refuse_unsupported(raw[:4], name)
            if raw[:2] == GZIP_MAGIC:
                data = raw
                diff_id = _copy_compressed(io.BytesIO(raw), io.BytesIO())[2]
            else:
                diff_id = digest_of(raw)
                buffer = io.BytesIO()
                gzip_stream(io.BytesIO(raw), buffer.write, level=level, threads=1)
                data = buffer.getvalue()
            blob = LocalBlob(DOCKER_LAYER_GZIP, digest_of(data), len(data), data=data)
        else:
            raise ShipstepError(f"`docker save` output lacks the layer {name}.")
        if index >= len(diff_ids) or diff_ids[index] != diff_id:
            raise ShipstepError(
                f"Layer {index + 1} of {image_id} does not match the image config (diff ID {diff_id}).",
                hint="The image changed while it was exported; retry.",
            )
        layers.append(blob)
    config = LocalBlob(DOCKER_CONFIG, config_digest, len(config_bytes), data=config_bytes)
    manifest = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": config.descriptor(),
            "layers": [layer.descriptor() for layer in layers],
        }
    )
    return ExportedImage(image_id, config, layers, manifest)
