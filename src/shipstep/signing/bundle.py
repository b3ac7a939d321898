"""Sigstore bundles (v0.3, DSSE): the format cosign v3 writes by default.

Signing makes an in-toto statement whose subject is the image digest; the
bundle is attached to the image as an OCI 1.1 referrer. Verification runs
sigstore-python's `Verifier.verify_dsse` (certificate chain, transparency
log, signature, identity policy) and then checks what the library leaves to
its caller: the payload type and that the statement names the image digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.x509 import (
    Certificate,
    OtherName,
    RFC822Name,
    SubjectAlternativeName,
    UniformResourceIdentifier,
)
from cryptography.x509.oid import ObjectIdentifier
from sigstore.dsse import DigestSet, Statement, StatementBuilder, Subject
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.models import Bundle, ClientTrustConfig, TrustedRoot
from sigstore.verify import Verifier, policy

from shipstep.errors import InputError, ShipstepError
from shipstep.signing.classic import TrustedKey
from shipstep.signing.interface import FoundBundle, SignatureCheck
from shipstep.signing.keys import verify_ecdsa

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_MEDIA_TYPES = (
    BUNDLE_MEDIA_TYPE,
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
)
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
# What cosign v3 signs an image with in the bundle format.
SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"
EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
_SAN_OTHERNAME = ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


def image_statement(repository: str, digest: str) -> Statement:
    """The in-toto statement whose single subject is `repository@digest`."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return (
        StatementBuilder()
        .subjects([Subject(name=repository, digest=DigestSet({"sha256": hexdigest}))])
        .predicate_type(SIGN_PREDICATE_TYPE)
        .predicate({})
        .build()
    )


@dataclass(frozen=True)
class KeylessIdentity:
    """Who may sign keylessly: certificate identity (exact or regexp), OIDC
    issuer, and optionally the GitHub workflow repository and ref."""

    issuer: str
    subject: str | None = None
    subject_regexp: str | None = None
    github_workflow_repository: str | None = None
    github_workflow_ref: str | None = None

    def __post_init__(self) -> None:
        if (self.subject is None) == (self.subject_regexp is None):
            raise InputError(
                "A keyless identity needs exactly one of a certificate identity or an identity regexp.",
                hint="Pass --certificate-identity or --certificate-identity-regexp (policy: subject or subject-regexp).",
            )
        if self.subject_regexp is not None:
            try:
                re.compile(self.subject_regexp)
            except re.error as error:
                raise InputError(
                    f"Invalid identity regexp {self.subject_regexp!r}: {error}."
                ) from None

    def describe(self) -> str:
        who = self.subject if self.subject is not None else f"~{self.subject_regexp}"
        text = f"{who} (issuer {self.issuer})"
        if self.github_workflow_repository:
            text += f" repository {self.github_workflow_repository}"
        if self.github_workflow_ref:
            text += f" ref {self.github_workflow_ref}"
        return text

    def policy(self) -> policy.VerificationPolicy:
        checks: list[policy.VerificationPolicy] = []
        if self.subject is not None:
            checks.append(policy.Identity(identity=self.subject, issuer=self.issuer))
        else:
            assert self.subject_regexp is not None
            checks.append(_IdentityRegexp(self.subject_regexp, self.issuer))
        if self.github_workflow_repository:
            checks.append(policy.GitHubWorkflowRepository(self.github_workflow_repository))
        if self.github_workflow_ref:
            checks.append(policy.GitHubWorkflowRef(self.github_workflow_ref))
        return checks[0] if len(checks) == 1 else policy.AllOf(checks)


class _IdentityRegexp:
    """Like `policy.Identity`, with the SAN matched by a regular expression
    (anchored at both ends, as cosign's --certificate-identity-regexp is by
    convention written)."""

    def __init__(self, pattern: str, issuer: str) -> None:
        self._pattern = re.compile(pattern)
        self._issuer = policy.OIDCIssuer(issuer)

    def verify(self, cert: Certificate) -> None:
        self._issuer.verify(cert)
        sans = cert.extensions.get_extension_for_class(SubjectAlternativeName).value
        names = set(sans.get_values_for_type(RFC822Name))
        names.update(sans.get_values_for_type(UniformResourceIdentifier))
        names.update(
            other.value.decode(errors="replace")
            for other in sans.get_values_for_type(OtherName)
            if other.type_id == _SAN_OTHERNAME
        )
        if not any(self._pattern.fullmatch(name) for name in names):
            raise VerificationError(
                f"no certificate identity matches {self._pattern.pattern!r}; found {sorted(names)}"
            )


