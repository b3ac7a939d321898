"""The agent end to end against the Kubernetes API stand-in and a real git
server: applies, refuses broken revisions keeping the previous one, prunes
with guards, corrects drift, survives API faults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shipstep.agent.config import OWNER_LABEL
from tests.integration.agent.harness import (
    ConfigRepo,
    configmap,
    deployment,
    docs,
    make_agent,
    make_config,
    new_repo,
)

pytestmark = pytest.mark.timeout(120)


def inventory(kube: Any) -> dict[str, Any]:
    cm = kube.object("v1", "ConfigMap", "shipstep-inventory", "shipstep-system")
    assert cm is not None, "no inventory ConfigMap"
    return {
        "revision": cm["data"]["revision"],
        "objects": {tuple(row) for row in json.loads(cm["data"]["objects"])},
        "pending": {tuple(row) for row in json.loads(cm["data"]["pending"])},
    }


def status(kube: Any) -> dict[str, str]:
    cm = kube.object("v1", "ConfigMap", "shipstep-status", "shipstep-system")
    assert cm is not None, "no status ConfigMap"
    return dict(cm["data"])


def names(
    kube: Any, kind: str = "ConfigMap", api_version: str = "v1", ns: str = "apps"
) -> set[str]:
    return {o["metadata"]["name"] for o in kube.objects(api_version, kind, ns)}


def writes(kube: Any) -> list[Any]:
    return [r for r in kube.requests.all() if r.method not in ("GET", "HEAD")]


FOUR = {
    "manifests/a.yaml": docs(configmap("a"), configmap("b")),
    "manifests/sub/c.yaml": docs(configmap("c")),
    "manifests/web.yaml": docs(deployment("web")),
}


@pytest.fixture
def repo(git_server: Any, tmp_path: Path) -> ConfigRepo:
    return new_repo(git_server, tmp_path, FOUR)


def test_applies_then_noop_reconcile_makes_no_writes(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    assert outcome.report is not None and outcome.report.counts()["created"] == 4
    assert names(cluster) >= {"a", "b", "c"}
    web = cluster.object("apps/v1", "Deployment", "web", "apps")
    assert web["metadata"]["labels"][OWNER_LABEL] == "shipstep"
    assert any(m["manager"] == "shipstep-agent" for m in web["metadata"]["managedFields"])
    inv = inventory(cluster)
    assert inv["revision"] == outcome.revision and inv["pending"] == set()
    assert ("apps/v1", "Deployment", "apps", "web") in inv["objects"] and len(inv["objects"]) == 4
    st = status(cluster)
    assert st["result"] == "applied" and st["lastAppliedRevision"] == outcome.revision
    assert st["images"] == "registry.example/app@sha256:" + "ab" * 32

    cluster.settle()
    cluster.requests.clear()
    again = agent.reconcile()
    assert again.result == "unchanged", again.reason
    assert writes(cluster) == []
    kinds = 2  # ConfigMap, Deployment
    assert len(cluster.requests) <= kinds + 2, [(r.method, r.path) for r in cluster.requests.all()]


def test_second_agent_process_noop_is_also_write_free(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w1")).reconcile()
    cluster.settle()
    cluster.requests.clear()
    outcome = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w2")).reconcile()
    assert outcome.result == "unchanged", outcome.reason
    assert writes(cluster) == []


def test_prunes_removed_object_only(cluster: Any, repo: ConfigRepo, tmp_path: Path) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    assert agent.reconcile().result == "applied"
    cluster.seed(configmap("unrelated"))  # not ours: never touched
    repo.commit({"manifests/sub/c.yaml": None})
    outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    assert outcome.report is not None and [str(p) for p in outcome.report.pruned] == [
        "ConfigMap apps/c"
    ]
    assert names(cluster) == {"a", "b", "unrelated"} | (
        names(cluster) - {"a", "b", "c", "unrelated"}
    )
    assert "c" not in names(cluster)
    assert ("v1", "ConfigMap", "apps", "c") not in inventory(cluster)["objects"]


def test_corrects_drift_and_reports_it(cluster: Any, repo: ConfigRepo, tmp_path: Path) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    assert agent.reconcile().result == "applied"
    api = agent.engine.cluster
    from shipstep.agent.kube import CONFIG_MAP

    api.request(
        "PATCH",
        CONFIG_MAP.path("apps", "a"),
        body={"data": {"key": "edited by hand"}},
        content_type="application/merge-patch+json",
    )
    api.request("DELETE", CONFIG_MAP.path("apps", "b"))
    cluster.requests.clear()
    outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    assert outcome.report is not None and outcome.report.drift == 2
    assert cluster.object("v1", "ConfigMap", "a", "apps")["data"]["key"] == "a"
    assert cluster.object("v1", "ConfigMap", "b", "apps") is not None
    assert (
        len([w for w in writes(cluster) if w.content_type == "application/apply-patch+yaml"])
        == 2 + 1
    )  # + status
    assert agent.metrics.drift_corrections._value.get() == 2


def test_empty_render_never_prunes(cluster: Any, repo: ConfigRepo, tmp_path: Path) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    first = agent.reconcile()
    rev = repo.commit(
        {**{path: None for path in FOUR}, "manifests/README.md": "nothing here yet\n"}
    )
    outcome = agent.reconcile()
    assert outcome.result == "unchanged"  # the previous revision, still reconciled
    assert outcome.revision == first.revision
    st = status(cluster)
    assert st["revision"] == rev and st["result"] == "refused" and "empty render" in st["reason"]
    assert st["lastAppliedRevision"] == first.revision
    assert names(cluster) >= {"a", "b", "c"}
    assert len(inventory(cluster)["objects"]) == 4


def test_mass_prune_needs_override(cluster: Any, repo: ConfigRepo, tmp_path: Path) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    agent.reconcile()
    repo.commit({"manifests/a.yaml": None, "manifests/sub/c.yaml": None})  # 3 of 4
    outcome = agent.reconcile()
    assert outcome.result == "applied"
    assert "prune blocked" in outcome.reason and "3 of 4" in outcome.reason
    blocked = [
        e
        for e in cluster.objects("v1", "Event", "shipstep-system")
        if e["reason"] == "PruneBlocked"
    ]
    assert (
        len(blocked) == 1
        and blocked[0]["type"] == "Warning"
        and "--prune-allow-mass" in blocked[0]["message"]
    )
    assert names(cluster) >= {"a", "b", "c"}
    assert len(inventory(cluster)["objects"]) == 4  # the candidates stay
    override = make_agent(
        cluster.kubeconfig, make_config(repo.url, tmp_path / "w2", prune_allow_mass=True)
    )
    outcome = override.reconcile()
    assert outcome.report is not None and len(outcome.report.pruned) == 3
    assert not names(cluster) & {"a", "b", "c"}
    assert inventory(cluster)["objects"] == {("apps/v1", "Deployment", "apps", "web")}


def test_prune_disabled_annotation_keeps_object(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    kept = configmap("c")
    kept["metadata"]["annotations"] = {"shipstep.dev/prune": "disabled"}
    repo.commit({"manifests/sub/c.yaml": docs(kept)})
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    assert agent.reconcile().result == "applied"
    repo.commit({"manifests/sub/c.yaml": None})
    outcome = agent.reconcile()
    assert outcome.report is not None and outcome.report.pruned == []
    assert "c" in names(cluster)
    assert ("v1", "ConfigMap", "apps", "c") not in inventory(cluster)["objects"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {f"manifests/many/{i:02}.yaml": docs(configmap(f"m{i}")) for i in range(12)}
            | {
                "manifests/many/05.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [broken\n"
            },
            "manifests/many/05.yaml:",
        ),
        (
            {
                "manifests/w.yaml": docs(
                    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
                )
            },
            "kind Widget (example.com/v1) is not known",
        ),
        (
            {"manifests/x.yaml": docs(configmap("x", namespace="kube-system"))},
            "namespace 'kube-system' is not allowed",
        ),
        (
            {"manifests/web.yaml": docs(deployment("web", image="registry.example/app:latest"))},
            "is not pinned by digest",
        ),
        (
            {
                "manifests/r.yaml": docs(
                    {
                        "apiVersion": "rbac.authorization.k8s.io/v1",
                        "kind": "ClusterRole",
                        "metadata": {"name": "r"},
                    }
                )
            },
            "cluster-scoped kind ClusterRole is not allowed",
        ),
    ],
    ids=[
        "malformed-yaml-one-of-many",
        "unknown-kind",
        "forbidden-namespace",
        "unpinned-image",
        "cluster-kind",
    ],
)
def test_bad_revision_is_refused_and_previous_stays(
    cluster: Any, repo: ConfigRepo, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    config = make_config(repo.url, tmp_path / "w", allowed_namespaces=frozenset({"apps"}))
    agent = make_agent(cluster.kubeconfig, config)
    good = agent.reconcile()
    assert good.result == "applied"
    before = {
        o["metadata"]["name"]: o["metadata"]["resourceVersion"]
        for o in cluster.objects("v1", "ConfigMap", "apps")
    }
    bad = repo.commit(files)
    cluster.requests.clear()
    outcome = agent.reconcile()
    st = status(cluster)
    assert st["revision"] == bad and st["result"] == "refused", st
    assert expected in st["reason"], st["reason"]
    assert st["lastAppliedRevision"] == good.revision
    after = {
        o["metadata"]["name"]: o["metadata"]["resourceVersion"]
        for o in cluster.objects("v1", "ConfigMap", "apps")
    }
    assert after == before  # nothing of the bad revision was applied
    assert outcome.revision == good.revision  # the previous revision is still reconciled
    assert inventory(cluster)["revision"] == good.revision
    # Writes: only the status ConfigMap and its Event, in the agent's namespace.
    assert writes(cluster) and all(
        "/namespaces/shipstep-system/" in w.path for w in writes(cluster)
    )
    # The refused head is not re-rendered or re-recorded on the next interval.
    cluster.requests.clear()
    assert agent.reconcile().result == "unchanged"
    assert writes(cluster) == []


def test_api_server_5xx_and_429_for_a_while(cluster: Any, repo: ConfigRepo, tmp_path: Path) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    cluster.faults.fail(503, count=3)
    cluster.faults.fail(429, count=2, retry_after=1, method="PATCH")
    cluster.faults.fail(500, count=2, method="GET")
    outcome = agent.reconcile()
    assert outcome.result == "applied", outcome.reason
    failed_answers = sum(1 for r in cluster.requests.all() if r.status in (429, 500, 503))
    assert failed_answers >= 4 and cluster.requests.count(status=429) == 2
    assert agent.engine.cluster.stats.retries == failed_answers
    assert names(cluster) >= {"a", "b", "c"}


def test_api_server_down_fails_cleanly_then_recovers(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w", max_retries=2))
    agent.engine.cluster.max_retries = 2
    cluster.faults.fail(503)  # every request, until cleared
    outcome = agent.reconcile()
    assert outcome.result == "failed"
    assert "503" in outcome.reason or "ServiceUnavailable" in outcome.reason
    cluster.faults.clear()
    assert agent.reconcile().result == "applied"


def test_denied_delete_stays_in_inventory_until_it_succeeds(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    agent.reconcile()
    rule = cluster.knobs.deny_verb(
        "delete",
        "configmaps",
        namespace="apps",
        name="c",
        message='admission webhook "guard.example.com" denied the request: protected',
    )
    repo.commit({"manifests/sub/c.yaml": None})
    outcome = agent.reconcile()
    assert outcome.result == "applied"
    assert "prune of ConfigMap apps/c failed" in outcome.reason and "denied" in outcome.reason
    assert "c" in names(cluster)
    assert ("v1", "ConfigMap", "apps", "c") in inventory(cluster)["objects"]
    cluster.knobs.deny.remove(rule)
    outcome = agent.reconcile()
    assert outcome.report is not None and [p.name for p in outcome.report.pruned] == ["c"]
    assert ("v1", "ConfigMap", "apps", "c") not in inventory(cluster)["objects"]


def test_conflict_reported_and_force_is_opt_in(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    owner = make_agent(
        cluster.kubeconfig,
        make_config(repo.url, tmp_path / "w0", field_manager="someone-else", name="other"),
    )
    assert owner.reconcile().result == "applied"
    repo.commit({"manifests/a.yaml": docs(configmap("a", key="mine"), configmap("b"))})
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    outcome = agent.reconcile()
    assert outcome.result == "failed"
    assert "conflict" in outcome.reason and "ConfigMap apps/a" in outcome.reason
    assert status(cluster)["result"] == "failed"
    forced = make_agent(
        cluster.kubeconfig, make_config(repo.url, tmp_path / "w2", force_conflicts=True)
    )
    assert forced.reconcile().result == "applied"
    assert cluster.object("v1", "ConfigMap", "a", "apps")["data"]["key"] == "mine"


def test_dry_run_writes_nothing_and_plans(cluster: Any, repo: ConfigRepo, tmp_path: Path) -> None:
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w"))
    cluster.requests.clear()
    outcome = agent.reconcile(dry_run=True)
    assert outcome.result == "dry-run"
    assert outcome.report is not None and outcome.report.plan.count("create") == 4
    assert writes(cluster) == []


def test_restart_with_refused_head_recovers_last_applied_revision(
    cluster: Any, repo: ConfigRepo, tmp_path: Path
) -> None:
    good = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w1")).reconcile()
    bad = repo.commit({"manifests/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n"})
    make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w1")).reconcile()
    events = [
        e for e in cluster.objects("v1", "Event", "shipstep-system") if e["reason"] == "Refused"
    ]
    assert len(events) == 1 and bad[:12] in events[0]["message"]
    # A fresh agent (restarted Pod, empty workdir) still reconciles the last good revision.
    agent = make_agent(cluster.kubeconfig, make_config(repo.url, tmp_path / "w2"))
    from shipstep.agent.kube import CONFIG_MAP

    agent.engine.cluster.request("DELETE", CONFIG_MAP.path("apps", "b"))
    outcome = agent.reconcile()
    assert outcome.revision == good.revision and outcome.result == "applied", outcome.reason
    assert "b" in names(cluster)
    st = status(cluster)
    assert (
        st["revision"] == bad
        and st["result"] == "refused"
        and st["lastAppliedRevision"] == good.revision
    )
