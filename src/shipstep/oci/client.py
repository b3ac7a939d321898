"""A client for the OCI distribution API (Docker Registry HTTP API v2).

    client = RegistryClient(credentials=DockerConfig(), reporter=reporter)
    data, media_type, digest = client.get_manifest(ref)
    digest = client.put_manifest(ref, data, media_type)
    client.upload_blob(ref, lambda: open(path, "rb"), digest, size)

Every method takes a `Reference` (its registry and repository say where;
`ref.identifier` is the tag or digest for manifest calls). Public API:

- `resolve(ref) -> digest`: the digest a tag (or digest) points to.
- `manifest_digest(ref) -> digest | None`: HEAD; None when absent.
- `get_manifest(ref) -> (bytes, media_type, digest)`: checked against the
  requested digest (or the registry's `Docker-Content-Digest`).
- `put_manifest(ref, data, media_type) -> digest`: the registry's
  `Docker-Content-Digest` must match; a manifest with a `subject` on a
  registry without the referrers API also updates the `sha256-<hex>` index.
- `blob_exists(ref, digest) -> bool`
- `get_blob(ref, digest) -> BlobStream`: a context manager yielding chunks;
  raises `DigestMismatch` at the end if the bytes do not match.
- `upload_blob(ref, source, digest, size, mount_from=None) -> "exists" | "mounted" | "uploaded"`:
  HEAD first, cross-repository mount when `mount_from` (a repository in the
  same registry) is given, else one streamed PATCH of the whole blob and a
  PUT with the digest. `source` is bytes or a zero-argument factory returning
  a file object or an iterable of chunks; on a 5xx/connection failure the
  upload starts over with a fresh source (bounded retries).
- `mount_blob(ref, digest, from_repository) -> bool`
- `list_tags(ref) -> list[str]`: follows `Link` pagination.
- `referrers(ref, artifact_type=None) -> list[Descriptor]`: the referrers API,
  falling back to the tag schema (`sha256-<hex>` index) where it is absent
  (see `shipstep.oci.referrers`).
- `stats`: requests and uploaded bytes so far.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal
from urllib.parse import urljoin

import requests
import urllib3

from shipstep.errors import ShipstepError
from shipstep.oci.auth import CredentialProvider
from shipstep.oci.manifest import (
    MANIFEST_ACCEPT,
    Descriptor,
    Manifest,
)
from shipstep.oci.reference import Reference
from shipstep.oci.transport import Body, RetryableError, Transport, TransportStats
from shipstep.progress import NullReporter, Reporter

CHUNK = 1 << 20
MAX_MANIFEST = 4 << 20  # as containerd and the distribution spec's recommendation


class DigestMismatch(ShipstepError):
    """Content from, or accepted by, a registry does not match its digest."""


class RegistryError(ShipstepError):
    """A registry answered with an error for an operation."""

    def __init__(
        self, message: str, *, status: int, code: str | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


def _hasher(digest: str) -> hashlib._Hash:
    algorithm = digest.split(":", 1)[0]
    if algorithm not in ("sha256", "sha512"):
        raise ShipstepError(f"Unsupported digest algorithm in {digest!r}.")
    return hashlib.new(algorithm)


def _check(data: bytes, digest: str, what: str) -> None:
    hasher = _hasher(digest)
    hasher.update(data)
    actual = f"{digest.split(':', 1)[0]}:{hasher.hexdigest()}"
    if actual != digest:
        raise DigestMismatch(
            f"The registry returned a {what} whose content does not match its digest "
            f"(expected {digest}, got {actual}).",
            hint="The registry or a proxy corrupted the content; retry, and report it if it persists.",
            title="Digest mismatch",
        )


class BlobStream:
    """Chunks of a blob, checked against its digest when fully read."""

    def __init__(self, response: requests.Response, digest: str, what: str) -> None:
        self._response = response
        self._digest = digest
        self._what = what
        self._hasher = _hasher(digest)
        self.size = int(response.headers.get("Content-Length") or 0) or None
        self.received = 0

    def __enter__(self) -> BlobStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._response.close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self._response.iter_content(CHUNK):
                self._hasher.update(chunk)
                self.received += len(chunk)
                yield chunk
        except requests.RequestException as error:
            raise ShipstepError(
                f"The download of {self._what} broke off: {error.__class__.__name__}."
            ) from None
        actual = f"{self._digest.split(':', 1)[0]}:{self._hasher.hexdigest()}"
        if actual != self._digest:
            raise DigestMismatch(
                f"The registry returned {self._what} whose content does not match its digest "
                f"(expected {self._digest}, got {actual}).",
                title="Digest mismatch",
            )


def registry_error(response: requests.Response, doing: str, ref: Reference) -> RegistryError:
    code: str | None = None
    detail = ""
    try:
        errors = response.json().get("errors") or []
        if errors:
            code = str(errors[0].get("code") or "") or None
            detail = str(errors[0].get("message") or "")
    except (ValueError, AttributeError):
        pass
    status = response.status_code
    text = f"Registry {ref.registry} refused to {doing} for {ref.name} (HTTP {status}"
    text += f" {code})" if code else ")"
    if detail:
        text += f": {detail[:300]}"
    hint = None
    if status == 403:
        hint = "The credentials lack permission for this repository (push needs write access)."
    elif status == 404:
        hint = "Check the repository name and that the image exists."
    elif status >= 500:
        hint = "The registry is failing; retry later."
    return RegistryError(text + ".", status=status, code=code, hint=hint)


class RegistryClient:
    def __init__(
        self,
        credentials: CredentialProvider | None = None,
        *,
        endpoints: Mapping[str, str] | None = None,
        insecure_registries: Iterable[str] = (),
        reporter: Reporter | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        transport: Transport | None = None,
    ) -> None:
        self.reporter = reporter or NullReporter()
        self.transport = transport or Transport(
            credentials,
            endpoints=endpoints,
            insecure=insecure_registries,
            retries=retries,
            backoff=backoff,
            reporter=self.reporter,
        )

    @property
    def stats(self) -> TransportStats:
        return self.transport.stats

    # -- helpers ---------------------------------------------------------

    @staticmethod
    def _pull(ref: Reference) -> tuple[str, ...]:
        return (f"repository:{ref.repository}:pull",)

    @staticmethod
    def _push(ref: Reference) -> tuple[str, ...]:
        return (f"repository:{ref.repository}:pull,push",)

    def _request(
        self, method: str, ref: Reference, path: str, scopes: tuple[str, ...], **kwargs: object
    ) -> requests.Response:
        return self.transport.request(method, ref.api_host, path, scopes=scopes, **kwargs)  # type: ignore[arg-type]

    # -- manifests -------------------------------------------------------

    def manifest_digest(self, ref: Reference) -> str | None:
        """The digest of the manifest `ref` names, or None when it is absent."""
        response = self._request(
            "HEAD",
            ref,
            f"/v2/{ref.repository}/manifests/{ref.identifier}",
            self._pull(ref),
            headers={"Accept": MANIFEST_ACCEPT},
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise registry_error(response, "look up the manifest", ref)
        digest = response.headers.get("Docker-Content-Digest")
        if ref.digest:
            if digest and digest != ref.digest:
                raise DigestMismatch(
                    f"Registry {ref.registry} answered digest {digest} when asked for {ref.digest}."
                )
            return ref.digest
        if digest:
            return digest
        _, _, digest = self.get_manifest(ref)  # registries that omit the header
        return digest

    def resolve(self, ref: Reference) -> str:
        """The digest `ref` points to; `RegistryError` (404) when absent."""
        digest = self.manifest_digest(ref)
        if digest is None:
            raise RegistryError(
                f"{ref} was not found in registry {ref.registry}.",
                status=404,
                code="MANIFEST_UNKNOWN",
                hint="Check the repository, tag and digest.",
            )
        return digest

    def get_manifest(self, ref: Reference) -> tuple[bytes, str, str]:
        response = self._request(
            "GET",
            ref,
            f"/v2/{ref.repository}/manifests/{ref.identifier}",
            self._pull(ref),
            headers={"Accept": MANIFEST_ACCEPT},
            stream=True,
        )
        with response:
            return self._read_manifest(ref, response)

    def _read_manifest(self, ref: Reference, response: requests.Response) -> tuple[bytes, str, str]:
        if response.status_code == 404:
            raise RegistryError(
                f"{ref} was not found in registry {ref.registry}.",
                status=404,
                code="MANIFEST_UNKNOWN",
                hint="Check the repository, tag and digest.",
            )
        if response.status_code != 200:
            raise registry_error(response, "return the manifest", ref)
        try:
            data = response.raw.read(MAX_MANIFEST + 1, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ShipstepError(
                f"Reading the manifest for {ref} from registry {ref.registry} broke off: "
                f"{error.__class__.__name__}."
            ) from None
        if len(data) > MAX_MANIFEST:
            raise ShipstepError(
                f"Registry {ref.registry} returned a manifest for {ref} larger than {MAX_MANIFEST >> 20} MiB.",
                hint="Manifests are small JSON documents; the registry or the reference is wrong.",
            )
        media_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        expected = ref.digest or response.headers.get("Docker-Content-Digest")
        if expected:
            _check(data, expected, f"manifest for {ref}")
        digest = expected or "sha256:" + hashlib.sha256(data).hexdigest()
        if not media_type or media_type in ("application/json", "text/plain"):
            media_type = Manifest.parse(data).media_type
        return data, media_type, digest

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        """PUT a manifest at `ref.identifier` and return its digest (checked)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.digest and ref.digest != digest:
            raise DigestMismatch(f"The manifest for {ref} does not have digest {ref.digest}.")
        response = self._request(
            "PUT",
            ref,
            f"/v2/{ref.repository}/manifests/{ref.tag or digest}",
            self._push(ref),
            headers={"Content-Type": media_type},
            body=data,
        )
        if response.status_code not in (200, 201, 202):
            raise registry_error(response, "store the manifest", ref)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise DigestMismatch(
                f"Registry {ref.registry} stored the manifest for {ref} under digest {answered}, "
                f"not {digest}.",
                title="Digest mismatch",
            )
        manifest = Manifest.parse(data, media_type)
        if manifest.subject is not None and not response.headers.get("OCI-Subject"):
            # No referrers API: keep the tag-schema index of the subject current.
            from shipstep.oci.referrers import add_to_fallback_index

            add_to_fallback_index(self, ref, manifest, Descriptor(media_type, digest, len(data)))
        return digest

    def delete_manifest(self, ref: Reference) -> bool:
        response = self._request(
            "DELETE", ref, f"/v2/{ref.repository}/manifests/{ref.identifier}", self._push(ref)
        )
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 202):
            raise registry_error(response, "delete the manifest", ref)
        return True

    # -- blobs -----------------------------------------------------------

    def blob_exists(self, ref: Reference, digest: str) -> bool:
        response = self._request(
            "HEAD", ref, f"/v2/{ref.repository}/blobs/{digest}", self._pull(ref)
        )
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise registry_error(response, f"look up blob {digest}", ref)
        return True

    def get_blob(self, ref: Reference, digest: str) -> BlobStream:
        response = self._request(
            "GET", ref, f"/v2/{ref.repository}/blobs/{digest}", self._pull(ref), stream=True
        )
        if response.status_code != 200:
            response.close()
            raise registry_error(response, f"return blob {digest}", ref)
        return BlobStream(response, digest, f"blob {digest} of {ref.name}")

    def mount_blob(self, ref: Reference, digest: str, from_repository: str) -> bool:
        location = self._start_upload(ref, digest, from_repository)
        if location is None:
            return True
        self._request("DELETE", ref, location, self._push(ref), retry=False).close()
        return False

    def _start_upload(
        self, ref: Reference, digest: str | None = None, mount_from: str | None = None
    ) -> str | None:
        """POST an upload session; None when the blob was mounted instead."""
        params: dict[str, str] = {}
        scopes = self._push(ref)
        if mount_from and digest:
            params = {"mount": digest, "from": mount_from}
            scopes = (*scopes, f"repository:{mount_from}:pull")
        response = self._request(
            "POST",
            ref,
            f"/v2/{ref.repository}/blobs/uploads/",
            scopes,
            params=params,
            headers={"Content-Length": "0"},
            body=b"",
        )
        if response.status_code == 201 and mount_from:
            return None
        if response.status_code != 202 or "Location" not in response.headers:
            raise registry_error(response, "start a blob upload", ref)
        return urljoin(response.url, response.headers["Location"])

    def upload_blob(
        self,
        ref: Reference,
        source: Body,
        digest: str,
        size: int,
        *,
        mount_from: str | None = None,
        check_exists: bool = True,
        progress: Callable[[int], object] | None = None,
    ) -> Literal["exists", "mounted", "uploaded"]:
        if check_exists and self.blob_exists(ref, digest):
            return "exists"
        retries = self.transport.retries
        for attempt in range(1, retries + 2):
            location = self._start_upload(ref, digest, mount_from)
            if location is None:
                return "mounted"
            mount_from = None  # a refused mount is not retried
            try:
                self._send_blob(ref, location, source, digest, size, progress)
                return "uploaded"
            except RetryableError as error:
                if attempt > retries:
                    raise ShipstepError(
                        f"Uploading blob {digest} to {ref.name} failed {attempt} times: {error}.",
                        hint="The registry is failing; retry later.",
                    ) from None
                self.reporter.log(f"upload of {digest[:19]} failed ({error}); starting over")
                self.transport._wait(attempt, None)
        raise AssertionError("unreachable")

    def _send_blob(
        self,
        ref: Reference,
        location: str,
        source: Body,
        digest: str,
        size: int,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        scopes = self._push(ref)
        if size:
            response = self._request(
                "PATCH",
                ref,
                location,
                scopes,
                headers={"Content-Type": "application/octet-stream"},
                body=source,
                length=size,
                retry=False,
                progress=progress,
            )
            if response.status_code in (429, 500, 502, 503, 504):
                raise RetryableError(f"HTTP {response.status_code} during the upload")
            if response.status_code != 202:
                raise registry_error(response, f"accept the content of blob {digest}", ref)
            location = urljoin(response.url, response.headers.get("Location", location))
        separator = "&" if "?" in location else "?"
        response = self._request(
            "PUT",
            ref,
            f"{location}{separator}digest={digest}",
            scopes,
            headers={"Content-Length": "0"},
            body=b"",
            retry=False,
        )
        if response.status_code in (429, 500, 502, 503, 504):
            raise RetryableError(f"HTTP {response.status_code} completing the upload")
        if response.status_code == 400 and "DIGEST_INVALID" in response.text:
            raise DigestMismatch(
                f"Registry {ref.registry} computed a different digest for blob {digest} of {ref.name}.",
                hint="The content changed while it was uploaded, or the source is corrupt.",
                title="Digest mismatch",
            )
        if response.status_code != 201:
            raise registry_error(response, f"complete the upload of blob {digest}", ref)
        answered = response.headers.get("Docker-Content-Digest")
        if answered and answered != digest:
            raise DigestMismatch(
                f"Registry {ref.registry} stored blob {digest} of {ref.name} as {answered}.",
                title="Digest mismatch",
            )

    # -- tags and referrers ----------------------------------------------

    def list_tags(self, ref: Reference, page_size: int = 1000) -> list[str]:
        tags: list[str] = []
        path: str | None = f"/v2/{ref.repository}/tags/list?n={page_size}"
        while path:
            response = self._request("GET", ref, path, self._pull(ref))
            if response.status_code == 404:
                return tags
            if response.status_code != 200:
                raise registry_error(response, "list tags", ref)
            try:
                tags.extend(response.json().get("tags") or [])
            except (ValueError, AttributeError):
                raise ShipstepError(
                    f"Registry {ref.registry} answered a tag list that is not JSON."
                ) from None
            path = next_link(response)
        return tags

    def referrers(self, ref: Reference, artifact_type: str | None = None) -> list[Descriptor]:
        """Manifests whose `subject` is `ref` (resolved to a digest): the
        referrers API, else the `sha256-<hex>` tag-schema index."""
        from shipstep.oci.referrers import list_referrers

        return list_referrers(self, ref, artifact_type)

    @staticmethod
    def fallback_tag(digest: str) -> str:
        """The referrers tag schema: `sha256:abc...` -> `sha256-abc...`."""
        return digest.replace(":", "-", 1)


def next_link(response: requests.Response) -> str | None:
    link = response.headers.get("Link")
    if not link:
        return None
    match = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
    if not match:
        return None
    return urljoin(response.url, str(match.group(1)))
