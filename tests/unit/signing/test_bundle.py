"""Sigstore bundles: the real cosign-made bundle verifies offline with the
right identity only; payload type and subject digest are checked by us."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.errors import InputError
from shipstep.signing import bundle as sb
from shipstep.signing.classic import TrustedKey
from shipstep.signing.interface import FoundBundle
from tests.unit.signing.interop import BUNDLE, BUNDLE_DIGEST, BUNDLE_IDENTITY, BUNDLE_ISSUER

pytestmark = pytest.mark.timeout(60)

CONTENT = (BUNDLE / "oci-attestation.sigstore.json").read_bytes()


@pytest.fixture(scope="module")
def verifier() -> Any:
    return sb.make_verifier(sb.load_trusted_root(str(BUNDLE / "trusted_root_pgi.json")))


def found(content: bytes = CONTENT) -> FoundBundle:
    return FoundBundle("sha256:referrer", content)


IDENTITY = sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject=BUNDLE_IDENTITY)


def test_real_bundle_verifies_with_its_identity(verifier: Any) -> None:
    # The vector is an attestation (predicate type cosign.sigstore.dev/attestation/v1),
    # so accept any predicate type here.
    check = sb.verify_bundle(found(), BUNDLE_DIGEST, [IDENTITY], verifier, predicate_types=None)
    assert check.ok, check.reason
    assert check.signer and BUNDLE_IDENTITY in check.signer


def test_an_attestation_is_not_an_image_signature_by_default(verifier: Any) -> None:
    check = sb.verify_bundle(found(), BUNDLE_DIGEST, [IDENTITY], verifier)
    assert not check.ok
    assert (
        "predicate type 'https://cosign.sigstore.dev/attestation/v1' is not an image signature"
        in check.reason
    )
    attestation = frozenset({"https://cosign.sigstore.dev/attestation/v1"})
    assert sb.verify_bundle(
        found(), BUNDLE_DIGEST, [IDENTITY], verifier, predicate_types=attestation
    ).ok


@pytest.mark.parametrize(
    "identity",
    [
        sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject="someone@soyland.com"),
        sb.KeylessIdentity(
            issuer="https://token.actions.githubusercontent.com", subject=BUNDLE_IDENTITY
        ),
        sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject_regexp=r"cody@soyland\.co"),
    ],
)
def test_real_bundle_fails_with_any_other_identity(
    verifier: Any, identity: sb.KeylessIdentity
) -> None:
    check = sb.verify_bundle(found(), BUNDLE_DIGEST, [identity], verifier)
    assert not check.ok
    assert check.reason


def test_identity_regexp(verifier: Any) -> None:
    identity = sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject_regexp=r"[a-z]+@soyland\.com")
    assert sb.verify_bundle(found(), BUNDLE_DIGEST, [identity], verifier, predicate_types=None).ok
    other = sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject_regexp=r"nobody@.*")
    assert sb.verify_bundle(
        found(), BUNDLE_DIGEST, [other, IDENTITY], verifier, predicate_types=None
    ).ok


def test_subject_digest_must_match(verifier: Any) -> None:
    other = "sha256:" + "0" * 64
    check = sb.verify_bundle(found(), other, [IDENTITY], verifier)
    assert not check.ok
    assert f"not {other}" in check.reason


def _with_envelope(change: dict[str, Any]) -> bytes:
    document = json.loads(CONTENT)
    document["dsseEnvelope"].update(change)
    return json.dumps(document).encode()


def test_wrong_payload_type_fails(verifier: Any) -> None:
    check = sb.verify_bundle(
        found(_with_envelope({"payloadType": "text/plain"})), BUNDLE_DIGEST, [IDENTITY], verifier
    )
    assert not check.ok


def test_tampered_statement_fails(verifier: Any) -> None:
    statement = json.loads(base64.b64decode(json.loads(CONTENT)["dsseEnvelope"]["payload"]))
    other = "1" * 64
    statement["subject"][0]["digest"]["sha256"] = other
    content = _with_envelope({"payload": base64.b64encode(json.dumps(statement).encode()).decode()})
    assert not sb.verify_bundle(found(content), "sha256:" + other, [IDENTITY], verifier).ok


class _AcceptingVerifier:
    """Stands in for sigstore's Verifier to show that our own checks run after
    it accepts (the library returns payload type and payload unchecked)."""

    def __init__(self, payload_type: str, payload: bytes) -> None:
        self.result = (payload_type, payload)

    def verify_dsse(self, bundle: object, policy: object) -> tuple[str, bytes]:
        return self.result


def test_our_payload_type_check_runs_after_the_library() -> None:
    statement = base64.b64decode(json.loads(CONTENT)["dsseEnvelope"]["payload"])
    fake: Any = _AcceptingVerifier("application/vnd.dev.cosign.simplesigning.v1+json", statement)
    check = sb.verify_bundle(found(), BUNDLE_DIGEST, [IDENTITY], fake)
    assert not check.ok and "payload type" in check.reason
    fake = _AcceptingVerifier(sb.IN_TOTO_PAYLOAD_TYPE, b'{"_type": "x", "subject": []}')
    assert (
        "not an in-toto statement"
        in sb.verify_bundle(found(), BUNDLE_DIGEST, [IDENTITY], fake).reason
    )
    fake = _AcceptingVerifier(sb.IN_TOTO_PAYLOAD_TYPE, statement)
    assert sb.verify_bundle(found(), BUNDLE_DIGEST, [IDENTITY], fake, predicate_types=None).ok


def test_garbage_bundle_and_missing_configuration(verifier: Any) -> None:
    assert (
        "not a Sigstore bundle"
        in sb.verify_bundle(found(b"{nope"), BUNDLE_DIGEST, [IDENTITY], verifier).reason
    )
    assert "no keyless identity" in sb.verify_bundle(found(), BUNDLE_DIGEST, [], verifier).reason
    assert "trusted root" in sb.verify_bundle(found(), BUNDLE_DIGEST, [IDENTITY], None).reason


def test_identity_needs_exactly_one_subject_form() -> None:
    with pytest.raises(InputError):
        sb.KeylessIdentity(issuer=BUNDLE_ISSUER)
    with pytest.raises(InputError):
        sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject="a", subject_regexp="b")
    with pytest.raises(InputError, match="regexp"):
        sb.KeylessIdentity(issuer=BUNDLE_ISSUER, subject_regexp="(")


def test_statement_and_referrer_manifest() -> None:
    digest = "sha256:" + "ab" * 32
    statement = json.loads(sb.image_statement("reg.example/app", digest)._contents)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "reg.example/app", "digest": {"sha256": "ab" * 32}}]
    assert statement["predicateType"] == sb.SIGN_PREDICATE_TYPE
    subject = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": digest,
        "size": 7,
    }
    manifest = json.loads(sb.referrer_manifest(CONTENT, subject))
    assert manifest["artifactType"] == sb.BUNDLE_MEDIA_TYPE
    assert manifest["subject"] == subject
    assert manifest["layers"][0]["mediaType"] == sb.BUNDLE_MEDIA_TYPE
    assert manifest["layers"][0]["size"] == len(CONTENT)
    assert (
        manifest["config"]["digest"]
        == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


def test_bad_trusted_root(tmp_path: Any) -> None:
    with pytest.raises(InputError, match="does not exist"):
        sb.load_trusted_root(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(InputError, match="not a Sigstore trusted root"):
        sb.load_trusted_root(str(tmp_path / "bad.json"))


# --- bundles signed with a key (cosign sign --key in the bundle format) ---


def _key_bundle(
    key: ec.EllipticCurvePrivateKey,
    digest_hex: str,
    *,
    payload_type: str = sb.IN_TOTO_PAYLOAD_TYPE,
    predicate_type: str = sb.SIGN_PREDICATE_TYPE,
) -> bytes:
    statement = json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {"sha256": digest_hex}}],
            "predicateType": predicate_type,
            "predicate": {},
        }
    ).encode()
    # DSSE PAE, written out from the DSSE spec (not shipstep's dsse_pae).
    pae = (
        b"DSSEv1 "
        + str(len(payload_type)).encode()
        + b" "
        + payload_type.encode()
        + b" "
        + str(len(statement)).encode()
        + b" "
        + statement
    )
    signature = key.sign(pae, ec.ECDSA(hashes.SHA256()))
    return json.dumps(
        {
            "mediaType": sb.BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {"publicKey": {"hint": "release"}, "tlogEntries": []},
            "dsseEnvelope": {
                "payload": base64.b64encode(statement).decode(),
                "payloadType": payload_type,
                "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
            },
        }
    ).encode()


def test_key_signed_bundles() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    trusted = [TrustedKey("release.pub", key.public_key())]
    digest_hex = "ab" * 32
    content = _key_bundle(key, digest_hex)
    check = sb.verify_bundle(found(content), f"sha256:{digest_hex}", [], None, trusted)
    assert check.ok and check.signer == "release.pub"

    other = [TrustedKey("other.pub", ec.generate_private_key(ec.SECP256R1()).public_key())]
    assert (
        "does not verify with other.pub"
        in sb.verify_bundle(found(content), f"sha256:{digest_hex}", [], None, other).reason
    )
    assert (
        "no key was given"
        in sb.verify_bundle(found(content), f"sha256:{digest_hex}", [IDENTITY], None).reason
    )
    wrong_subject = sb.verify_bundle(found(content), "sha256:" + "cd" * 32, [], None, trusted)
    assert not wrong_subject.ok and "subject" in wrong_subject.reason

    document = json.loads(content)
    statement = base64.b64decode(document["dsseEnvelope"]["payload"]).replace(b"ab", b"cd")
    document["dsseEnvelope"]["payload"] = base64.b64encode(statement).decode()
    tampered = json.dumps(document).encode()
    assert not sb.verify_bundle(found(tampered), "sha256:" + "cd" * 32, [], None, trusted).ok

    wrong_type = _key_bundle(key, digest_hex, payload_type="application/json")
    reason = sb.verify_bundle(found(wrong_type), f"sha256:{digest_hex}", [], None, trusted).reason
    assert "payload type is 'application/json'" in reason
    attestation = _key_bundle(key, digest_hex, predicate_type="https://spdx.dev/Document")
    assert (
        "not an image signature"
        in sb.verify_bundle(found(attestation), f"sha256:{digest_hex}", [], None, trusted).reason
    )
