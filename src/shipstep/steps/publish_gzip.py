"""Parallel, deterministic gzip for layers (the technique of pigz).

The input is cut into 1 MiB blocks that threads compress independently
(zlib releases the GIL), each primed with the previous block's last 32 KiB
as a dictionary and ended with a sync flush, so that their concatenation is
one ordinary deflate stream in one gzip member, readable by every gzip
decoder. A block that a quick probe finds incompressible (already
compressed data) is stored rather than deflated, which is what makes
incompressible layers cheap; Go's compressor, used by `docker push`, has the
same shortcut. The header has no timestamp or name, so the same input always
gives the same bytes and digest.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO

BLOCK = 1 << 20
WINDOW = 32 * 1024
PROBE = 64 * 1024
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no flags, mtime 0, OS unknown


def _deflate(block: bytes, dictionary: bytes, level: int) -> bytes:
    if level and len(block) > PROBE:
        probe = zlib.compressobj(1, zlib.DEFLATED, -15)
        sample = block[:PROBE]
        if len(probe.compress(sample) + probe.flush(zlib.Z_SYNC_FLUSH)) > len(sample) * 0.97:
            level = 0
    if dictionary:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15, zdict=dictionary)
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    return compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)


def gzip_stream(
    source: IO[bytes],
    write: Callable[[bytes], object],
    *,
    level: int = 1,
    threads: int | None = None,
) -> str:
    """Compress `source` into `write`; returns the sha256 digest of the
    uncompressed input."""
    raw = hashlib.sha256()
    crc = 0
    size = 0
    workers = threads or min(4, os.cpu_count() or 1)
    write(HEADER)
    pending: deque[Future[bytes]] = deque()
    previous = b""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while block := source.read(BLOCK):
            raw.update(block)
            crc = zlib.crc32(block, crc)
            size += len(block)
            pending.append(pool.submit(_deflate, block, previous[-WINDOW:], level))
            previous = block
            while len(pending) > workers * 2:
                write(pending.popleft().result())
        while pending:
            write(pending.popleft().result())
    final = zlib.compressobj(level, zlib.DEFLATED, -15)
    write(final.flush(zlib.Z_FINISH))
    write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return "sha256:" + raw.hexdigest()
