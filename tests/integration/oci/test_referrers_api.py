"""The registry client on a registry with the OCI 1.1 referrers API: the real
registry behind the proxy in referrers API mode (distribution 2.8 alone only
exercises the tag-schema fallback, see test_client.py)."""

from __future__ import annotations

import uuid

import pytest
import requests

from shipstep.oci.client import RegistryClient
from shipstep.oci.manifest import (
    EMPTY_JSON_DIGEST,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    encode_json,
)
from shipstep.oci.reference import Reference, parse_reference
from tests.fixtures.artifacts import push_artifact
from tests.fixtures.registry_proxy import RegistryProxy
from tests.integration.oci.test_client import push_image


def unique_repo(proxy: RegistryProxy) -> Reference:
    return parse_reference(f"{proxy.host}/referrers/{uuid.uuid4().hex[:10]}:v1")


pytestmark = pytest.mark.timeout(60)

SBOM = "application/vnd.example.sbom.v1"
SIGNATURE = "application/vnd.example.signature.v1"


def attach(
    client: RegistryClient, repo: Reference, subject: str, artifact_type: str, note: str
) -> str:
    """Push an artifact manifest (by digest) whose `subject` is `subject`."""
    payload = encode_json({"note": note})
    annotations = {"org.example.note": note}
    return push_artifact(client, repo, artifact_type, payload, subject, annotations=annotations)[0]


def upstream_tags(proxy: RegistryProxy, repo: Reference) -> list[str]:
    """The tags the real registry holds (not through the proxy)."""
    response = requests.get(f"{proxy.upstream.url}/v2/{repo.repository}/tags/list", timeout=10)
    assert response.status_code == 200, response.text
    return sorted(response.json()["tags"])


def test_referrers_are_pushed_and_listed_through_the_api(registry_proxy: RegistryProxy) -> None:
    registry_proxy.referrers_api = True
    registry_proxy.referrers_page_size = 2
    client = RegistryClient()
    ref = unique_repo(registry_proxy)
    _, subject = push_image(client, ref, b"subject layer")
    kinds = [SBOM, SIGNATURE, SBOM, SIGNATURE, SBOM]
    pushed = [attach(client, ref, subject, kind, f"n{i}") for i, kind in enumerate(kinds)]

    # The registry answered OCI-Subject: the client wrote no sha256-<hex> index.
    assert upstream_tags(registry_proxy, ref) == ["v1"]
    assert [d["digest"] for d in registry_proxy.referrers[(ref.repository, subject)].values()] == (
        pushed
    )

    found = client.referrers(ref)
    assert [d.digest for d in found] == pushed  # 3 pages of 2
    assert [d.artifact_type for d in found] == kinds
    assert [d.annotations for d in found] == [{"org.example.note": f"n{i}"} for i in range(5)]
    assert registry_proxy.count("GET", f"/referrers/{subject}") == 3
    sboms = client.referrers(ref, artifact_type=SBOM)
    assert [d.digest for d in sboms] == [pushed[0], pushed[2], pushed[4]]  # 2 pages
    # filtered by the registry, page 2 too (the Link keeps the filter)
    assert registry_proxy.count("GET", rf"/referrers/{subject}\?artifactType=") == 2
    # The fallback tag was never looked at.
    assert registry_proxy.count("GET", "/manifests/sha256-") == 0
    assert registry_proxy.count("HEAD", "/manifests/sha256-") == 0

    # Deleting a referrer takes it off the list, as a registry with the API does.
    assert client.delete_manifest(ref.with_digest(pushed[1]))
    assert [d.digest for d in client.referrers(ref, artifact_type=SIGNATURE)] == [pushed[3]]
    other = unique_repo(registry_proxy)
    push_image(client, other, b"lonely")
    assert client.referrers(other) == []


def test_the_proxy_answers_the_referrers_api_as_the_spec_says(
    registry_proxy: RegistryProxy,
) -> None:
    client = RegistryClient()
    ref = parse_reference(f"{registry_proxy.host}/spec/check:v1")
    _, subject = push_image(client, ref, b"subject layer")
    base = f"{registry_proxy.url}/v2/spec/check/referrers"
    # Off: what distribution 2.8 answers.
    assert requests.get(f"{base}/{subject}", timeout=10).status_code == 404

    registry_proxy.referrers_api = True
    registry_proxy.referrers_page_size = 1
    sbom = attach(client, ref, subject, SBOM, "a")
    signature = attach(client, ref, subject, SIGNATURE, "b")
    plain = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_JSON_DIGEST, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
        }
    )
    stored = requests.put(
        f"{registry_proxy.url}/v2/spec/check/manifests/plain",
        data=plain,
        headers={"Content-Type": OCI_MANIFEST},
        timeout=10,
    )
    assert stored.status_code == 201 and stored.headers["OCI-Subject"] == subject

    first = requests.get(f"{base}/{subject}", timeout=10)
    assert first.status_code == 200
    assert first.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in first.headers
    index = first.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == OCI_INDEX
    assert [d["digest"] for d in index["manifests"]] == [sbom]
    assert index["manifests"][0]["artifactType"] == SBOM
    assert first.links["next"]["url"].startswith("/v2/spec/check/referrers/")
    pages = [index["manifests"][0]]
    url = first.links["next"]["url"]
    while url:
        page = requests.get(registry_proxy.url + url, timeout=10)
        pages += page.json()["manifests"]
        url = page.links.get("next", {}).get("url")
    assert [d["digest"] for d in pages] == [sbom, signature, digest_of(plain)]
    assert pages[2]["artifactType"] == OCI_EMPTY  # no artifactType: the config's mediaType
    assert pages[2]["size"] == len(plain) and "annotations" not in pages[2]

    filtered = requests.get(f"{base}/{subject}", params={"artifactType": SIGNATURE}, timeout=10)
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"
    assert [d["digest"] for d in filtered.json()["manifests"]] == [signature]
    assert "next" not in filtered.links

    unknown = requests.get(f"{base}/sha256:{'a' * 64}", timeout=10)
    assert unknown.status_code == 200 and unknown.json()["manifests"] == []
    assert requests.get(f"{base}/sha256:nope", timeout=10).status_code == 400
    # A manifest without a subject is no referrer and gets no OCI-Subject.
    image = requests.put(
        f"{registry_proxy.url}/v2/spec/check/manifests/v2",
        data=client.get_manifest(ref)[0],
        headers={"Content-Type": OCI_MANIFEST},
        timeout=10,
    )
    assert image.status_code == 201 and "OCI-Subject" not in image.headers
