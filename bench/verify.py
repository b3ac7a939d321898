"""Benchmark of `shipstep verify`: how long after the API server marks a
rollout failed (ProgressDeadlineExceeded) does verify report it?

Against the Kubernetes API stand-in, in one script:
- shipstep verify watching (the default), 50 runs;
- shipstep verify polling (`--no-watch`) at the same poll interval, for contrast;
- the peer: `kubectl rollout status` (which also watches), run as a process.
The failure moment is taken inside the stand-in, when it writes the
Deployment status carrying ProgressDeadlineExceeded. Prints medians and the
ratio to the configured poll interval (target: well under 1 when watching).

    .venv/bin/python bench/verify.py [--runs 50] [--poll-interval 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]  # the stand-in and helpers live in tests/

from shipstep.cluster.access import ClusterOptions, connect  # noqa: E402
from shipstep.steps.verify.expected import parse_expected  # noqa: E402
from shipstep.steps.verify.report import Status  # noqa: E402
from shipstep.steps.verify.rollout import Targets  # noqa: E402
from shipstep.steps.verify.wait import WaitOptions, wait_for_cluster  # noqa: E402
from tests.integration.verify.cluster_helpers import (  # noqa: E402
    NAMESPACE,
    NEW,
    OLD,
    REPO,
    deployment,
    namespace,
    running,
    set_image,
)
from tests.kube_standin.standin import KubeStandin  # noqa: E402

FAIL_AFTER = 1.0  # seconds from the rollout's start to ProgressDeadlineExceeded


def prepare(kube: KubeStandin) -> list[float]:
    """A Deployment running OLD, about to fail rolling out NEW; returns the
    list that receives the moment the failure is written."""
    kube.reset()
    kube.seed(namespace(NAMESPACE), deployment(OLD))
    kube.wait(lambda: running(kube, OLD), what="old pods")
    kube.settle()
    kube.knobs.rollout("fail", image=NEW, deadline=FAIL_AFTER)
    marked: list[float] = []
    store = kube.store
    record = store._record

    def timed(rtype: Any, kind: str, obj: dict[str, Any], old: Any = None) -> None:
        record(rtype, kind, obj, old)
        conditions = (obj.get("status") or {}).get("conditions") or []
        if (
            not marked
            and obj.get("kind") == "Deployment"
            and any(c.get("reason") == "ProgressDeadlineExceeded" for c in conditions)
        ):
            marked.append(time.perf_counter())

    store._record = timed  # type: ignore[method-assign]
    return marked


def run_shipstep(kube: KubeStandin, poll: float, watch: bool) -> float:
    marked = prepare(kube)
    set_image(kube, NEW)
    with connect(ClusterOptions(kubeconfig=Path(kube.kubeconfig))) as cluster:
        checks = wait_for_cluster(
            cluster,
            Targets.of(NAMESPACE, ["web"], None),
            parse_expected([f"{REPO}@{NEW}"]),
            None,
            WaitOptions(timeout=60, poll_interval=poll, watch=watch),
        )
        done = time.perf_counter()
    health = next(c for c in checks if c.kind == "health")
    assert health.status is Status.FAILED and "Progress deadline" in health.summary, checks
    return done - marked[0]


def run_kubectl(kube: KubeStandin) -> float:
    marked = prepare(kube)
    set_image(kube, NEW)
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kube.kubeconfig),
            "rollout",
            "status",
            "deployment/web",
            "-n",
            NAMESPACE,
            "--timeout=60s",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    end = time.perf_counter()
    assert done.returncode == 1 and "exceeded its progress deadline" in done.stderr, done.stderr
    return end - marked[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--peer-runs", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    kube = KubeStandin(workdir / "kubeconfig")
    try:
        # One unmeasured run of each: imports, connections and caches warm up.
        run_shipstep(kube, args.poll_interval, True)
        run_shipstep(kube, args.poll_interval, False)
        watch = [run_shipstep(kube, args.poll_interval, True) for _ in range(args.runs)]
        poll = [run_shipstep(kube, args.poll_interval, False) for _ in range(args.peer_runs)]
        kubectl = (
            [run_kubectl(kube) for _ in range(args.peer_runs)] if shutil.which("kubectl") else []
        )
    finally:
        kube.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    med = statistics.median(watch)
    print(f"runs: {len(watch)} (watch), {len(poll)} (poll), {len(kubectl)} (kubectl)")
    print(
        f"shipstep verify (watch) failure-to-report median: {med * 1000:.1f} ms "
        f"(min {min(watch) * 1000:.1f} ms, max {max(watch) * 1000:.1f} ms)"
    )
    print(f"ratio to the poll interval ({args.poll_interval:g} s): {med / args.poll_interval:.4f}")
    pmed = statistics.median(poll)
    print(
        f"shipstep verify --no-watch median: {pmed * 1000:.1f} ms; ratio to the poll interval: "
        f"{pmed / args.poll_interval:.3f}; watch/poll: {med / pmed:.4f}"
    )
    if kubectl:
        kmed = statistics.median(kubectl)
        print(
            f"peer kubectl rollout status median: {kmed * 1000:.1f} ms (includes its process exit); "
            f"shipstep/kubectl: {med / kmed:.3f}"
        )
    else:
        print("peer kubectl rollout status: kubectl not installed")


if __name__ == "__main__":
    main()
