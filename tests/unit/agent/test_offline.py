"""The cluster-less dry run: the built-in kind catalogue and `NoCluster`."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipstep.agent.config import AgentConfig
from shipstep.agent.kube import CONFIG_MAP
from shipstep.agent.objects import Manifest
from shipstep.agent.offline import CATALOGUE, NoCluster, cluster_requested
from shipstep.agent.validate import validate
from shipstep.errors import ShipstepError

pytestmark = pytest.mark.timeout(30)


def test_catalogue_scopes_and_plurals() -> None:
    assert not CATALOGUE[("v1", "Namespace")].namespaced
    assert CATALOGUE[("apps/v1", "Deployment")].namespaced
    assert CATALOGUE[("apps/v1", "Deployment")].path("apps", "web") == (
        "/apis/apps/v1/namespaces/apps/deployments/web"
    )
    assert not CATALOGUE[("rbac.authorization.k8s.io/v1", "ClusterRole")].namespaced
    assert CATALOGUE[("networking.k8s.io/v1", "Ingress")].plural == "ingresses"
    assert CATALOGUE[("v1", "Endpoints")].plural == "endpoints"
    # Removed APIs are not served by a current API server: they stay unknown.
    assert ("extensions/v1beta1", "Ingress") not in CATALOGUE
    assert ("policy/v1beta1", "PodDisruptionBudget") not in CATALOGUE
    for (api_version, kind), info in CATALOGUE.items():
        assert info.api_version == api_version and info.kind == kind
        assert info.plural == info.plural.lower() and info.plural.endswith("s")


def test_validate_against_the_catalogue_knows_the_revisions_crds() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": True, "storage": True}],
        },
    }
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    old = {"apiVersion": "extensions/v1beta1", "kind": "Ingress", "metadata": {"name": "i"}}
    config = AgentConfig(
        repo_url="git://x/y.git",
        allowed_cluster_kinds=frozenset({"apiextensions.k8s.io/CustomResourceDefinition"}),
    )
    manifests = [
        Manifest(crd, "crd.yaml:1"),
        Manifest(widget, "w.yaml:1"),
        Manifest(gadget, "g.yaml:1"),
        Manifest(old, "i.yaml:1"),
    ]
    validated, problems = validate(manifests, NoCluster().discover(), config)
    assert [str(p) for p in problems] == [
        "g.yaml:1: kind Gadget (example.com/v1) is not known to the API server",
        "i.yaml:1: kind Ingress (extensions/v1beta1) is not known to the API server",
    ]
    assert [(m.kind, info.namespaced) for m, info in validated.objects] == [
        ("CustomResourceDefinition", False),
        ("Widget", True),
    ]
    assert widget["metadata"]["namespace"] == "default"


def test_no_cluster_reads_nothing_and_refuses_every_write() -> None:
    cluster = NoCluster()
    assert cluster.get(CONFIG_MAP, "shipstep-system", "shipstep-inventory") is None
    assert cluster.list(CONFIG_MAP, label_selector="a=b", namespace="x") == []
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}}
    for write in (
        lambda: cluster.apply(CONFIG_MAP, body, "shipstep-agent", False),
        lambda: cluster.delete(CONFIG_MAP, "x", "c", None),
        lambda: cluster.create(CONFIG_MAP, "x", body),
        lambda: cluster.replace(CONFIG_MAP, body),
    ):
        with pytest.raises(ShipstepError, match="no cluster to send") as caught:
            write()
        assert "--kubeconfig" in (caught.value.hint or "")
    assert cluster.stats.writes == 0


def test_cluster_requested(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert not cluster_requested(None, None)
    assert cluster_requested(tmp_path / "kubeconfig", None)
    assert cluster_requested(None, "prod")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert cluster_requested(None, None)
