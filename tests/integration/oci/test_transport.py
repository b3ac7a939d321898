"""Retries, backoff and Retry-After against the real registry behind a proxy."""

from __future__ import annotations

import pytest

from shipstep.errors import ShipstepError
from shipstep.oci.client import RegistryClient, RegistryError
from shipstep.oci.reference import parse_reference
from shipstep.oci.transport import Transport
from tests.fixtures.registry_proxy import RegistryProxy

pytestmark = pytest.mark.timeout(60)


def client_with_clock(retries: int = 3) -> tuple[RegistryClient, list[float]]:
    sleeps: list[float] = []
    transport = Transport(retries=retries, backoff=0.5, max_backoff=8.0, sleep=sleeps.append)
    return RegistryClient(transport=transport), sleeps


def test_retry_after_seconds_is_honoured(registry_proxy: RegistryProxy) -> None:
    registry_proxy.fail("GET", r"/tags/list", status=429, times=1, headers={"Retry-After": "3"})
    client, sleeps = client_with_clock()
    assert client.list_tags(parse_reference(f"{registry_proxy.host}/none/here")) == []
    assert sleeps and sleeps[0] == pytest.approx(3.0)
    assert client.stats.retries == 1


def test_exponential_backoff_then_give_up(registry_proxy: RegistryProxy) -> None:
    registry_proxy.fail("HEAD", r"/manifests/", status=503, times=10)
    client, sleeps = client_with_clock(retries=3)
    with pytest.raises(RegistryError) as caught:
        client.manifest_digest(parse_reference(f"{registry_proxy.host}/app/x:1"))
    assert caught.value.status == 503
    assert len(sleeps) == 3
    # 0.5 * 2^n with jitter in [50%, 100%]
    for n, delay in enumerate(sleeps):
        assert 0.25 * 2**n <= delay <= 0.5 * 2**n
    assert registry_proxy.count("HEAD", "/manifests/") == 4


def test_client_errors_are_not_retried(registry_proxy: RegistryProxy) -> None:
    registry_proxy.fail("GET", r"/manifests/", status=400, times=5)
    client, sleeps = client_with_clock()
    with pytest.raises(ShipstepError):
        client.get_manifest(parse_reference(f"{registry_proxy.host}/app/x:1"))
    assert sleeps == []


def test_oversized_manifest_is_refused(registry_proxy: RegistryProxy) -> None:
    from shipstep.oci.manifest import OCI_MANIFEST, encode_json

    client, _ = client_with_clock()
    ref = parse_reference(f"{registry_proxy.host}/app/huge:1")
    # a valid manifest padded past the 4 MiB limit with an annotation
    big = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:" + "4" * 64,
                "size": 2,
            },
            "layers": [],
            "annotations": {"pad": "x" * (4 << 20)},
        }
    )
    # a registry answering it (distribution would not store it: the proxy answers)
    registry_proxy.fail(
        "GET", r"/manifests/1$", status=200, body=big, headers={"Content-Type": OCI_MANIFEST}
    )
    with pytest.raises(ShipstepError) as caught:
        client.get_manifest(ref)
    assert "larger than 4 MiB" in caught.value.message