def load_trusted_root(path: str) -> TrustedRoot:
    try:
        return TrustedRoot.from_file(path)
    except FileNotFoundError:
        raise InputError(f"Trusted root {path} does not exist.") from None
    except (ValueError, SigstoreError) as error:
        raise InputError(
            f"Trusted root {path} is not a Sigstore trusted root: {error}.",
            hint="Use a trusted_root.json from `sigstore` TUF or `cosign trusted-root create`.",
        ) from None


def _statement_fields(payload: bytes) -> tuple[str | None, list[str], str | None]:
    """(statement type, sha256 subject digests, predicate type) of an in-toto statement."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None, [], None
    if not isinstance(document, dict):
        return None, [], None
    digests: list[str] = []
    subjects = document.get("subject")
    for subject in subjects if isinstance(subjects, list) else []:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        value = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(value, str):
            digests.append(f"sha256:{value}")
    kind = document.get("_type")
    predicate_type = document.get("predicateType")
    return (
        kind if isinstance(kind, str) else None,
        digests,
        predicate_type if isinstance(predicate_type, str) else None,
    )


def _check_statement(
    found: FoundBundle,
    digest: str,
    payload_type: str,
    payload_bytes: bytes,
    predicate_types: frozenset[str] | None,
    who: str,
) -> SignatureCheck:
    """The checks sigstore-python leaves to its caller, after the signature verified."""

    def fail(reason: str) -> SignatureCheck:
        return SignatureCheck("bundle", found.ref, False, f"signed by {who}, but {reason}")

    if payload_type != IN_TOTO_PAYLOAD_TYPE:
        return fail(f"its payload type is {payload_type!r}, not {IN_TOTO_PAYLOAD_TYPE!r}")
    kind, subjects, predicate_type = _statement_fields(payload_bytes)
    if kind not in STATEMENT_TYPES:
        return fail(f"the payload is not an in-toto statement (type {kind!r})")
    if digest not in subjects:
        return fail(f"the statement's subject is {', '.join(subjects) or 'empty'}, not {digest}")
    if predicate_types is not None and predicate_type not in predicate_types:
        return fail(
            f"its predicate type {predicate_type!r} is not an image signature "
            f"({', '.join(sorted(predicate_types))})"
        )
    return SignatureCheck("bundle", found.ref, True, f"signed by {who}", who)


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the envelope's signature signs."""
    encoded = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(encoded), encoded, len(payload), payload)


def _key_envelope(document: Any) -> tuple[str, bytes, list[bytes]] | str:
    """(payload type, payload, signatures) of a key-signed bundle's DSSE
    envelope, or why it has none."""
    envelope = document.get("dsseEnvelope") if isinstance(document, dict) else None
    if not isinstance(envelope, dict):
        return "a key-signed bundle without a DSSE envelope"
    payload_type = envelope.get("payloadType")
    signatures = envelope.get("signatures")
    try:
        payload = base64.b64decode(envelope.get("payload") or "", validate=True)
        sigs = [
            base64.b64decode(item.get("sig") or "", validate=True)
            for item in (signatures if isinstance(signatures, list) else [])
            if isinstance(item, dict)
        ]
    except (binascii.Error, ValueError):
        return "the DSSE envelope is not valid base64"
    if not isinstance(payload_type, str) or not sigs:
        return "the DSSE envelope has no payload type or no signature"
    return payload_type, payload, sigs


