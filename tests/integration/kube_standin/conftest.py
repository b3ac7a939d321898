from collections.abc import Iterator

import pytest

from tests.fixtures.kube import KubeStandin, kube, kube_server, kube_standin_factory

__all__ = ["kube", "kube_server", "kube_standin_factory"]


@pytest.fixture(autouse=True)
def _controller_has_no_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test of the stand-in also checks that its controller raised nothing."""
    yield
    if "kube" in request.fixturenames:
        server: KubeStandin = request.getfixturevalue("kube_server")
        errors, server.controller.errors[:] = list(server.controller.errors), []
        assert errors == []
