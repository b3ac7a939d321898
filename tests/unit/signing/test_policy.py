"""The policy file and the verifier the agent uses."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.errors import InputError
from shipstep.signing import classic, keys
from shipstep.signing import payload as simple
from shipstep.signing.interface import ClassicLayer, FoundBundle, FoundSignatures
from shipstep.signing.policy import Policy, Verifier, glob_to_regex, split_image, verdict_summary
from tests.unit.signing.interop import BUNDLE, BUNDLE_DIGEST, BUNDLE_IDENTITY, BUNDLE_ISSUER

pytestmark = pytest.mark.timeout(60)

REPO = "registry.example/shop/web"
DIGEST = "sha256:" + "12" * 32


class MemorySource:
    """Signatures held in memory, counting lookups (the registry-backed source
    is tested against the real registry in tests/integration/signing)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], FoundSignatures] = {}
        self.calls = 0

    def classic_signatures(self, repository: str, digest: str) -> FoundSignatures:
        self.calls += 1
        found = self.entries.get((repository, digest), FoundSignatures())
        return FoundSignatures(classic=found.classic, problems=found.problems)

    def bundle_signatures(self, repository: str, digest: str) -> FoundSignatures:
        self.calls += 1
        return FoundSignatures(
            bundles=self.entries.get((repository, digest), FoundSignatures()).bundles
        )


def sign_layer(key: ec.EllipticCurvePrivateKey, digest: str, ref: str = "layer 0") -> ClassicLayer:
    payload = simple.build(REPO, digest)
    signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    return ClassicLayer(
        ref, payload, {classic.SIGNATURE_ANNOTATION: base64.b64encode(signature).decode()}
    )


@pytest.fixture
def key_dir(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "release.pub").write_bytes(keys.public_key_pem(key.public_key()))
    return tmp_path, key


def write_policy(directory: Path, text: str) -> Path:
    path = directory / "policy.yaml"
    path.write_text(text)
    return path


def test_globs() -> None:
    assert glob_to_regex("reg/shop/*").fullmatch("reg/shop/web")
    assert not glob_to_regex("reg/shop/*").fullmatch("reg/shop/web/extra")
    assert glob_to_regex("reg/**").fullmatch("reg/shop/web/extra")
    assert not glob_to_regex("reg.example/*").fullmatch("regXexample/a")
    assert glob_to_regex("reg/app-?").fullmatch("reg/app-1")


def test_key_rule_verifies_and_caches(key_dir: tuple[Path, ec.EllipticCurvePrivateKey]) -> None:
    directory, key = key_dir
    policy = Policy.load(
        write_policy(
            directory,
            "version: 1\nrules:\n  - name: shop\n    repositories: ['registry.example/shop/*']\n    keys: [release.pub]\n",
        )
    )
    source = MemorySource()
    other = ec.generate_private_key(ec.SECP256R1())
    source.entries[(REPO, DIGEST)] = FoundSignatures(
        classic=[
            sign_layer(other, DIGEST, "layer 0"),
            ClassicLayer("layer 1", b"junk", {}),
            sign_layer(key, DIGEST, "layer 2"),
        ]
    )
    verifier = Verifier(policy, source)
    verdict = verifier.verify(f"{REPO}:1.0@{DIGEST}")
    assert verdict.verified and verdict.rule == "shop" and not verdict.cached
    assert verdict.satisfied_by is not None and verdict.satisfied_by.ref == "layer 2"
    reasons = verdict.reasons()
    assert any("layer 0" in r and "does not verify" in r for r in reasons)
    assert any("layer 1" in r and "no dev.cosignproject.cosign/signature" in r for r in reasons)
    again = verifier.verify(f"{REPO}@{DIGEST}")
    assert again.verified and again.cached and source.calls == 1
    assert verdict_summary(again)["signer"] == "release.pub"


def test_ttl_expires_cache(key_dir: tuple[Path, ec.EllipticCurvePrivateKey]) -> None:
    directory, key = key_dir
    policy = Policy.load(
        write_policy(directory, "rules:\n  - repositories: ['**']\n    keys: [release.pub]\n")
    )
    source = MemorySource()
    source.entries[(REPO, DIGEST)] = FoundSignatures(classic=[sign_layer(key, DIGEST)])
    now = [0.0]
    verifier = Verifier(policy, source, cache_ttl=60, clock=lambda: now[0])
    verifier.verify(f"{REPO}@{DIGEST}")
    now[0] = 30
    assert verifier.verify(f"{REPO}@{DIGEST}").cached
    now[0] = 100
    assert not verifier.verify(f"{REPO}@{DIGEST}").cached
    assert source.calls == 2


