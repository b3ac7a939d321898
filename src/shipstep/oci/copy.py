"""Copy images between repositories and registries, by digest.

- `copy_manifest(client, src, dest, stats, put=True)`: copies the manifest `src`
  (a reference pinned to a digest) and everything it needs into `dest`'s
  repository: every child of an index (all platforms), every blob (HEAD
  first; a cross-repository mount within one registry; else one streamed
  upload from the source's download, checked against the digest). The
  manifest is PUT by digest only when the destination lacks it. Returns the
  manifest bytes and media type.
- `copy_signatures(client, src, dest, digest, stats)`: copies cosign's
  `sha256-<hex>.sig` / `.att` / `.sbom` tags and every OCI referrer of
  `digest` (the referrers API or its tag-schema fallback) and returns what was
  copied.
- `CopyStats`: blobs uploaded / mounted / already present, manifests written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from shipstep.oci.client import BlobStream, RegistryClient
from shipstep.oci.manifest import Descriptor, Manifest
from shipstep.oci.reference import Reference
from shipstep.progress import NullReporter, Reporter

COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
PARALLEL = 4


@dataclass
class CopyStats:
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_present: int = 0
    manifests_written: int = 0
    manifests_present: int = 0
    copied: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, counter: str) -> None:
        with self.lock:
            setattr(self, counter, getattr(self, counter) + 1)

    @property
    def wrote_anything(self) -> bool:
        return bool(self.blobs_uploaded or self.blobs_mounted or self.manifests_written)


def copy_blob(
    client: RegistryClient,
    src: Reference,
    dest: Reference,
    blob: Descriptor,
    stats: CopyStats,
    reporter: Reporter | None = None,
) -> None:
    if client.blob_exists(dest, blob.digest):
        stats.add("blobs_present")
        return
    same_registry = src.api_host == dest.api_host and src.repository != dest.repository
    streams: list[BlobStream] = []

    def open_source() -> BlobStream:
        for previous in streams:
            previous.close()
        stream = client.get_blob(src, blob.digest)
        streams.append(stream)
        return stream

    try:
        with (reporter or NullReporter()).task(
            f"copy {blob.digest[7:19]}", total=blob.size
        ) as task:
            outcome = client.upload_blob(
                dest,
                open_source,
                blob.digest,
                blob.size,
                mount_from=src.repository if same_registry else None,
                check_exists=False,
                progress=task.advance,
            )
    finally:
        for stream in streams:
            stream.close()
    stats.add("blobs_mounted" if outcome == "mounted" else "blobs_uploaded")


def copy_manifest(
    client: RegistryClient,
    src: Reference,
    dest: Reference,
    stats: CopyStats,
    reporter: Reporter | None = None,
    *,
    put: bool = True,
) -> tuple[bytes, str, str]:
    """Copy `src` (pinned to a digest) into `dest`'s repository; (bytes, media type, digest).

    With `put=False` everything the manifest needs is copied but the manifest
    itself is left to the caller (who PUTs it by tag: one write instead of two)."""
    assert src.digest is not None
    data, media_type, digest = client.get_manifest(src)
    target = dest.with_digest(digest)
    if client.manifest_digest(target) == digest:
        stats.add("manifests_present")
        return data, media_type, digest
    manifest = Manifest.parse(data, media_type)
    # Children and blobs in parallel, as skopeo and docker do; the manifest
    # is PUT only once all of them are in place.
    run_parallel(
        [
            *(
                partial(copy_manifest, client, src.with_digest(c.digest), dest, stats, reporter)
                for c in manifest.children()
            ),
            *(
                partial(copy_blob, client, src, dest, blob, stats, reporter)
                for blob in _unique(manifest.blobs())
            ),
        ]
    )
    if put:
        client.put_manifest(target, data, media_type)
        stats.add("manifests_written")
    return data, media_type, digest


def run_parallel(jobs: Sequence[Callable[[], object]], workers: int = PARALLEL) -> None:
    """Run `jobs` on a few threads; the first failure cancels those not started
    and is raised once the running ones have stopped."""
    if len(jobs) <= 1:
        for job in jobs:
            job()
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = [pool.submit(job) for job in jobs]
    try:
        for future in futures:
            future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _unique(blobs: list[Descriptor]) -> list[Descriptor]:
    seen: set[str] = set()
    unique: list[Descriptor] = []
    for blob in blobs:
        if blob.digest not in seen:
            seen.add(blob.digest)
            unique.append(blob)
    return unique


def copy_signatures(
    client: RegistryClient,
    src: Reference,
    dest: Reference,
    digest: str,
    stats: CopyStats,
    reporter: Reporter | None = None,
) -> list[str]:
    """Copy cosign signature/attestation tags and OCI referrers of `digest`."""
    copied: list[str] = []
    base = digest.replace(":", "-", 1)
    for suffix in COSIGN_SUFFIXES:
        tag = base + suffix
        found = client.manifest_digest(src.with_tag(tag))
        if found is None:
            continue
        data, media_type, _ = copy_manifest(client, src.with_digest(found), dest, stats, reporter)
        if client.manifest_digest(dest.with_tag(tag)) != found:
            client.put_manifest(dest.with_tag(tag), data, media_type)
            stats.add("manifests_written")
        copied.append(str(dest.with_tag(tag)))
    for referrer in client.referrers(src.with_digest(digest)):
        before = stats.manifests_written
        copy_manifest(client, src.with_digest(referrer.digest), dest, stats, reporter)
        if stats.manifests_written == before:
            # present already; make sure the destination lists it as a referrer
            listed = {d.digest for d in client.referrers(dest.with_digest(digest))}
            if referrer.digest not in listed:
                data, media_type, _ = client.get_manifest(dest.with_digest(referrer.digest))
                client.put_manifest(dest.with_digest(referrer.digest), data, media_type)
        copied.append(str(dest.with_digest(referrer.digest)))
    stats.copied.extend(copied)
    return copied
