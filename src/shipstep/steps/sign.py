"""The sign step: sign one image digest, cosign-compatible.

Key and KMS signatures use cosign's classic format (a layer appended to the
`sha256-<hex>.sig` manifest); keyless signatures are Sigstore bundles
attached as OCI 1.1 referrers. The signature always names the digest; a tag
is resolved first.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from sigstore.dsse import Statement

from shipstep.errors import ShipstepError
from shipstep.oci.client import RegistryClient, RegistryError
from shipstep.oci.manifest import (
    DOCKER_MANIFEST,
    EMPTY_JSON,
    EMPTY_JSON_DIGEST,
    OCI_MANIFEST,
    digest_of,
)
from shipstep.oci.reference import Reference, parse_reference
from shipstep.progress import NullReporter, Reporter
from shipstep.result import OutputValue
from shipstep.signing import classic
from shipstep.signing import payload as simple
from shipstep.signing.bundle import BUNDLE_MEDIA_TYPE, image_statement, referrer_manifest
from shipstep.signing.interface import Signer
from shipstep.signing.keys import verify_ecdsa

MAX_ATTEMPTS = 5
KeylessSign = Callable[[Statement], bytes]


@dataclass(frozen=True)
class SignResult:
    image: str  # registry/repository@digest
    digest: str
    signature_ref: str
    format: Literal["classic", "bundle"]
    operation: Literal["signed", "unchanged"]
    signer: str
    notes: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return True

    def outputs(self) -> Mapping[str, OutputValue]:
        return {
            "digest": self.digest,
            "image": self.image,
            "signature-ref": self.signature_ref,
            "format": self.format,
            "operation": self.operation,
        }

    def summary_markdown(self) -> str:
        return (
            f"### Signed `{self.image}`\n\n"
            f"| | |\n|---|---|\n| operation | {self.operation} |\n| format | {self.format} |\n"
            f"| signer | `{self.signer}` |\n| signature | `{self.signature_ref}` |\n"
        )

    def text(self) -> str:
        verb = "signed" if self.operation == "signed" else "already signed (unchanged)"
        lines = [f"{self.image}: {verb} by {self.signer}", f"signature: {self.signature_ref}"]
        return "\n".join(lines + self.notes)


def resolve_digest(
    client: RegistryClient, ref: Reference, doing: str = "sign"
) -> tuple[Reference, str]:
    """(repository reference, digest) of the image; a clear error when absent."""
    try:
        digest = client.resolve(ref)
    except RegistryError as error:
        if error.status == 404:
            raise ShipstepError(
                f"Image {ref} does not exist in {ref.registry}: nothing to {doing}.",
                hint="Check the repository and tag; publish the image first and use the digest the publish step reported.",
            ) from None
        raise
    return ref.with_digest(digest), digest


def _read_signature_manifest(client: RegistryClient, sig_ref: Reference) -> dict[str, Any] | None:
    """The current `.sig` manifest, None when absent."""
    try:
        data, _, _ = client.get_manifest(sig_ref)
    except RegistryError as error:
        if error.status == 404:
            return None
        raise
    try:
        document = json.loads(data)
    except ValueError:
        document = None
    if (
        not isinstance(document, dict)
        or document.get("mediaType", OCI_MANIFEST) not in (OCI_MANIFEST, DOCKER_MANIFEST)
        or "manifests" in document
        or not isinstance(document.get("layers"), list)
    ):
        # Overwriting it would destroy whatever it is: refuse.
        raise ShipstepError(
            f"{sig_ref} exists but is not a signature manifest; refusing to overwrite it.",
            hint="Inspect and remove that tag if it is garbage, then sign again.",
        )
    return document


def _contains(document: Mapping[str, Any] | None, layer_digest: str, signature_b64: str) -> bool:
    for layer in classic.existing_layers(document):
        annotations = layer.get("annotations") or {}
        if (
            layer.get("digest") == layer_digest
            and isinstance(annotations, dict)
            and annotations.get(classic.SIGNATURE_ANNOTATION) == signature_b64
        ):
            return True
    return False


def sign_classic(
    client: RegistryClient,
    image: str,
    signer: Signer,
    annotations: Mapping[str, str] | None = None,
    *,
    reporter: Reporter | None = None,
) -> SignResult:
    reporter = reporter or NullReporter()
    pinned, digest = resolve_digest(client, parse_reference(image))
    reporter.log(f"signing {pinned}")
    payload_bytes = simple.build(pinned.name, digest, annotations)
    public = signer.public_key()
    tag = classic.signature_tag(digest)
    sig_ref = pinned.with_tag(tag)
    signature: bytes | None = None
    for attempt in range(1, MAX_ATTEMPTS + 1):
        existing = _read_signature_manifest(client, sig_ref)
        if classic.find_identical(existing, payload_bytes, public) is not None:
            manifest_digest = client.resolve(sig_ref)
            return SignResult(
                str(pinned),
                digest,
                f"{sig_ref}@{manifest_digest}",
                "classic",
                "unchanged",
                signer.name,
            )
        if signature is None:
            signature = signer.sign(payload_bytes)
            if not verify_ecdsa(public, signature, payload_bytes):
                raise ShipstepError(
                    f"The signature made by {signer.name} does not verify with its own public key.",
                    hint="The key reference may point at a different key than expected; check it.",
                )
        built = classic.append_signature(existing, payload_bytes, signature)
        for blob in (built.layer, built.config):
            # Small and nearly always new: upload without a HEAD first (the
            # registry deduplicates by digest anyway).
            client.upload_blob(sig_ref, blob, digest_of(blob), len(blob), check_exists=False)
        manifest_digest = client.put_manifest(sig_ref, built.manifest, OCI_MANIFEST)
        # Read back: a concurrent signer may have replaced the manifest meanwhile.
        after = _read_signature_manifest(client, sig_ref)
        if _contains(after, built.layer_digest, base64.b64encode(signature).decode()):
            kept = len(classic.existing_layers(after)) - 1
            notes = [f"{kept} existing signature(s) kept"] if kept else []
            return SignResult(
                str(pinned),
                digest,
                f"{sig_ref}@{manifest_digest}",
                "classic",
                "signed",
                signer.name,
                notes,
            )
        reporter.log(f"{tag} changed while signing (attempt {attempt}); retrying")
    raise ShipstepError(
        f"Could not add the signature to {sig_ref}: it kept changing under concurrent writers "
        f"({MAX_ATTEMPTS} attempts).",
        hint="Retry the sign step; if it persists, check for a process rewriting signature tags.",
    )


def sign_keyless(
    client: RegistryClient,
    image: str,
    keyless_sign: KeylessSign,
    *,
    reporter: Reporter | None = None,
) -> SignResult:
    reporter = reporter or NullReporter()
    pinned, digest = resolve_digest(client, parse_reference(image))
    data, media_type, _ = client.get_manifest(pinned)
    statement = image_statement(pinned.name, digest)
    reporter.log(f"signing {pinned} keylessly (Sigstore)")
    bundle_json = keyless_sign(statement)
    client.upload_blob(pinned, EMPTY_JSON, EMPTY_JSON_DIGEST, len(EMPTY_JSON))
    client.upload_blob(pinned, bundle_json, digest_of(bundle_json), len(bundle_json))
    subject = {"mediaType": media_type, "digest": digest, "size": len(data)}
    manifest = referrer_manifest(bundle_json, subject)
    manifest_digest = client.put_manifest(
        pinned.with_digest(digest_of(manifest)), manifest, OCI_MANIFEST
    )
    attached = client.referrers(pinned, artifact_type=BUNDLE_MEDIA_TYPE)
    if not any(d.digest == manifest_digest for d in attached):
        raise ShipstepError(
            f"The bundle {manifest_digest} was stored but is not listed as a referrer of {pinned}.",
            hint="The registry's referrers index may have been rewritten concurrently; sign again.",
        )
    identity = _bundle_identity(bundle_json)
    return SignResult(
        str(pinned), digest, f"{pinned.name}@{manifest_digest}", "bundle", "signed", identity
    )


def _bundle_identity(bundle_json: bytes) -> str:
    try:
        document = json.loads(bundle_json)
        raw = document["verificationMaterial"]["certificate"]["rawBytes"]
        certificate = x509.load_der_x509_certificate(base64.b64decode(raw))
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(v) for v in sans.get_values_for_type(x509.UniformResourceIdentifier)]
        names += [str(v) for v in sans.get_values_for_type(x509.RFC822Name)]
        return names[0] if names else "keyless identity"
    except (ValueError, KeyError, TypeError, x509.ExtensionNotFound):
        return "keyless identity"
