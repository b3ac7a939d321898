"""`publish --from --with-signatures` between a registry with the OCI 1.1
referrers API (the real registry behind the proxy in referrers API mode) and
one without it (distribution 2.8: the `sha256-<hex>` tag-schema index), both
ways."""

from __future__ import annotations

import json

import pytest
import requests

from shipstep.oci.client import RegistryClient
from shipstep.oci.reference import Reference, parse_reference
from tests.fixtures.registry import Registry, RegistryFactory
from tests.fixtures.registry_proxy import RegistryProxy
from tests.integration.oci.test_referrers_api import SBOM, attach, upstream_tags
from tests.integration.publish.helpers import run_publish, unique
from tests.integration.publish.test_copy import push_index, sign

pytestmark = pytest.mark.timeout(120)

BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def signed_index(client: RegistryClient, src: Reference) -> tuple[str, list[str]]:
    """An index at `src` with a `.sig` tag and two referrers; (digest, referrer digests)."""
    digest = push_index(client, src)
    _, bundle = sign(client, src.without_tag(), digest)
    sbom = attach(client, src.without_tag(), digest, SBOM, "sbom")
    return digest, [bundle, sbom]


def fallback_index(registry: Registry, repository: str, digest: str) -> list[dict[str, str]]:
    response = requests.get(
        f"{registry.url}/v2/{repository}/manifests/{digest.replace(':', '-')}",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return list(json.loads(response.content)["manifests"])


def test_from_a_referrers_api_registry_to_a_fallback_one(
    registry_proxy: RegistryProxy, make_registry: RegistryFactory
) -> None:
    registry_proxy.referrers_api = True
    registry_proxy.referrers_page_size = 1  # the copy must follow the Link
    client = RegistryClient()
    src = parse_reference(f"{registry_proxy.host}/{unique('src')}:2.0")
    digest, referrers = signed_index(client, src)
    assert upstream_tags(registry_proxy, src) == ["2.0", f"sha256-{digest[7:]}.sig"]
    dest_registry = make_registry()
    dest_repo = unique("dest")

    result = run_publish(
        source=str(src), to=f"{dest_registry.host}/{dest_repo}", with_signatures=True
    )
    assert result.digest == digest and len(result.signatures) == 3
    # The source's referrers came from its API, page by page, not a fallback tag.
    assert registry_proxy.count("GET", rf"/referrers/{digest}") == 2
    assert registry_proxy.count("GET", rf"/manifests/sha256-{digest[7:]}$") == 0
    # The destination lacks the API: the copy wrote its tag-schema index.
    dest = parse_reference(f"{dest_registry.host}/{dest_repo}")
    index = fallback_index(dest_registry, dest_repo, digest)
    assert [(d["digest"], d["artifactType"]) for d in index] == [
        (referrers[0], BUNDLE),
        (referrers[1], SBOM),
    ]
    assert [d.digest for d in client.referrers(dest.with_digest(digest))] == referrers

    again = run_publish(
        source=str(src), to=f"{dest_registry.host}/{dest_repo}", with_signatures=True
    )
    assert again.operation == "unchanged"
    assert len(fallback_index(dest_registry, dest_repo, digest)) == 2


def test_from_a_fallback_registry_to_a_referrers_api_one(
    registry: Registry, registry_proxy: RegistryProxy
) -> None:
    client = RegistryClient()
    src = parse_reference(f"{registry.host}/{unique('src')}:2.0")
    digest, referrers = signed_index(client, src)
    assert len(fallback_index(registry, src.repository, digest)) == 2
    registry_proxy.referrers_api = True
    dest_repo = unique("dest")

    result = run_publish(
        source=str(src), to=f"{registry_proxy.host}/{dest_repo}", with_signatures=True
    )
    assert result.digest == digest and len(result.signatures) == 3
    # The destination answered OCI-Subject: no fallback tag there, only the copies.
    dest = parse_reference(f"{registry_proxy.host}/{dest_repo}:2.0")
    assert upstream_tags(registry_proxy, dest) == ["2.0", f"sha256-{digest[7:]}.sig"]
    recorded = registry_proxy.referrers[(dest_repo, digest)]
    assert list(recorded) == referrers
    assert [d.digest for d in client.referrers(dest.with_digest(digest))] == referrers
    assert registry_proxy.count("GET", rf"/manifests/sha256-{digest[7:]}$") == 0
    assert registry_proxy.count("PUT", rf"/manifests/sha256-{digest[7:]}$") == 0

    puts = registry_proxy.count("PUT", "/manifests/")
    listed = registry_proxy.count("GET", rf"/referrers/{digest}")
    again = run_publish(
        source=str(src), to=f"{registry_proxy.host}/{dest_repo}", with_signatures=True
    )
    assert again.operation == "unchanged"
    assert registry_proxy.count("PUT", "/manifests/") == puts
    # the referrers present at the destination were checked through its API
    assert registry_proxy.count("GET", rf"/referrers/{digest}") > listed
    assert registry_proxy.count("GET", rf"/manifests/sha256-{digest[7:]}$") == 0
