from tests.fixtures.github import github_api
from tests.fixtures.http_checks import prometheus, web_app
from tests.fixtures.kube import kube, kube_server, kube_standin_factory

__all__ = ["github_api", "kube", "kube_server", "kube_standin_factory", "prometheus", "web_app"]
