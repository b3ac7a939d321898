from tests.fixtures.registry_proxy import registry_proxy

__all__ = ["registry_proxy"]
