"""Staged apply (Namespaces and CRDs first, waiting for Established), health
waiting by the kstatus rules, leader election, and the HTTP endpoints."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from shipstep.agent.leader import LeaderElector
from shipstep.agent.server import make_server, serve_in_background
from tests.integration.agent.harness import (
    configmap,
    deployment,
    docs,
    make_agent,
    make_config,
    namespace,
    new_repo,
)
from tests.integration.agent.test_agent import FOUR, status

pytestmark = pytest.mark.timeout(120)

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "kind": "Widget",
            "plural": "widgets",
            "singular": "widget",
            "listKind": "WidgetList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}


def test_namespaces_and_crds_first_waiting_until_established(
    cluster: Any, git_server: Any, tmp_path: Path
) -> None:
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": "team"},
        "spec": {"size": 3},
    }
    repo = new_repo(
        git_server,
        tmp_path,
        {
            "manifests/a-widget.yaml": docs(widget, configmap("c", namespace="team")),
            "manifests/z-infra.yaml": docs(namespace("team"), CRD),
        },
    )
    cluster.knobs.crd_establish_delay = 3.0  # creationTimestamp has whole seconds
    config = make_config(
        repo.url,
        tmp_path / "w",
        allowed_cluster_kinds=frozenset(
            {"Namespace", "apiextensions.k8s.io/CustomResourceDefinition"}
        ),
    )
    agent = make_agent(cluster.kubeconfig, config)
    outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    patches = [
        r.path
        for r in cluster.requests.all()
        if r.method == "PATCH" and "shipstep-system" not in r.path
    ]
    first_two = {p.rsplit("/", 2)[-2] for p in patches[:2]}
    assert first_two == {"namespaces", "customresourcedefinitions"}, patches
    crd_gets = [
        r
        for r in cluster.requests.all()
        if r.method == "GET" and r.path.endswith("/customresourcedefinitions/widgets.example.com")
    ]
    assert len(crd_gets) >= 2  # it waited
    assert cluster.object("example.com/v1", "Widget", "w", "team")["spec"]["size"] == 3
    # A no-op reconcile lists the custom kind too, and writes nothing.
    cluster.requests.clear()
    assert agent.reconcile().result == "unchanged"
    assert [r for r in cluster.requests.all() if r.method != "GET"] == []


def test_crd_never_established_fails_before_stage_two(
    cluster: Any, git_server: Any, tmp_path: Path
) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    repo = new_repo(git_server, tmp_path, {"manifests/all.yaml": docs(CRD, widget)})
    cluster.knobs.crd_establish_delay = 60
    config = make_config(
        repo.url,
        tmp_path / "w",
        crd_timeout=1.0,
        allowed_cluster_kinds=frozenset({"CustomResourceDefinition"}),
    )
    outcome = make_agent(cluster.kubeconfig, config).reconcile()
    assert outcome.result == "failed"
    assert "not Established after 1s" in outcome.reason
    assert status(cluster)["result"] == "failed"


def test_health_wait_reports_progress_deadline_exceeded(
    cluster: Any, git_server: Any, tmp_path: Path
) -> None:
    bad = "registry.example/broken@sha256:" + "f" * 64
    repo = new_repo(
        git_server,
        tmp_path,
        {"manifests/web.yaml": docs(deployment("web"), deployment("broken", bad))},
    )
    cluster.knobs.rollout("fail", image="broken", deadline=0.5)
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w", health_timeout=20))
    outcome = agent.reconcile()
    assert outcome.result == "failed", outcome.reason
    assert "Deployment.apps apps/broken: unhealthy: Progress deadline exceeded" in outcome.reason
    assert "apps/web" not in outcome.reason
    st = status(cluster)
    assert st["result"] == "failed" and "broken" in st["reason"]


def test_health_wait_passes_for_healthy_rollout(
    cluster: Any, git_server: Any, tmp_path: Path
) -> None:
    repo = new_repo(
        git_server, tmp_path, {"manifests/web.yaml": docs(deployment("web", replicas=2))}
    )
    outcome = make_agent(
        cluster.kubeconfig, make_config(repo.url, tmp_path / "w", health_timeout=20)
    ).reconcile()
    assert outcome.result == "applied", outcome.reason


def test_leader_election_one_holder(cluster: Any) -> None:
    from shipstep.agent.kube import Cluster, load_client

    api = Cluster(load_client(Path(cluster.kubeconfig), None))
    a = LeaderElector(api, "shipstep-system", "shipstep-leader", identity="a", lease_seconds=2)
    b = LeaderElector(api, "shipstep-system", "shipstep-leader", identity="b", lease_seconds=2)
    assert a.try_acquire() is True
    assert b.try_acquire() is False
    assert a.try_acquire() is True  # renew
    lease = cluster.object("coordination.k8s.io/v1", "Lease", "shipstep-leader", "shipstep-system")
    assert lease["spec"]["holderIdentity"] == "a"
    time.sleep(2.2)  # a stops renewing: its lease expires
    assert b.try_acquire() is True
    assert a.try_acquire() is False
    lease = cluster.object("coordination.k8s.io/v1", "Lease", "shipstep-leader", "shipstep-system")
    assert lease["spec"]["holderIdentity"] == "b" and lease["spec"]["leaseTransitions"] == 1


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        body = error.read().decode()
        error.close()
        return error.code, body


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return error.code


def test_endpoints_and_webhook_trigger_a_sync(
    cluster: Any, git_server: Any, tmp_path: Path
) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    agent = make_agent(
        cluster.kubeconfig, make_config(repo.url, tmp_path / "w", interval_seconds=300)
    )
    secret = b"hook-secret"
    server = make_server(agent, "127.0.0.1", 0, secret)
    serve_in_background(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    outcomes: list[Any] = []
    loop = threading.Thread(target=agent.run, kwargs={"on_outcome": outcomes.append}, daemon=True)
    try:
        assert _get(f"{base}/readyz")[0] == 503
        loop.start()
        cluster.wait(lambda: len(outcomes) >= 1, timeout=30, what="first reconcile")
        assert outcomes[0].result == "applied"
        assert _get(f"{base}/readyz")[0] == 200 and _get(f"{base}/healthz")[0] == 200
        code, metrics = _get(f"{base}/metrics")
        assert code == 200
        assert (
            f'shipstep_agent_last_applied_revision_info{{revision="{outcomes[0].revision}"}} 1.0'
            in metrics
        )
        assert 'shipstep_agent_objects_total{result="created"} 4.0' in metrics
        assert "shipstep_agent_reconcile_duration_seconds_count 1.0" in metrics

        new = repo.commit({"manifests/extra.yaml": docs(configmap("extra"))})
        body = json.dumps({"ref": "refs/heads/main", "after": new}).encode()
        good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        assert (
            _post(
                f"{base}/webhook",
                body,
                {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
            == 401
        )
        assert (
            _post(f"{base}/webhook", body, {"X-GitHub-Event": "ping", "X-Hub-Signature-256": good})
            == 200
        )
        other = json.dumps({"ref": "refs/heads/other"}).encode()
        sig = "sha256=" + hmac.new(secret, other, hashlib.sha256).hexdigest()
        assert (
            _post(f"{base}/webhook", other, {"X-GitHub-Event": "push", "X-Hub-Signature-256": sig})
            == 202
        )
        time.sleep(0.3)
        assert len(outcomes) == 1  # a push to another branch does not trigger
        started = time.monotonic()
        assert (
            _post(f"{base}/webhook", body, {"X-GitHub-Event": "push", "X-Hub-Signature-256": good})
            == 202
        )
        cluster.wait(lambda: len(outcomes) >= 2, timeout=30, what="webhook-triggered reconcile")
        assert time.monotonic() - started < 30  # far below the 300 s interval
        assert outcomes[1].revision == new and outcomes[1].result == "applied"
    finally:
        agent.stop.set()
        agent.trigger.set()
        loop.join(timeout=30)
        server.shutdown()
        server.server_close()


def test_two_replicas_never_apply_at_once(cluster: Any, git_server: Any, tmp_path: Path) -> None:
    repo = new_repo(git_server, tmp_path, FOUR)
    replicas = []
    for name in ("one", "two"):
        agent = make_agent(
            cluster.kubeconfig, make_config(repo.url, tmp_path / name, interval_seconds=0.3)
        )
        agent.elector = LeaderElector(
            agent.engine.cluster,
            "shipstep-system",
            "shipstep-leader",
            identity=name,
            lease_seconds=6,  # renewals every 2 s keep it even on a loaded machine
        )
        outcomes: list[Any] = []
        replicas.append(
            (
                agent,
                outcomes,
                threading.Thread(
                    target=agent.run, kwargs={"on_outcome": outcomes.append}, daemon=True
                ),
            )
        )
    for agent, _, thread in replicas:
        agent.elector.start()  # type: ignore[union-attr]
        thread.start()
    try:
        cluster.wait(
            lambda: any(len(o) >= 3 for _, o, _ in replicas), timeout=30, what="reconciles"
        )
        leaders = [a for a, o, _ in replicas if o]
        assert len(leaders) == 1, [len(o) for _, o, _ in replicas]
        leader = leaders[0]
        follower = next(a for a, _, _ in replicas if a is not leader)
        follower_outcomes = next(o for a, o, _ in replicas if a is follower)
        # The leader stops (releasing the lease): the other replica takes over.
        leader.stop.set()
        leader.trigger.set()
        cluster.wait(lambda: len(follower_outcomes) >= 1, timeout=30, what="takeover")
        assert follower_outcomes[0].result == "unchanged"
    finally:
        for agent, _, thread in replicas:
            agent.stop.set()
            agent.trigger.set()
            thread.join(timeout=30)
