"""Fixtures of the agent's integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.agent.harness import namespace
from tests.kube_standin.standin import KubeStandin


@pytest.fixture(scope="session")
def _standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeStandin]:
    standin = KubeStandin(tmp_path_factory.mktemp("kube") / "kubeconfig")
    yield standin
    standin.stop()


@pytest.fixture
def cluster(_standin: KubeStandin) -> Any:
    """The stand-in, reset, with the agent's namespace and `apps`."""
    _standin.reset()
    _standin.seed(namespace("shipstep-system"), namespace("apps"))
    _standin.requests.clear()
    return _standin
