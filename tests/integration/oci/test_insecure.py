"""TLS policy: verified HTTPS for every non-loopback registry unless it is
named with --insecure-registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipstep.errors import ShipstepError
from shipstep.oci.client import RegistryClient
from shipstep.oci.reference import is_loopback, parse_reference
from tests.fixtures.registry import Registry
from tests.fixtures.registry_proxy import RegistryProxy, outbound_address

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def lan_registry(registry: Registry) -> Iterator[RegistryProxy]:
    """The real registry reachable on this machine's non-loopback address, over plain HTTP."""
    address = outbound_address()
    assert not is_loopback(address), "the test machine needs a non-loopback IPv4 address"
    proxy = RegistryProxy(registry, bind=address)
    yield proxy
    proxy.stop()


def test_plain_http_is_refused_without_insecure_registry(lan_registry: RegistryProxy) -> None:
    client = RegistryClient(retries=0)
    with pytest.raises(ShipstepError) as caught:
        client.manifest_digest(parse_reference(f"{lan_registry.host}/app/x:1"))
    assert "Cannot reach registry" in caught.value.message
    assert f"https://{lan_registry.host}" in caught.value.message
    assert lan_registry.log == []  # nothing was sent in clear text


def test_insecure_registry_falls_back_to_http(lan_registry: RegistryProxy) -> None:
    client = RegistryClient(insecure_registries=[lan_registry.host], retries=0)
    assert client.manifest_digest(parse_reference(f"{lan_registry.host}/app/x:1")) is None
    assert client.transport.base_url(lan_registry.host) == f"http://{lan_registry.host}"
    assert lan_registry.count("HEAD", "/manifests/") == 1
