from tests.fixtures.kube import kube, kube_server, kube_standin_factory

__all__ = ["kube", "kube_server", "kube_standin_factory"]
