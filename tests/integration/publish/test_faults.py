"""Faults between shipstep and the registry: failing uploads are retried,
no manifest ever points at a missing blob, read-back mismatches fail."""

from __future__ import annotations

import os

import pytest
import requests

from shipstep.errors import ShipstepError
from shipstep.oci.client import DigestMismatch
from tests.fixtures.images import ImageFactory
from tests.fixtures.registry_proxy import RegistryProxy
from tests.fixtures.services import free_port
from tests.integration.publish.helpers import run_publish, skopeo_inspect, unique

pytestmark = pytest.mark.timeout(180)

BLOB_UPLOAD = r"/blobs/uploads/."


@pytest.fixture
def big_image(make_image: ImageFactory) -> str:
    return make_image(files={"payload.bin": os.urandom(3_000_000)})


def upstream_tags(proxy: RegistryProxy, repo: str) -> list[str]:
    response = requests.get(f"{proxy.upstream.url}/v2/{repo}/tags/list", timeout=5)
    if response.status_code == 404:
        return []
    return list(response.json().get("tags") or [])


@pytest.mark.parametrize(
    "fault",
    [
        {"method": "PATCH", "status": 503},  # after the whole body
        {"method": "PATCH", "status": 500, "after_bytes": 200_000},  # in the middle of the body
        {"method": "PATCH", "status": 503, "after_bytes": 200_000, "drop": True},  # connection lost
        {"method": "PUT", "status": 502},  # completing the upload
        {"method": "POST", "status": 429},  # starting the upload
    ],
    ids=["patch-503", "patch-500-mid-body", "patch-dropped", "put-502", "post-429"],
)
def test_transient_upload_failures_are_retried(
    registry_proxy: RegistryProxy, big_image: str, fault: dict[str, object]
) -> None:
    method = str(fault.pop("method"))
    registry_proxy.fail(
        method, BLOB_UPLOAD if method != "POST" else r"/blobs/uploads/$", times=2, **fault
    )  # type: ignore[arg-type]
    repo = unique("faulty")
    result = run_publish(image=big_image, to=f"{registry_proxy.host}/{repo}:1", retries=3)
    assert result.operation == "pushed"
    assert skopeo_inspect(f"{registry_proxy.host}/{repo}:1")["Digest"] == result.digest
    assert any(status == fault.get("status") for _, _, status in registry_proxy.log)


def test_persistent_upload_failure_writes_no_manifest(
    registry_proxy: RegistryProxy, big_image: str
) -> None:
    registry_proxy.fail("PATCH", BLOB_UPLOAD, status=503, times=100, after_bytes=100_000)
    repo = unique("broken")
    with pytest.raises(ShipstepError) as caught:
        run_publish(image=big_image, to=f"{registry_proxy.host}/{repo}:1", retries=2)
    assert "failed" in caught.value.message
    assert registry_proxy.count("PUT", "/manifests/") == 0
    assert upstream_tags(registry_proxy, repo) == []


def test_manifest_put_503_is_retried(registry_proxy: RegistryProxy, big_image: str) -> None:
    registry_proxy.fail("PUT", r"/manifests/", status=503, times=1)
    repo = unique("manifest")
    result = run_publish(image=big_image, to=f"{registry_proxy.host}/{repo}:1", retries=2)
    assert upstream_tags(registry_proxy, repo) == ["1"]
    assert result.operation == "pushed"


def test_digest_mismatch_on_read_back(registry_proxy: RegistryProxy, big_image: str) -> None:
    registry_proxy.corrupt_digest = True
    with pytest.raises(DigestMismatch) as caught:
        run_publish(image=big_image, to=f"{registry_proxy.host}/{unique('mismatch')}:1")
    assert "digest" in caught.value.message.lower()


def test_unreachable_registry(big_image: str) -> None:
    with pytest.raises(ShipstepError) as caught:
        run_publish(image=big_image, to=f"127.0.0.1:{free_port()}/app:1", retries=1)
    assert "Cannot reach registry" in caught.value.message
