"""Benchmark `shipstep publish` against its peers, run alternately in one script.

    python bench/publish.py                      # defaults: a few minutes
    python bench/publish.py --layer-mb 60 --layers 4 --rounds 5 --big-layer-mb 1024

Figures (one line each, with the ratio to the peer):
1. push from the engine: `shipstep publish --image` vs `docker push`, each to
   a fresh registry (so neither can mount or skip blobs): wall time ratio;
2. registry to registry: `shipstep publish --from` vs `skopeo copy`, to a
   fresh registry: wall time ratio;
3. re-publishing an unchanged image: bytes of blob uploads, requests, manifest PUTs;
4. peak RSS of the process copying an image with one big layer
   (`shipstep publish --from` vs `skopeo copy`).

Needs the Docker engine, Debian's docker-registry and skopeo.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from shipstep.oci.client import RegistryClient  # noqa: E402
from shipstep.oci.manifest import (  # noqa: E402
    OCI_CONFIG,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    digest_of,
    encode_json,
)
from shipstep.oci.reference import parse_reference  # noqa: E402
from shipstep.progress import NullReporter  # noqa: E402
from shipstep.steps.publish import PublishInputs, publish  # noqa: E402
from tests.fixtures.registry import start_registry  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
SHIPSTEP = [sys.executable, "-m", "shipstep"]


@contextmanager
def fresh_registry(base: Path) -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(dir=base))
    registry, service = start_registry(directory)
    try:
        yield registry.host
    finally:
        service.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(argv: list[str]) -> tuple[float, int]:
    """Wall time and peak RSS (KiB, the process's VmHWM) of one process.

    (`ru_maxrss` from wait4 would report the parent's RSS at fork time for a
    small child, so the high-water mark is sampled from /proc instead.)"""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _hwm_kib(process.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({process.returncode}):\n{stderr[-2000:]}")
    return elapsed, peak


def build_image(client: docker.DockerClient, base: Path, layers: int, layer_mb: int) -> str:
    context = base / "context"
    context.mkdir()
    lines = ["FROM scratch"]
    for index in range(layers):
        with (context / f"layer{index}.bin").open("wb") as handle:
            for _ in range(layer_mb):
                handle.write(os.urandom(1 << 20))
        lines.append(f"COPY layer{index}.bin /data/layer{index}.bin")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")
    tag = f"shipstep-bench/publish:{uuid.uuid4().hex[:8]}"
    client.images.build(path=str(context), tag=tag, rm=True)
    shutil.rmtree(context)
    return tag


def alternate(
    rounds: int, ours: Callable[[], float], peer: Callable[[], float]
) -> tuple[float, float]:
    mine: list[float] = []
    theirs: list[float] = []
    for index in range(rounds):
        # alternate which goes first, so that caches and noise favour neither
        pair = (ours, peer) if index % 2 == 0 else (peer, ours)
        for function in pair:
            (mine if function is ours else theirs).append(function())
    return statistics.median(mine), statistics.median(theirs)


def push_big_layer(host: str, size_mb: int) -> str:
    client = RegistryClient()
    ref = parse_reference(f"{host}/big/layer:1")
    config = encode_json({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}})
    client.upload_blob(ref, config, digest_of(config), len(config))
    block = os.urandom(1 << 20)
    digest_hasher = __import__("hashlib").sha256()
    for index in range(size_mb):
        digest_hasher.update(block[:-8] + index.to_bytes(8, "big"))
    digest = "sha256:" + digest_hasher.hexdigest()

    def chunks() -> Iterator[bytes]:
        for index in range(size_mb):
            yield block[:-8] + index.to_bytes(8, "big")

    client.upload_blob(ref, chunks, digest, size_mb << 20)
    manifest = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": size_mb << 20}],
        }
    )
    client.put_manifest(ref, manifest, OCI_MANIFEST)
    return str(ref)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--layer-mb", type=int, default=30, help="incompressible MB per layer")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--big-layer-mb", type=int, default=1024)
    args = parser.parse_args()

    engine = docker.from_env()
    base = Path(tempfile.mkdtemp(prefix="shipstep-bench-"))
    tag = build_image(engine, base, args.layers, args.layer_mb)
    print(f"image: {args.layers} layers of {args.layer_mb} MB incompressible data ({tag})")
    try:
        # 1. engine push
        def shipstep_push() -> float:
            with fresh_registry(base) as host:
                return run([*SHIPSTEP, "publish", "--image", tag, "--to", f"{host}/bench/app:1"])[0]

        def docker_push() -> float:
            with fresh_registry(base) as host:
                target = f"{host}/bench/app:1"
                engine.images.get(tag).tag(target)
                try:
                    return run(["docker", "push", target])[0]
                finally:
                    engine.images.remove(target)

        ours, peer = alternate(args.rounds, shipstep_push, docker_push)
        print(
            f"push from engine: shipstep {ours:.2f}s, docker push {peer:.2f}s, ratio {ours / peer:.2f} (target <= 1.1)"
        )

        # 2. registry to registry, and 3. re-publish
        with fresh_registry(base) as source_host:
            source = f"{source_host}/bench/app:1"
            publish(PublishInputs(to=source, image=tag), reporter=NullReporter())

            def shipstep_copy() -> float:
                with fresh_registry(base) as host:
                    return run(
                        [*SHIPSTEP, "publish", "--from", source, "--to", f"{host}/bench/copy:1"]
                    )[0]

            def skopeo_copy() -> float:
                with fresh_registry(base) as host:
                    return run(
                        [
                            "skopeo",
                            "copy",
                            "--src-tls-verify=false",
                            "--dest-tls-verify=false",
                            f"docker://{source}",
                            f"docker://{host}/bench/copy:1",
                        ]
                    )[0]

            ours, peer = alternate(args.rounds, shipstep_copy, skopeo_copy)
            print(
                f"registry to registry: shipstep {ours:.2f}s, skopeo copy {peer:.2f}s, ratio {ours / peer:.2f} (target <= 1.0)"
            )

            again = publish(PublishInputs(to=source, image=tag), reporter=NullReporter())
            puts = again.stats.manifests_written
            print(
                f"re-publish unchanged: operation {again.operation}, {again.bytes_uploaded} bytes of uploads (target 0), "
                f"{again.requests} requests (target <= layers + 2 = {args.layers + 2}), {puts} manifest PUTs (target 0)"
            )

        # 4. peak RSS copying one big layer
        with fresh_registry(base) as source_host:
            big = push_big_layer(source_host, args.big_layer_mb)
            with fresh_registry(base) as host:
                _, ours_rss = run(
                    [*SHIPSTEP, "publish", "--from", big, "--to", f"{host}/big/copy:1"]
                )
            with fresh_registry(base) as host:
                _, peer_rss = run(
                    [
                        "skopeo",
                        "copy",
                        "--src-tls-verify=false",
                        "--dest-tls-verify=false",
                        f"docker://{big}",
                        f"docker://{host}/big/copy:1",
                    ]
                )
        print(
            f"peak RSS copying a {args.big_layer_mb} MB layer: shipstep {ours_rss / 1024:.0f} MB, "
            f"skopeo {peer_rss / 1024:.0f} MB, ratio {ours_rss / peer_rss:.2f} (target < 100 MB)"
        )
    finally:
        engine.images.remove(tag, force=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
