"""Signatures read from an OCI registry through `shipstep.oci.client`.

Classic signatures: the `sha256-<hex>.sig` manifest and its payload blobs.
Bundles: referrers of the image with artifactType
`application/vnd.dev.sigstore.bundle.v0.3+json` (the client falls back to
the `sha256-<hex>` tag-schema index where the referrers API is missing).
Anything unreadable is reported per layer or bundle, never raised: garbage
attached to an image must not stop the verification of its other signatures.
"""

from __future__ import annotations

from shipstep.errors import ShipstepError
from shipstep.oci.client import RegistryClient, RegistryError
from shipstep.oci.manifest import Manifest
from shipstep.oci.reference import Reference, parse_reference
from shipstep.signing import payload as simple
from shipstep.signing.bundle import BUNDLE_MEDIA_TYPE
from shipstep.signing.classic import signature_tag
from shipstep.signing.interface import ClassicLayer, FoundBundle, FoundSignatures

# Payloads and bundles are a few KiB; refuse to download anything much larger.
MAX_SIGNATURE_BLOB = 1 << 20
MAX_LAYERS = 100


def _read_blob(client: RegistryClient, ref: Reference, digest: str, size: int) -> bytes:
    if size > MAX_SIGNATURE_BLOB:
        raise ShipstepError(f"blob {digest} is {size} bytes, too large for a signature")
    chunks: list[bytes] = []
    received = 0
    with client.get_blob(ref, digest) as stream:
        for chunk in stream:
            received += len(chunk)
            if received > MAX_SIGNATURE_BLOB:
                raise ShipstepError(f"blob {digest} is too large for a signature")
            chunks.append(chunk)
    return b"".join(chunks)


class OciSignatureSource:
    def __init__(self, client: RegistryClient) -> None:
        self.client = client

    def _subject(self, repository: str, digest: str) -> Reference:
        return parse_reference(repository).with_digest(digest)

    def classic_signatures(self, repository: str, digest: str) -> FoundSignatures:
        ref = self._subject(repository, digest)
        tag = signature_tag(digest)
        sig_ref = ref.with_tag(tag)
        try:
            data, media_type, _ = self.client.get_manifest(sig_ref)
        except RegistryError as error:
            if error.status == 404:
                return FoundSignatures()
            raise
        try:
            manifest = Manifest.parse(data, media_type)
        except ShipstepError as error:
            return FoundSignatures(
                problems=[f"{tag}: unreadable signature manifest: {error.message}"]
            )
        found = FoundSignatures()
        if len(manifest.layers) > MAX_LAYERS:
            found.problems.append(
                f"{tag}: {len(manifest.layers)} layers; only the first {MAX_LAYERS} are checked"
            )
        for index, layer in enumerate(manifest.layers[:MAX_LAYERS]):
            where = f"{tag} layer {index} ({layer.digest[:19]}…)"
            if layer.media_type != simple.MEDIA_TYPE:
                found.classic.append(
                    ClassicLayer(
                        where,
                        None,
                        layer.annotations,
                        problem=f"unexpected media type {layer.media_type!r}",
                    )
                )
                continue
            try:
                blob = _read_blob(self.client, sig_ref, layer.digest, layer.size)
            except ShipstepError as error:
                found.classic.append(
                    ClassicLayer(where, None, layer.annotations, problem=error.message)
                )
                continue
            found.classic.append(ClassicLayer(where, blob, layer.annotations))
        return found

    def bundle_signatures(self, repository: str, digest: str) -> FoundSignatures:
        ref = self._subject(repository, digest)
        found = FoundSignatures()
        try:
            descriptors = self.client.referrers(ref, artifact_type=BUNDLE_MEDIA_TYPE)
        except RegistryError as error:
            if error.status == 404:
                return found
            raise
        except ShipstepError as error:  # a garbage fallback index
            return FoundSignatures(problems=[f"referrers of {digest[:19]}…: {error.message}"])
        for descriptor in descriptors[:MAX_LAYERS]:
            where = descriptor.digest
            try:
                data, media_type, _ = self.client.get_manifest(ref.with_digest(descriptor.digest))
                manifest = Manifest.parse(data, media_type)
                layers = [d for d in manifest.layers if d.media_type == BUNDLE_MEDIA_TYPE]
                if not layers:
                    found.bundles.append(
                        FoundBundle(where, None, "the referrer holds no bundle layer")
                    )
                    continue
                content = _read_blob(self.client, ref, layers[0].digest, layers[0].size)
            except ShipstepError as error:
                found.bundles.append(FoundBundle(where, None, error.message))
                continue
            found.bundles.append(FoundBundle(where, content))
        return found