def verify_bundle(
    found: FoundBundle,
    digest: str,
    identities: Sequence[KeylessIdentity],
    verifier: Verifier | None,
    keys: Sequence[TrustedKey] = (),
    predicate_types: frozenset[str] | None = frozenset({SIGN_PREDICATE_TYPE}),
) -> SignatureCheck:
    """Whether one bundle is a valid signature of `digest`: keyless (a
    certificate, checked by sigstore-python against the trusted root and one
    of `identities`) or by a key (a `publicKey` hint, as `cosign sign --key`
    writes in the bundle format: the DSSE signature is checked against `keys`;
    like classic signatures, the transparency log entry is not required).
    `predicate_types` None accepts any statement (attestations too)."""

    def fail(reason: str) -> SignatureCheck:
        return SignatureCheck("bundle", found.ref, False, reason)

    if found.problem or found.content is None:
        return fail(found.problem or "the bundle could not be read")
    try:
        document = json.loads(found.content)
    except (ValueError, UnicodeDecodeError):
        return fail("not a Sigstore bundle: not JSON")
    material = document.get("verificationMaterial") if isinstance(document, dict) else None
    if isinstance(material, dict) and "publicKey" in material:
        if document.get("mediaType") not in BUNDLE_MEDIA_TYPES:
            return fail(f"unsupported bundle media type {document.get('mediaType')!r}")
        envelope = _key_envelope(document)
        if isinstance(envelope, str):
            return fail(envelope)
        payload_type, payload_bytes, signatures = envelope
        if not keys:
            return fail("a key-signed bundle; no key was given to check it")
        message = dsse_pae(payload_type, payload_bytes)
        for trusted in keys:
            if any(verify_ecdsa(trusted.key, sig, message) for sig in signatures):
                return _check_statement(
                    found, digest, payload_type, payload_bytes, predicate_types, trusted.name
                )
        return fail(f"the DSSE signature does not verify with {', '.join(k.name for k in keys)}")
    try:
        bundle = Bundle.from_json(found.content)
    except (SigstoreError, ValueError) as error:
        return fail(f"not a Sigstore bundle: {str(error).splitlines()[0]}")
    if not identities:
        return fail("a keyless bundle; no keyless identity was given to check it")
    if verifier is None:
        return fail("no trusted root to verify a keyless bundle (pass --trusted-root)")
    last_error = ""
    for identity in identities:
        try:
            payload_type, payload_bytes = verifier.verify_dsse(bundle, identity.policy())
        except (VerificationError, SigstoreError, ValueError) as error:
            last_error = str(error)
            continue
        return _check_statement(
            found, digest, payload_type, payload_bytes, predicate_types, identity.describe()
        )
    return fail(last_error or "the bundle does not verify")


def production_trusted_root() -> TrustedRoot:
    """Sigstore's public trusted root, through its TUF repository (network)."""
    try:
        return ClientTrustConfig.production().trusted_root
    except Exception as error:  # TUF and network failures come in many types
        raise ShipstepError(
            f"Could not fetch Sigstore's public trusted root ({error.__class__.__name__}: {error}).",
            hint="Verify offline with a trusted_root.json: --trusted-root FILE, or trusted-root in the policy.",
        ) from None


def make_verifier(trusted_root: TrustedRoot | None) -> Verifier | None:
    return None if trusted_root is None else Verifier(trusted_root=trusted_root)


def referrer_manifest(
    bundle_json: bytes,
    subject: dict[str, Any],
    predicate_type: str = SIGN_PREDICATE_TYPE,
    created: str | None = None,
) -> bytes:
    """The OCI 1.1 manifest that attaches `bundle_json` to the image `subject`
    (a descriptor: mediaType, digest, size), shaped as cosign v3 writes it."""
    document = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": BUNDLE_MEDIA_TYPE,
        "config": {
            "mediaType": EMPTY_CONFIG_MEDIA_TYPE,
            "digest": "sha256:" + hashlib.sha256(EMPTY_CONFIG).hexdigest(),
            "size": len(EMPTY_CONFIG),
        },
        "layers": [
            {
                "mediaType": BUNDLE_MEDIA_TYPE,
                "digest": "sha256:" + hashlib.sha256(bundle_json).hexdigest(),
                "size": len(bundle_json),
            }
        ],
        "subject": {key: subject[key] for key in ("mediaType", "digest", "size")},
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate_type,
            "org.opencontainers.image.created": created
            or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }
    return json.dumps(document, separators=(",", ":")).encode()