def test_failures_are_not_cached_and_reasons_are_given(
    key_dir: tuple[Path, ec.EllipticCurvePrivateKey],
) -> None:
    directory, key = key_dir
    policy = Policy.load(
        write_policy(
            directory,
            "rules:\n  - repositories: ['registry.example/**']\n    keys: [release.pub]\n",
        )
    )
    source = MemorySource()
    verifier = Verifier(policy, source)
    unsigned = verifier.verify(f"{REPO}@{DIGEST}")
    assert not unsigned.verified
    assert any("has no signatures" in r for r in unsigned.reasons())
    other_digest = "sha256:" + "34" * 32
    source.entries[(REPO, DIGEST)] = FoundSignatures(classic=[sign_layer(key, other_digest)])
    wrong = verifier.verify(f"{REPO}@{DIGEST}")
    assert not wrong.verified and any(f"signs {other_digest}" in r for r in wrong.reasons())
    source.entries[(REPO, DIGEST)] = FoundSignatures(classic=[sign_layer(key, DIGEST)])
    assert verifier.verify(f"{REPO}@{DIGEST}").verified
    assert source.calls == 5  # classic + bundles twice (not verified), then classic only


def test_no_matching_rule_denies(key_dir: tuple[Path, ec.EllipticCurvePrivateKey]) -> None:
    directory, key = key_dir
    policy = Policy.load(
        write_policy(
            directory, "rules:\n  - repositories: ['other.example/**']\n    keys: [release.pub]\n"
        )
    )
    source = MemorySource()
    source.entries[(REPO, DIGEST)] = FoundSignatures(classic=[sign_layer(key, DIGEST)])
    verdict = Verifier(policy, source).verify(f"{REPO}@{DIGEST}")
    assert not verdict.verified and verdict.rule is None
    assert "no policy rule matches" in verdict.reasons()[0]
    assert source.calls == 0


def test_first_matching_rule_decides(key_dir: tuple[Path, ec.EllipticCurvePrivateKey]) -> None:
    directory, key = key_dir
    other = ec.generate_private_key(ec.SECP256R1())
    (directory / "other.pub").write_bytes(keys.public_key_pem(other.public_key()))
    policy = Policy.load(
        write_policy(
            directory,
            "rules:\n  - name: strict\n    repositories: ['registry.example/shop/web']\n    keys: [other.pub]\n  - name: loose\n    repositories: ['**']\n    keys: [release.pub]\n",
        )
    )
    source = MemorySource()
    source.entries[(REPO, DIGEST)] = FoundSignatures(classic=[sign_layer(key, DIGEST)])
    verdict = Verifier(policy, source).verify(f"{REPO}@{DIGEST}")
    assert verdict.rule == "strict" and not verdict.verified


