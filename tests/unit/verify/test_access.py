"""Cluster access options and their bad-input errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipstep.cluster.access import ClusterOptions, connect
from shipstep.cluster.eks import token_from_url, url_from_token
from shipstep.errors import InputError


def test_one_way_only() -> None:
    with pytest.raises(InputError, match="Choose one way"):
        ClusterOptions(kubeconfig=Path("k"), eks_cluster="c", region="r")


def test_in_cluster_outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(InputError, match="No in-cluster configuration"):
        connect(ClusterOptions(in_cluster=True))


def test_unreadable_kubeconfig(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\ncontexts: []\n")
    with pytest.raises(InputError, match="Cannot load the kubeconfig"):
        connect(ClusterOptions(kubeconfig=config))


def test_token_round_trip_has_no_padding() -> None:
    for url in ("https://sts.eu-west-1.amazonaws.com/?a=1", "https://x/?ab", "https://x/?abc"):
        token = token_from_url(url)
        assert token.startswith("k8s-aws-v1.") and not token.endswith("=")
        assert url_from_token(token) == url
    with pytest.raises(ValueError, match="not an EKS token"):
        url_from_token("Bearer x")
