from __future__ import annotations

import pytest

from shipstep.agent.config import AgentConfig
from shipstep.agent.objects import Manifest
from shipstep.agent.validate import ResourceInfo, validate

pytestmark = pytest.mark.timeout(30)

DIGEST = "sha256:" + "a" * 64
DISCOVERY = {
    ("v1", "ConfigMap"): ResourceInfo("", "v1", "ConfigMap", "configmaps", True),
    ("v1", "Namespace"): ResourceInfo("", "v1", "Namespace", "namespaces", False),
    ("apps/v1", "Deployment"): ResourceInfo("apps", "v1", "Deployment", "deployments", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): ResourceInfo(
        "rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False
    ),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): ResourceInfo(
        "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
    ),
}


def m(obj: dict, source: str = "f.yaml:1") -> Manifest:
    return Manifest(obj, source)


def deployment(image: str, ns: str | None = "apps", name: str = "web") -> dict:
    meta = {"name": name} | ({"namespace": ns} if ns else {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "template": {
                "spec": {
                    "initContainers": [{"name": "init", "image": image}],
                    "containers": [{"name": "app", "image": image}],
                }
            }
        },
    }


def cfg(**kw: object) -> AgentConfig:
    return AgentConfig(repo_url="git://x/y.git", **kw)  # type: ignore[arg-type]


def test_valid_revision_fills_default_namespace() -> None:
    cm = m({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    validated, problems = validate(
        [cm, m(deployment(f"r.io/app@{DIGEST}"))], DISCOVERY, cfg(default_namespace="apps")
    )
    assert problems == []
    assert cm.obj["metadata"]["namespace"] == "apps"
    assert [info.plural for _, info in validated.objects] == ["configmaps", "deployments"]


def test_unknown_kind_forbidden_namespace_cluster_kind_and_unpinned_image() -> None:
    manifests = [
        m(
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
            "a.yaml:1",
        ),
        m(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c", "namespace": "kube-system"},
            },
            "b.yaml:3",
        ),
        m(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": "r"},
            },
            "c.yaml:1",
        ),
        m(deployment("r.io/app:1.0"), "d.yaml:1"),
        m(deployment("r.io/app:1.0@sha256:abc", name="web2"), "e.yaml:1"),
    ]
    _, problems = validate(manifests, DISCOVERY, cfg(allowed_namespaces=frozenset({"apps"})))
    text = [str(p) for p in problems]
    assert any(t.startswith("a.yaml:1: kind Widget (example.com/v1) is not known") for t in text)
    assert any(t.startswith("b.yaml:3:") and "'kube-system' is not allowed" in t for t in text)
    assert any(
        t.startswith("c.yaml:1: cluster-scoped kind ClusterRole is not allowed") for t in text
    )
    assert (
        sum("d.yaml:1" in t and "not pinned by digest" in t for t in text) == 2
    )  # init + app container
    assert any("e.yaml:1" in t and "not a valid image reference" in t for t in text)


def test_allowed_cluster_kinds_and_namespaces_objects() -> None:
    config = cfg(
        allowed_cluster_kinds=frozenset({"Namespace"}), allowed_namespaces=frozenset({"apps"})
    )
    ok = m(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "namespace": "x"}}
    )
    bad = m({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    _, problems = validate([ok, bad], DISCOVERY, config)
    assert [p.message for p in problems] == ["Namespace 'other' is not allowed"]
    assert "namespace" not in ok.obj["metadata"]


def test_crd_in_same_revision_makes_its_kind_known_and_duplicates_refused() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [{"name": "v1", "served": True}],
        },
    }
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    config = cfg(allowed_cluster_kinds=frozenset({"apiextensions.k8s.io/CustomResourceDefinition"}))
    validated, problems = validate(
        [m(crd), m(widget, "w.yaml:1"), m(dict(widget), "w2.yaml:4")], DISCOVERY, config
    )
    assert [str(p) for p in problems] == [
        "w2.yaml:4: Widget.example.com default/w is also defined at w.yaml:1"
    ]
    assert (
        validated.objects[1][1].path("default", "w")
        == "/apis/example.com/v1/namespaces/default/widgets/w"
    )


def test_images_in_custom_resources_are_checked_too() -> None:
    config = cfg()
    disco = {
        **DISCOVERY,
        ("argoproj.io/v1alpha1", "Rollout"): ResourceInfo(
            "argoproj.io", "v1alpha1", "Rollout", "rollouts", True
        ),
    }
    rollout = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "r"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
    }
    _, problems = validate([m(rollout)], disco, config)
    assert len(problems) == 1 and "not pinned" in problems[0].message
    _, problems = validate([m(rollout)], disco, cfg(require_digests=False))
    assert problems == []
