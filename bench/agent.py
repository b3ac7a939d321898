"""Benchmark of the pull agent against the Kubernetes API stand-in.

    python bench/agent.py [--objects 4000] [--latency-runs 5]

Starts the stand-in (`python -m tests.kube_standin`) and the agent
(`python -m shipstep agent`) as separate processes, with a real git
repository holding a revision of N objects across several kinds, and prints
one line per figure:

- cold apply: write and read requests per object (target writes <= 1.05),
  agent CPU seconds per 1,000 objects (process total, startup included);
- no-op reconcile of the running agent: writes (target 0) and total requests
  (target <= kinds + 2);
- peak RSS of the agent (VmHWM, target < 120 MiB);
- commit-to-applied latency through the webhook (median, no poll interval);
- the peer: Flux's approach (one server-side dry-run apply per object to find
  drift, plus one apply per changed object), RUN against the same stand-in
  and revision, with its request counts and the ratios.

Signature verification is off here (no registry); the gate's cost is
measured by bench/sign.py. Not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import yaml  # noqa: E402

from shipstep.agent.kube import Cluster, load_client  # noqa: E402
from shipstep.agent.validate import ResourceInfo  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
GIT_ENV = {
    **ENV,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
DIGEST = "sha256:" + "ab" * 32
NAMESPACES = 4
SECRET = b"bench-webhook-secret"

INFOS = {
    "Namespace": ResourceInfo("", "v1", "Namespace", "namespaces", False),
    "ConfigMap": ResourceInfo("", "v1", "ConfigMap", "configmaps", True),
    "Secret": ResourceInfo("", "v1", "Secret", "secrets", True),
    "Service": ResourceInfo("", "v1", "Service", "services", True),
    "ServiceAccount": ResourceInfo("", "v1", "ServiceAccount", "serviceaccounts", True),
    "Deployment": ResourceInfo("apps", "v1", "Deployment", "deployments", True),
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout.strip()


def objects(total: int) -> list[dict[str, Any]]:
    """`total` objects: 4 Namespaces, then ConfigMaps, Secrets, Services,
    ServiceAccounts and Deployments (5 % of them) spread over the namespaces."""
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}}
        for n in range(NAMESPACES)
    ]
    deployments = max(1, total // 20)
    rest = total - NAMESPACES - deployments
    kinds = ["ConfigMap", "ConfigMap", "Secret", "Service", "ServiceAccount"]
    for i in range(rest):
        kind = kinds[i % len(kinds)]
        meta = {
            "name": f"{kind.lower()}-{i}",
            "namespace": f"bench-{i % NAMESPACES}",
            "labels": {"app": f"a{i % 50}"},
        }
        obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": meta}
        if kind == "ConfigMap":
            obj["data"] = {"config.yaml": f"value: {i}\nlist: [1, 2, 3]\n", "index": str(i)}
        elif kind == "Secret":
            obj["type"] = "Opaque"
            obj["stringData"] = {"password": f"pw-{i}"}
        elif kind == "Service":
            obj["spec"] = {
                "selector": {"app": f"a{i % 50}"},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            }
        out.append(obj)
    for i in range(deployments):
        labels = {"app": f"web-{i}"}
        out.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"web-{i}", "namespace": f"bench-{i % NAMESPACES}"},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": f"registry.example/app@{DIGEST}",
                                    "resources": {"requests": {"cpu": "10m"}},
                                }
                            ]
                        },
                    },
                },
            }
        )
    return out


def write_revision(work: Path, objs: list[dict[str, Any]]) -> None:
    manifests = work / "manifests"
    shutil.rmtree(manifests, ignore_errors=True)
    manifests.mkdir(parents=True)
    per_file = 50
    for start in range(0, len(objs), per_file):
        (manifests / f"part-{start // per_file:04}.yaml").write_text(
            yaml.safe_dump_all(objs[start : start + per_file], sort_keys=False)
        )


def http(
    url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None
) -> Any:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        data = response.read()
    try:
        return json.loads(data)
    except ValueError:
        return data.decode()


class Standin:
    def __init__(self, tmp: Path) -> None:
        self.kubeconfig = tmp / "kubeconfig"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.kube_standin", "--kubeconfig", str(self.kubeconfig)],
            cwd=ROOT,
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        self.url = line.split("serving ")[1].split(";")[0]

    def requests(self) -> list[dict[str, Any]]:
        return list(http(f"{self.url}/_standin/requests"))

    def clear(self) -> None:
        http(f"{self.url}/_standin/requests", "DELETE")

    def reset(self) -> None:
        http(f"{self.url}/_standin/reset", "POST", b"")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


def split(requests: list[dict[str, Any]]) -> tuple[int, int]:
    reads = sum(1 for r in requests if r["method"] in ("GET", "HEAD"))
    return reads, len(requests) - reads


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def metric(base: str, name: str) -> float:
    text = str(http(f"{base}/metrics"))
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise TimeoutError(what)


def webhook(base: str) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    sig = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    http(
        f"{base}/webhook",
        "POST",
        body,
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig, "Content-Type": "application/json"},
    )


def flux_approach(standin: Standin, objs: list[dict[str, Any]]) -> tuple[int, float, int, float]:
    """Flux's way on the same revision: a server-side dry-run apply per object
    to detect drift, then an apply per object that differs. Returns
    (cold requests, cold seconds, no-op requests, no-op seconds)."""
    cluster = Cluster(load_client(standin.kubeconfig, None, 8))

    def one_pass() -> None:
        for obj in objs:
            info = INFOS[obj["kind"]]
            meta = obj["metadata"]
            path = info.path(meta.get("namespace", ""), meta["name"])
            query = {"fieldManager": "flux", "force": "true"}
            status, _ = cluster.request(
                "PATCH",
                path,
                query={**query, "dryRun": "All"},
                body=obj,
                content_type="application/apply-patch+yaml",
            )
            # The revision is the same on the second pass: only objects the dry
            # run would create differ (Flux compares the dry-run result with
            # the live object; a changed object would be applied likewise).
            if status == 201:
                cluster.request(
                    "PATCH",
                    path,
                    query=query,
                    body=obj,
                    content_type="application/apply-patch+yaml",
                )

    standin.reset()
    standin.clear()
    started = time.monotonic()
    one_pass()
    cold_s = time.monotonic() - started
    cold = len(standin.requests())
    standin.clear()
    started = time.monotonic()
    one_pass()
    noop_s = time.monotonic() - started
    noop = len(standin.requests())
    return cold, cold_s, noop, noop_s


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-peer", action="store_true", help="skip the Flux-approach run")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="shipstep-bench-agent-"))
    standin = Standin(tmp)
    agent: subprocess.Popen[bytes] | None = None
    try:
        objs = objects(args.objects)
        kinds = len({o["kind"] for o in objs})
        bare, work = tmp / "config.git", tmp / "work"
        git(tmp, "init", "--bare", "--initial-branch", "main", str(bare))
        git(tmp, "clone", str(bare), str(work))
        write_revision(work, objs)
        git(work, "add", "-A")
        git(work, "commit", "-qm", "revision 1")
        git(work, "push", "-q", "origin", "HEAD:main")
        cluster = Cluster(load_client(standin.kubeconfig, None))
        cluster.create(
            INFOS["Namespace"],
            "",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shipstep-system"}},
        )
        (tmp / "secret").write_bytes(SECRET)
        port = 18000 + os.getpid() % 1000
        base = f"http://127.0.0.1:{port}"
        standin.clear()
        started = time.monotonic()
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipstep",
                "agent",
                "--repo-url",
                f"file://{bare}",
                "--path",
                "manifests",
                "--kubeconfig",
                str(standin.kubeconfig),
                "--namespace",
                "shipstep-system",
                "--default-namespace",
                "bench-0",
                "--allow-cluster-kind",
                "Namespace",
                "--no-verify-signatures",
                "--interval",
                "600",
                "--listen",
                f"127.0.0.1:{port}",
                "--webhook-secret-file",
                str(tmp / "secret"),
                "--workdir",
                str(tmp / "agent"),
                "--apply-concurrency",
                str(args.concurrency),
                "--log-level",
                "warning",
            ],
            cwd=tmp,
            env=ENV,
            stderr=subprocess.DEVNULL,
        )

        def reconciles() -> float:
            try:
                return metric(base, "shipstep_agent_reconciles_total")
            except OSError:
                return 0.0

        wait(lambda: reconciles() >= 1, 1800, "cold apply")
        cold_s = time.monotonic() - started
        cold_cpu = cpu_seconds(agent.pid)
        reads, writes_ = split(standin.requests())
        created = metric(base, 'shipstep_agent_objects_total{result="created"}')
        n = len(objs)
        print(f"objects: {n} in {kinds} kinds; created {created:.0f}")
        print(
            f"cold apply: {writes_} writes = {writes_ / n:.4f} per object (target <= 1.05); {reads} reads = {reads / n:.4f} per object; {cold_s:.1f} s"
        )
        print(
            f"cold apply: agent CPU {cold_cpu:.2f} s = {cold_cpu / n * 1000:.2f} s per 1,000 objects (startup included); peak RSS so far {peak_rss_mib(agent.pid):.1f} MiB"
        )

        time.sleep(2)  # let the stand-in's controller settle the Deployments
        standin.clear()
        before_cpu = cpu_seconds(agent.pid)
        started = time.monotonic()
        webhook(base)  # same revision: a no-op reconcile
        wait(lambda: reconciles() >= 2, 600, "no-op reconcile")
        noop_s = time.monotonic() - started
        noop_reads, noop_writes = split(standin.requests())
        noop_total = noop_reads + noop_writes
        print(
            f"no-op reconcile: {noop_writes} writes (target 0), {noop_total} requests (target <= kinds + 2 = {kinds + 2}); {noop_s:.2f} s, agent CPU {cpu_seconds(agent.pid) - before_cpu:.2f} s"
        )

        latencies = []
        rss_after: list[float] = []
        for run in range(args.latency_runs):
            target = next(o for o in objs if o["kind"] == "ConfigMap")
            target["data"]["index"] = f"changed-{run}"
            write_revision(work, objs)
            git(work, "commit", "-qam", f"change {run}")
            started = time.monotonic()
            git(work, "push", "-q", "origin", "HEAD:main")
            webhook(base)
            path = INFOS["ConfigMap"].path(
                target["metadata"]["namespace"], target["metadata"]["name"]
            )
            wait(
                lambda p=path, r=run: (
                    cluster.request("GET", p)[1].get("data", {}).get("index") == f"changed-{r}"
                ),
                600,
                "applied",
            )
            latencies.append(time.monotonic() - started)
            rss_after.append(peak_rss_mib(agent.pid, "VmRSS"))
            wait(lambda r=run: reconciles() >= 3 + r, 600, "reconcile done")
        print(
            f"webhook commit-to-applied latency: median {statistics.median(latencies) * 1000:.0f} ms over {len(latencies)} runs (push + webhook + ls-remote + fetch + render + apply)"
        )
        print(
            "agent RSS after each new revision (MiB): " + ", ".join(f"{r:.1f}" for r in rss_after)
        )
        rss = peak_rss_mib(agent.pid)
        print(
            f"peak RSS of the agent: {rss:.1f} MiB (target < 120 MiB; Flux kustomize-controller: 175 MiB for 1,000 four-object Kustomizations, published figure)"
        )
        agent.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        agent.wait(timeout=300)
        print(f"agent stopped {time.monotonic() - stopping:.1f} s after SIGTERM")
        agent = None

        if args.no_peer:
            return 0
        flux_cold, flux_cold_s, flux_noop, flux_noop_s = flux_approach(standin, objs)
        print(
            f"peer (Flux approach, run here): cold apply {flux_cold} requests = {flux_cold / n:.2f} per object, {flux_cold_s:.1f} s; no-op {flux_noop} requests, {flux_noop_s:.1f} s"
        )
        print(f"ratio cold-apply requests shipstep/flux: {(reads + writes_) / flux_cold:.3f}")
        print(f"ratio cold-apply writes shipstep/flux: {writes_ / flux_cold:.3f}")
        print(
            f"ratio no-op requests shipstep/flux: {noop_total / flux_noop:.5f} ({noop_total} vs {flux_noop})"
        )
        print(f"ratio no-op wall time shipstep/flux: {noop_s / flux_noop_s:.3f}")
    finally:
        if agent is not None:
            agent.kill()
            agent.wait()
        standin.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
