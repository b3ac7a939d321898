"""Fixtures of the agent's integration tests: the Kubernetes API stand-in
(shared fixtures) with the agent's namespace and `apps`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.github import github_api
from tests.fixtures.kube import kube, kube_server, kube_standin_factory
from tests.integration.agent.harness import namespace

__all__ = ["cluster", "github_api", "kube", "kube_server", "kube_standin_factory"]


@pytest.fixture
def cluster(kube: Any) -> Any:
    """The stand-in, reset, with namespaces `shipstep-system` and `apps`."""
    kube.seed(namespace("shipstep-system"), namespace("apps"))
    kube.requests.clear()
    return kube
