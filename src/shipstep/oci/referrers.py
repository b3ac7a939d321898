"""OCI 1.1 referrers: the referrers API and its tag-schema fallback.

- `list_referrers(client, ref, artifact_type=None)`: `GET /v2/<name>/referrers/<digest>`
  (following `Link` pagination); where a registry lacks the API (a 404, as
  distribution 2.8 answers) the `sha256-<hex>` tag holding an OCI index of
  the referrers is read instead.
- `add_to_fallback_index(client, ref, manifest, descriptor)`: after a manifest
  with a `subject` was pushed to a registry that did not answer
  `OCI-Subject`, add it to that index (idempotent).

`RegistryClient.referrers` and `RegistryClient.put_manifest` call these.
"""

from __future__ import annotations

from shipstep.oci.client import RegistryClient, RegistryError, next_link, registry_error
from shipstep.oci.manifest import OCI_INDEX, Descriptor, Manifest, encode_json
from shipstep.oci.reference import Reference


def list_referrers(
    client: RegistryClient, ref: Reference, artifact_type: str | None = None
) -> list[Descriptor]:
    digest = ref.digest or client.resolve(ref)
    subject = ref.with_digest(digest)
    params = {"artifactType": artifact_type} if artifact_type else None
    scopes = (f"repository:{subject.repository}:pull",)
    transport = client.transport
    response = transport.request(
        "GET",
        subject.api_host,
        f"/v2/{subject.repository}/referrers/{digest}",
        scopes=scopes,
        params=params,
        headers={"Accept": OCI_INDEX},
    )
    content_type = response.headers.get("Content-Type", "")
    found: list[Descriptor] = []
    if response.status_code == 200 and OCI_INDEX in content_type:
        while True:
            found.extend(Manifest.parse(response.content, OCI_INDEX).manifests)
            path = next_link(response)
            if not path:
                break
            response = transport.request(
                "GET", subject.api_host, path, scopes=scopes, headers={"Accept": OCI_INDEX}
            )
            if response.status_code != 200:
                raise registry_error(response, "list referrers", subject)
    elif response.status_code in (200, 400, 404, 405):
        found = fallback_referrers(client, subject)
    else:
        raise registry_error(response, "list referrers", subject)
    if artifact_type:
        found = [d for d in found if d.artifact_type == artifact_type]
    return found


def fallback_referrers(client: RegistryClient, subject: Reference) -> list[Descriptor]:
    """The referrers listed in the subject's `sha256-<hex>` tag-schema index."""
    assert subject.digest is not None
    tag_ref = subject.with_tag(client.fallback_tag(subject.digest))
    try:
        data, media_type, _ = client.get_manifest(tag_ref)
    except RegistryError as error:
        if error.status == 404:
            return []
        raise
    index = Manifest.parse(data, media_type)
    return index.children() if index.is_index else []


def add_to_fallback_index(
    client: RegistryClient, ref: Reference, manifest: Manifest, descriptor: Descriptor
) -> None:
    assert manifest.subject is not None
    artifact_type = manifest.artifact_type or (
        manifest.config.media_type if manifest.config else None
    )
    entry = Descriptor(
        descriptor.media_type,
        descriptor.digest,
        descriptor.size,
        annotations=manifest.annotations,
        artifact_type=artifact_type,
    )
    existing = fallback_referrers(client, ref.with_digest(manifest.subject.digest))
    if any(d.digest == entry.digest for d in existing):
        return
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [d.to_json() for d in [*existing, entry]],
    }
    tag_ref = ref.with_tag(client.fallback_tag(manifest.subject.digest))
    client.put_manifest(tag_ref, encode_json(index), OCI_INDEX)
