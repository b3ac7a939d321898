import pytest

from tests.fixtures.github import github_api
from tests.fixtures.http_checks import prometheus, web_app
from tests.fixtures.kube import kube, kube_server, kube_standin_factory

__all__ = ["github_api", "kube", "kube_server", "kube_standin_factory", "prometheus", "web_app"]


@pytest.fixture(autouse=True)
def _stand_in_bookmarks_off(request: pytest.FixtureRequest) -> None:
    """The stand-in (tests/kube_standin/server.py `_watch`) moves a watch's
    position to the store's newest resourceVersion when it sends a BOOKMARK,
    so an event written between its `events_after` and the bookmark is never
    sent. A real API server's bookmark never skips events; until the
    stand-in is fixed, verify's tests run it without bookmarks (verify asks
    for them, as it should)."""
    if "kube" in request.fixturenames:
        request.getfixturevalue("kube").knobs.bookmark_interval = 0
