"""Faults around the agent: the git server down or refusing credentials, and
the agent killed with SIGKILL in the middle of an apply."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shipstep.agent.config import OWNER_LABEL
from shipstep.agent.kube import CONFIG_MAP
from tests.fixtures.git import GitServer
from tests.fixtures.services import Service, free_port, port_open, wait_for
from tests.integration.agent.harness import configmap, docs, make_agent, make_config, new_repo
from tests.integration.agent.test_agent import FOUR, inventory, names, status, writes

pytestmark = pytest.mark.timeout(180)


def git_daemon(root: Path) -> tuple[Service, GitServer]:
    port = free_port()
    service = Service(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={root}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(root),
        ],
        root.parent / f"git-daemon-{port}.log",
    )
    wait_for(lambda: port_open(port), "git daemon")
    return service, GitServer(root, port)


def test_git_server_down_changes_nothing_and_drift_is_still_corrected(
    cluster: Any, tmp_path: Path
) -> None:
    (tmp_path / "git").mkdir()
    service, server = git_daemon(tmp_path / "git")
    repo = new_repo(server, tmp_path, FOUR)
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    first = agent.reconcile()
    assert first.result == "applied"
    service.stop()
    cluster.requests.clear()
    outcome = agent.reconcile()
    assert outcome.result == "unchanged" and outcome.revision == first.revision
    assert writes(cluster) == []
    assert agent.metrics.source_errors._value.get() == 1
    assert status(cluster)["result"] == "applied"
    # Drift behind our back is corrected from the last good checkout.
    agent.engine.cluster.request("DELETE", CONFIG_MAP.path("apps", "a"))
    assert agent.reconcile().result == "applied"
    assert "a" in names(cluster)


def test_git_server_down_before_any_revision(cluster: Any, tmp_path: Path) -> None:
    agent = make_agent(
        cluster.kubeconfig,
        make_config(f"git://127.0.0.1:{free_port()}/nothing.git", tmp_path / "w"),
    )
    outcome = agent.reconcile()
    assert outcome.result == "source-error"
    assert writes(cluster) == []


class _Refuse(BaseHTTPRequestHandler):
    seen_auth: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        _Refuse.seen_auth.append(self.headers.get("Authorization", ""))
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_git_server_refusing_credentials(
    cluster: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    token = tmp_path / "token"
    token.write_text("very-secret-token\n")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/config.git"
        agent = make_agent(
            cluster.kubeconfig, make_config(url, tmp_path / "w", git_token_file=token)
        )
        with caplog.at_level("WARNING", logger="shipstep.agent"):
            outcome = agent.reconcile()
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.result == "source-error"
    assert writes(cluster) == []
    assert any(a.startswith("Basic ") for a in _Refuse.seen_auth)  # the token was offered
    logged = "\n".join(str(getattr(r, "fields", "")) + r.getMessage() for r in caplog.records)
    assert "refused the credentials" in logged or "Authentication failed" in logged, logged
    assert "very-secret-token" not in logged


def run_agent(cluster: Any, repo_url: str, workdir: Path, *extra: str) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "shipstep",
        "--output",
        "json",
        "agent",
        "--once",
        "--repo-url",
        repo_url,
        "--path",
        "manifests",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        "shipstep-system",
        "--default-namespace",
        "apps",
        "--workdir",
        str(workdir),
        "--no-verify-signatures",
        "--apply-concurrency",
        "1",
        *extra,
    ]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )


def test_sigkill_mid_apply_then_restart_converges(
    cluster: Any, git_server: GitServer, tmp_path: Path
) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    first = run_agent(cluster, repo.url, tmp_path / "w")
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert json.loads(out)["result"] == "applied"
    # Revision 2 adds 20 objects; every apply is slowed down; kill mid-way.
    repo.commit({f"manifests/new/{i:02}.yaml": docs(configmap(f"n{i}")) for i in range(20)})
    cluster.faults.delay(0.15, method="PATCH", path="/namespaces/apps/configmaps/n")
    agent = run_agent(cluster, repo.url, tmp_path / "w")
    cluster.wait(
        lambda: cluster.requests.count("PATCH", path_contains="/configmaps/n") >= 5,
        timeout=60,
        what="5 applies",
    )
    agent.send_signal(signal.SIGKILL)
    agent.communicate(timeout=10)
    time.sleep(0.5)  # a delayed request already sent still lands after the kill
    made = {n for n in names(cluster) if n.startswith("n")}
    assert 0 < len(made) < 20
    inv = inventory(cluster)
    assert len(inv["objects"]) == 4  # not committed: the apply did not finish
    assert {row[3] for row in inv["pending"]} == {
        f"n{i}" for i in range(20)
    }  # but recorded as possible
    # Revision 3 drops them again before the agent comes back: nothing is orphaned.
    repo.commit({f"manifests/new/{i:02}.yaml": None for i in range(20)})
    cluster.faults.clear()
    again = run_agent(cluster, repo.url, tmp_path / "w")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    result = json.loads(out)
    assert result["result"] == "applied" and result["pruned"] == len(made)
    assert not {n for n in names(cluster) if n.startswith("n")}
    inv = inventory(cluster)
    assert inv["pending"] == set() and len(inv["objects"]) == 4


def test_sigkill_mid_apply_restart_same_revision(
    cluster: Any, git_server: GitServer, tmp_path: Path
) -> None:
    repo = new_repo(
        git_server,
        tmp_path,
        {f"manifests/{i:02}.yaml": docs(configmap(f"c{i}")) for i in range(16)},
    )
    cluster.faults.delay(0.15, method="PATCH", path="/namespaces/apps/configmaps/c")
    agent = run_agent(cluster, repo.url, tmp_path / "w")
    cluster.wait(
        lambda: cluster.requests.count("PATCH", path_contains="/configmaps/c") >= 4,
        timeout=60,
        what="4 applies",
    )
    agent.send_signal(signal.SIGKILL)
    agent.communicate(timeout=10)
    cluster.faults.clear()
    again = run_agent(cluster, repo.url, tmp_path / "w")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert json.loads(out)["result"] == "applied"
    inv = inventory(cluster)
    assert inv["pending"] == set() and {row[3] for row in inv["objects"]} == {
        f"c{i}" for i in range(16)
    }
    for obj in cluster.objects("v1", "ConfigMap", "apps"):
        assert obj["metadata"]["labels"][OWNER_LABEL] == "shipstep"


def test_sigterm_stops_the_running_agent(
    cluster: Any, git_server: GitServer, tmp_path: Path
) -> None:
    import urllib.request

    repo = new_repo(git_server, tmp_path, FOUR)
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "shipstep",
        "agent",
        "--repo-url",
        repo.url,
        "--path",
        "manifests",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--namespace",
        "shipstep-system",
        "--default-namespace",
        "apps",
        "--workdir",
        str(tmp_path / "w"),
        "--no-verify-signatures",
        "--interval",
        "600",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    agent = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy()
    )

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    cluster.wait(ready, timeout=60, what="agent ready")
    agent.send_signal(signal.SIGTERM)
    _, err = agent.communicate(timeout=20)
    assert agent.returncode == 0, err
    assert "Traceback" not in err