def test_keyless_rule_with_the_real_bundle(tmp_path: Path) -> None:
    (tmp_path / "root.json").write_bytes((BUNDLE / "trusted_root_pgi.json").read_bytes())
    policy = Policy.load(
        write_policy(
            tmp_path,
            f"trusted-root: root.json\nrules:\n  - repositories: ['127.0.0.1:*/**']\n    predicate-types: ['*']\n    keyless:\n      - issuer: {BUNDLE_ISSUER}\n        subject: {BUNDLE_IDENTITY}\n",
        )
    )
    source = MemorySource()
    content = (BUNDLE / "oci-attestation.sigstore.json").read_bytes()
    repo = "127.0.0.1:60943/repo"
    source.entries[(repo, BUNDLE_DIGEST)] = FoundSignatures(
        bundles=[FoundBundle("sha256:garbage", b"not json"), FoundBundle("sha256:good", content)]
    )
    verdict = Verifier(policy, source).verify(f"{repo}@{BUNDLE_DIGEST}")
    assert verdict.verified, verdict.reasons()
    assert verdict.satisfied_by is not None and verdict.satisfied_by.ref == "sha256:good"
    wrong = Policy.load(
        write_policy(
            tmp_path,
            f"trusted-root: root.json\nrules:\n  - repositories: ['**']\n    keyless:\n      - issuer: {BUNDLE_ISSUER}\n        subject-regexp: 'mallory@.*'\n",
        )
    )
    assert not Verifier(wrong, source).verify(f"{repo}@{BUNDLE_DIGEST}").verified


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []\n", "non-empty list"),
        ("- a\n", "mapping"),
        (
            "version: 2\nrules: [{repositories: ['**'], keys: [release.pub]}]\n",
            "unsupported policy version",
        ),
        ("rules: [{repositories: ['**']}]\n", "nothing could satisfy"),
        ("rules: [{keys: [release.pub]}]\n", "at least one glob"),
        ("rules: [{repositories: ['**'], keys: [missing.pub]}]\n", "does not exist"),
        ("rules: [{repositories: ['**'], key: [release.pub]}]\n", "unknown field"),
        ("rules: [{repositories: ['**'], keyless: [{subject: a}]}]\n", "needs an issuer"),
        (
            "rules: [{repositories: ['**'], keyless: [{issuer: i, subject: a, sub: b}]}]\n",
            "unknown field",
        ),
        ("rules: [{repositories: ['**'], keys: ['awskms://bad']}]\n", "Invalid AWS KMS"),
        ("a: &x [1]\nb: *x\n", "aliases"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_bad_policy_files(
    key_dir: tuple[Path, ec.EllipticCurvePrivateKey], text: str, message: str
) -> None:
    directory, _ = key_dir
    with pytest.raises(InputError, match=message):
        Policy.load(write_policy(directory, text))


def test_kms_keys_are_fetched_once(key_dir: tuple[Path, ec.EllipticCurvePrivateKey]) -> None:
    directory, key = key_dir
    policy = Policy.load(
        write_policy(
            directory, "rules:\n  - repositories: ['**']\n    keys: ['awskms:///alias/release']\n"
        )
    )
    source = MemorySource()
    source.entries[(REPO, DIGEST)] = FoundSignatures(classic=[sign_layer(key, DIGEST)])
    fetched: list[str] = []

    def fetch(ref: object) -> ec.EllipticCurvePublicKey:
        fetched.append(str(ref))
        return key.public_key()

    verifier = Verifier(policy, source, kms_public_key=fetch)
    assert verifier.verify(f"{REPO}@{DIGEST}").verified
    assert verifier.verify(f"{REPO}@{'sha256:' + '0' * 64}").verified is False
    assert fetched == ["awskms:///alias/release"]


def test_split_image() -> None:
    assert split_image(f"reg:5000/a/b:tag@{DIGEST}") == ("reg:5000/a/b", DIGEST)
    assert split_image(f"reg:5000/a/b@{DIGEST}") == ("reg:5000/a/b", DIGEST)
    assert split_image(f"busybox@{DIGEST}") == ("docker.io/library/busybox", DIGEST)
    with pytest.raises(InputError, match="does not name a sha256 digest"):
        split_image("reg/a:latest")


def test_public_trusted_root_is_fetched_once_when_needed(tmp_path: Path) -> None:
    from shipstep.errors import ShipstepError
    from shipstep.signing.bundle import load_trusted_root

    policy = Policy.load(
        write_policy(
            tmp_path,
            f"rules:\n  - repositories: ['**']\n    predicate-types: ['*']\n    keyless:\n      - issuer: {BUNDLE_ISSUER}\n        subject: {BUNDLE_IDENTITY}\n",
        )
    )
    source = MemorySource()
    repo = "127.0.0.1:60943/repo"
    content = (BUNDLE / "oci-attestation.sigstore.json").read_bytes()
    source.entries[(repo, BUNDLE_DIGEST)] = FoundSignatures(
        bundles=[FoundBundle("sha256:b", content)]
    )
    calls: list[int] = []

    def offline() -> object:
        calls.append(1)
        raise ShipstepError("Could not fetch Sigstore's public trusted root (TUFError).")

    verifier = Verifier(policy, source, public_trusted_root=offline)  # type: ignore[arg-type]
    for _ in range(2):
        verdict = verifier.verify(f"{repo}@{BUNDLE_DIGEST}")
        assert not verdict.verified
        assert any("Could not fetch Sigstore's public trusted root" in r for r in verdict.reasons())
    assert calls == [1]

    def interop_root() -> object:
        return load_trusted_root(str(BUNDLE / "trusted_root_pgi.json"))

    assert (
        Verifier(policy, source, public_trusted_root=interop_root)
        .verify(f"{repo}@{BUNDLE_DIGEST}")
        .verified
    )  # type: ignore[arg-type]
