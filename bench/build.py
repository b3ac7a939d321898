"""Benchmark: `shipstep build` against `docker build` (classic builder).

1. Wall time of the same context built by both, cold (--no-cache) and warm
   (everything cached), in alternating order; prints the ratio of medians
   (target: at most 1.05).
2. Peak RSS of `shipstep build` while streaming a build step that prints
   200 MB of log (target: under 100 MB), with `docker build`'s for reference.

Both tools get the same labels (shipstep's automatic OCI labels, fixed by
SOURCE_DATE_EPOCH), so that they do the same work; both run as fresh
processes with their output sent to /dev/null.

    /work/venv/bin/python bench/build.py [--runs 5] [--log-mb 200]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EPOCH = "1700000000"
CREATED = "2023-11-14T22:13:20Z"
IMPORTS = "import shipstep.cli, shipstep.steps.build"


def busybox() -> str:
    path = shutil.which("busybox")
    if path is None:
        sys.exit("busybox not found: install the Debian package busybox-static")
    return path


def write_context(directory: Path, files: int) -> Path:
    """A small but real project: a FROM scratch busybox base, sources, a few RUN steps."""
    directory.mkdir(parents=True)
    shutil.copy2(busybox(), directory / "busybox")
    src = directory / "src"
    src.mkdir()
    for index in range(files):
        (src / f"module_{index}.txt").write_text(f"module {index}\n" * 400)
    (directory / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "WORKDIR /app\n"
        "COPY src/ /app/src/\n"
        "RUN cat src/*.txt | wc -l > /app/lines && find /app -type f | wc -l\n"
        "RUN i=0; while [ $i -lt 2000 ]; do echo build step $i; i=$((i+1)); done\n"
        'CMD ["cat", "/app/lines"]\n'
    )
    return directory


def log_context(directory: Path, megabytes: int) -> Path:
    directory.mkdir(parents=True)
    shutil.copy2(busybox(), directory / "busybox")
    line = "x" * 99  # 100 bytes with the newline
    (directory / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        f"RUN yes {line} | head -c {megabytes * 1000 * 1000}\n"
    )
    return directory


def shipstep_argv(context: Path, tag: str, cold: bool) -> list[str]:
    argv = [sys.executable, "-m", "shipstep", "build", "--context", str(context), "--tag", tag]
    return argv + (["--no-cache"] if cold else [])


def docker_argv(context: Path, tag: str, cold: bool) -> list[str]:
    argv = [
        "docker",
        "build",
        "--tag",
        tag,
        "--label",
        f"org.opencontainers.image.created={CREATED}",
    ]
    argv += ["--label", "org.opencontainers.image.version=1", str(context)]
    return argv[:2] + (["--no-cache"] if cold else []) + argv[2:]


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process (its own rusage, via wait4).

    Both tools write their log to /dev/null (docker build to stdout, shipstep
    to stderr), so that neither waits on a reader."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"failed with exit code {process.returncode}; run it by hand to see why: {argv}")
    return elapsed, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="alternating pairs per case")
    parser.add_argument("--files", type=int, default=300, help="source files in the context")
    parser.add_argument("--log-mb", type=int, default=200, help="MB of build log for the RSS case")
    args = parser.parse_args()

    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": EPOCH,
        "DOCKER_BUILDKIT": "0",
        "PYTHONPATH": str(ROOT / "src"),
    }
    with tempfile.TemporaryDirectory(prefix="shipstep-bench-") as scratch:
        work = Path(scratch)
        context = write_context(work / "ctx", args.files)
        suffix = uuid.uuid4().hex[:8]
        tags = {
            "shipstep": f"shipstep-bench/ship-{suffix}:1",
            "docker": f"shipstep-bench/dock-{suffix}:1",
        }
        tools = {
            "shipstep": lambda cold: shipstep_argv(context, tags["shipstep"], cold),
            "docker": lambda cold: docker_argv(context, tags["docker"], cold),
        }
        try:
            for name in tools:  # one untimed build each: the warm cache exists from here on
                run(tools[name](False), env, work)
            starts: dict[str, list[float]] = {"shipstep": [], "docker": []}
            for _ in range(args.runs):
                starts["shipstep"].append(
                    run([sys.executable, "-m", "shipstep", "--version"], env, work)[0]
                )
                starts["docker"].append(run(["docker", "--version"], env, work)[0])
            ship_start = statistics.median(starts["shipstep"])
            dock_start = statistics.median(starts["docker"])
            print(
                f"process start (median): python + shipstep build's imports {ship_start:.3f}s, "
                f"docker --version {dock_start:.3f}s: a fixed {ship_start - dock_start:.2f}s "
                "in every shipstep build below"
            )
            for case, cold in (("cold", True), ("warm", False)):
                times: dict[str, list[float]] = {"shipstep": [], "docker": []}
                for index in range(args.runs):
                    order = ["shipstep", "docker"] if index % 2 == 0 else ["docker", "shipstep"]
                    for name in order:
                        times[name].append(run(tools[name](cold), env, work)[0])
                ship, dock = (
                    statistics.median(times["shipstep"]),
                    statistics.median(times["docker"]),
                )
                print(
                    f"{case} build ({args.runs} alternating runs, median): shipstep {ship:.2f}s, "
                    f"docker build {dock:.2f}s, ratio {ship / dock:.3f} (target <= 1.05)"
                )

            log = log_context(work / "log", args.log_mb)
            log_tags = [f"shipstep-bench/log-{suffix}:{n}" for n in ("ship", "dock")]
            tags.update(log_ship=log_tags[0], log_dock=log_tags[1])
            ship_time, ship_rss = run(shipstep_argv(log, log_tags[0], True), env, work)
            dock_time, dock_rss = run(
                ["docker", "build", "--no-cache", "--tag", log_tags[1], str(log)], env, work
            )
            print(
                f"{args.log_mb} MB build log: shipstep peak RSS {ship_rss / 1024:.1f} MB "
                f"(target < 100 MB), docker CLI {dock_rss / 1024:.1f} MB, "
                f"ratio {ship_rss / dock_rss:.2f}"
            )
            print(
                f"{args.log_mb} MB build log: shipstep {ship_time:.1f}s, docker build "
                f"{dock_time:.1f}s, ratio {ship_time / dock_time:.3f}"
            )
        finally:
            subprocess.run(
                ["docker", "image", "rm", "--force", *tags.values()],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )


if __name__ == "__main__":
    main()
