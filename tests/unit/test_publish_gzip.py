"""The parallel gzip writer produces standard, deterministic gzip."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import zlib

import pytest

from shipstep.steps.publish_gzip import gzip_stream

TEXT = b"".join(b"line %d of some fairly repetitive text\n" % i for i in range(120_000))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"tiny",
        TEXT,
        os.urandom(3_500_000),
        TEXT[:1_500_000] + os.urandom(1_200_000) + TEXT[:900_000],
    ],
    ids=["empty", "tiny", "text", "random", "mixed"],
)
@pytest.mark.parametrize("threads", [1, 3])
def test_round_trip_and_determinism(data: bytes, threads: int) -> None:
    out = io.BytesIO()
    diff_id = gzip_stream(io.BytesIO(data), out.write, level=1, threads=threads)
    compressed = out.getvalue()
    assert diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert gzip.decompress(compressed) == data
    assert zlib.decompress(compressed, 47) == data  # zlib's own gzip decoder
    # the system's gzip accepts it too (CRC and length trailer checked)
    done = subprocess.run(["gzip", "-t"], input=compressed, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    again = io.BytesIO()
    gzip_stream(io.BytesIO(data), again.write, level=1, threads=2)
    assert again.getvalue() == compressed
    if data is TEXT:
        assert len(compressed) < len(data) / 4
    if len(data) > 3_000_000 and data[:100] != TEXT[:100]:
        assert len(compressed) < len(data) * 1.01  # stored, not inflated
