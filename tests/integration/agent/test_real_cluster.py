"""The core flow against a real cluster (kind, k3s, ...): deselected by
default; run with `SHIPSTEP_TEST_KUBECONFIG=... pytest -m real_cluster`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipstep.agent.kube import CONFIG_MAP, Cluster, load_client
from shipstep.agent.validate import ResourceInfo
from tests.integration.agent.harness import (
    configmap,
    docs,
    make_agent,
    make_config,
    namespace,
    new_repo,
)

pytestmark = [pytest.mark.real_cluster, pytest.mark.timeout(300)]
NAMESPACES = ResourceInfo("", "v1", "Namespace", "namespaces", False)


@pytest.fixture
def real(tmp_path: Path) -> Iterator[tuple[Path, str, Cluster]]:
    kubeconfig = os.environ.get("SHIPSTEP_TEST_KUBECONFIG")
    if not kubeconfig:
        pytest.skip("SHIPSTEP_TEST_KUBECONFIG is not set")
    ns = f"shipstep-test-{uuid.uuid4().hex[:8]}"
    api = Cluster(load_client(Path(kubeconfig), None))
    api.create(NAMESPACES, "", namespace(ns))
    try:
        yield Path(kubeconfig), ns, api
    finally:
        api.delete(NAMESPACES, "", ns, None)


def test_apply_noop_drift_prune_on_a_real_cluster(
    real: tuple[Path, str, Cluster], git_server: Any, tmp_path: Path
) -> None:
    kubeconfig, ns, api = real
    files = {f"manifests/{n}.yaml": docs(configmap(n, namespace=ns)) for n in ("a", "b", "c")}
    repo = new_repo(git_server, tmp_path, files)
    config = make_config(
        repo.url,
        tmp_path / "w",
        namespace=ns,
        default_namespace=ns,
        allowed_namespaces=frozenset({ns}),
    )
    agent = make_agent(kubeconfig, config)
    assert agent.reconcile().result == "applied"
    writes = agent.engine.cluster.stats.writes
    assert agent.reconcile().result == "unchanged"
    assert agent.engine.cluster.stats.writes == writes
    api.request(
        "PATCH",
        CONFIG_MAP.path(ns, "a"),
        body={"data": {"key": "edited"}},
        content_type="application/merge-patch+json",
    )
    outcome = agent.reconcile()
    assert outcome.report is not None and outcome.report.drift == 1
    assert api.get(CONFIG_MAP, ns, "a")["data"]["key"] == "a"  # type: ignore[index]
    repo.commit({"manifests/c.yaml": None})
    outcome = agent.reconcile()
    assert outcome.report is not None and [o.name for o in outcome.report.pruned] == ["c"]
    assert api.get(CONFIG_MAP, ns, "c") is None
