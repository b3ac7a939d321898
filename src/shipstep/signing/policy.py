"""The signature policy: which signers may sign which repositories.

Shared by `shipstep verify-signature --policy` and the in-cluster agent:

    version: 1
    trusted-root: trusted_root.json      # optional; for keyless rules, offline
    rules:
      - name: production
        repositories:                     # globs over REGISTRY/REPOSITORY
          - 123456789012.dkr.ecr.eu-west-1.amazonaws.com/shop/*
        keys:                             # any of these keys may sign
          - keys/release.pub              # a PEM file, relative to the policy file
          - awskms:///alias/release-signer
        keyless:                          # or any of these identities
          - issuer: https://token.actions.githubusercontent.com
            subject-regexp: ^https://github\\.com/acme/shop/\\.github/workflows/release\\.yml@refs/tags/v.*$
            github-workflow-repository: acme/shop
        predicate-types:                  # optional: statements a bundle may carry
          - https://sigstore.dev/cosign/sign/v1   # the default (cosign v3 image signatures)

The first rule whose glob matches the repository decides; no matching rule
means deny. In globs `*` and `?` stay within one path segment and `**`
crosses segments. An image is verified when at least one of its signatures
(classic `.sig` layer or Sigstore bundle) names its digest and is made by a
signer of the rule.

Usage:

    verifier = Verifier(Policy.load(path), source)
    verdict = verifier.verify("registry/repo@sha256:…")
    verdict.verified, verdict.reasons()

Positive verdicts are cached by (rule, digest): a digest's content never
changes, so once a trusted signature for it was seen it stays valid (set
`cache_ttl` to re-check, e.g. to notice revoked keys). Negative verdicts are
never cached: a signature may be added later.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from sigstore.models import TrustedRoot
from sigstore.verify import Verifier as SigstoreVerifier

from shipstep.errors import InputError, ShipstepError
from shipstep.oci.reference import parse_reference
from shipstep.signing import awskms
from shipstep.signing.bundle import (
    SIGN_PREDICATE_TYPE,
    KeylessIdentity,
    load_trusted_root,
    make_verifier,
    production_trusted_root,
    verify_bundle,
)
from shipstep.signing.classic import TrustedKey, verify_layer
from shipstep.signing.interface import SignatureCheck, SignatureSource
from shipstep.signing.keys import load_public_key, read_key_file

MAX_POLICY_BYTES = 1024 * 1024
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_RULE_FIELDS = {"name", "repositories", "keys", "keyless", "predicate-types"}
_IDENTITY_FIELDS = {
    "issuer": "issuer",
    "subject": "subject",
    "subject-regexp": "subject_regexp",
    "github-workflow-repository": "github_workflow_repository",
    "github-workflow-ref": "github_workflow_ref",
}


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
        elif pattern[index] == "*":
            parts.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            parts.append("[^/]")
            index += 1
        else:
            parts.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(parts))


@dataclass(frozen=True)
class KeySpec:
    """A key named by the policy: a PEM (loaded at once) or a KMS key
    (its public key is fetched on first use)."""

    name: str
    public: TrustedKey | None = None
    kms: awskms.KmsKeyRef | None = None


@dataclass(frozen=True)
class Rule:
    name: str
    repositories: tuple[str, ...]
    keys: tuple[KeySpec, ...] = ()
    identities: tuple[KeylessIdentity, ...] = ()
    # Statement predicate types a bundle may carry; None accepts any (attestations too).
    predicate_types: frozenset[str] | None = frozenset({SIGN_PREDICATE_TYPE})
    _patterns: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def matches(self, repository: str) -> bool:
        patterns = self._patterns or tuple(glob_to_regex(p) for p in self.repositories)
        return any(pattern.fullmatch(repository) for pattern in patterns)


def key_spec(text: str, base: Path, where: str) -> KeySpec:
    text = text.strip()
    if awskms.is_kms_ref(text):
        return KeySpec(text, kms=awskms.parse_kms_ref(text))
    if text.startswith("-----BEGIN"):
        key = load_public_key(text.encode(), source=f"{where}: inline key")
        return KeySpec("inline key", public=TrustedKey("inline key", key))
    path = Path(text) if Path(text).is_absolute() else base / text
    key = load_public_key(read_key_file(path, f"{where}: public key"), source=str(path))
    return KeySpec(text, public=TrustedKey(text, key))


def _identity(raw: Any, where: str) -> KeylessIdentity:
    if not isinstance(raw, dict):
        raise InputError(f"{where}: a keyless entry must be a mapping (issuer, subject...).")
    unknown = set(raw) - set(_IDENTITY_FIELDS)
    if unknown:
        raise InputError(
            f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}.",
            hint=f"Keyless entries take {', '.join(_IDENTITY_FIELDS)}.",
        )
    values = {_IDENTITY_FIELDS[k]: v for k, v in raw.items()}
    if not all(isinstance(v, str) and v for v in values.values()):
        raise InputError(f"{where}: keyless fields must be non-empty strings.")
    if "issuer" not in values:
        raise InputError(
            f"{where}: a keyless identity needs an issuer.",
            hint="For GitHub Actions: issuer: https://token.actions.githubusercontent.com",
        )
    return KeylessIdentity(**values)


def _string_list(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise InputError(f"{where} must be a list of strings.")
    return list(raw)


def _predicate_types(raw: Any, where: str) -> frozenset[str] | None:
    if raw is None:
        return frozenset({SIGN_PREDICATE_TYPE})
    values = _string_list(raw, f"{where}: predicate-types")
    if "*" in values:
        return None
    if not values:
        raise InputError(f"{where}: 'predicate-types' must not be empty (use ['*'] for any).")
    return frozenset(values)


def _safe_yaml(text: str, source: str) -> Any:
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise InputError(f"{source}: YAML aliases are not allowed in a policy file.")
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        raise InputError(
            f"{source}: not valid YAML: {getattr(error, 'problem', None) or error}.",
            file=source,
            line=(mark.line + 1) if mark is not None else None,
        ) from None


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    trusted_root: TrustedRoot | None = None
    source: str = "policy"

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        data = read_key_file(path, "Policy file")
        if len(data) > MAX_POLICY_BYTES:
            raise InputError(f"{path}: the policy file is larger than 1 MiB.")
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise InputError(f"{path}: the policy file is not UTF-8 text.") from None
        return cls.parse(text, base=path.parent, source=str(path))

    @classmethod
    def parse(cls, text: str, *, base: Path, source: str = "policy") -> Policy:
        document = _safe_yaml(text, source)
        if not isinstance(document, dict):
            raise InputError(
                f"{source}: a policy is a mapping with 'version' and 'rules'.", file=source
            )
        unknown = set(document) - {"version", "rules", "trusted-root"}
        if unknown:
            raise InputError(
                f"{source}: unknown field(s) {', '.join(sorted(map(str, unknown)))}.", file=source
            )
        if document.get("version", 1) != 1:
            raise InputError(
                f"{source}: unsupported policy version {document.get('version')!r}; expected 1.",
                file=source,
            )
        raw_rules = document.get("rules")
        if not isinstance(raw_rules, list) or not raw_rules:
            raise InputError(f"{source}: 'rules' must be a non-empty list.", file=source)
        rules = [cls._rule(raw, index, base, source) for index, raw in enumerate(raw_rules)]
        root_path = document.get("trusted-root")
        trusted_root = None
        if root_path is not None:
            if not isinstance(root_path, str):
                raise InputError(f"{source}: 'trusted-root' must be a path.", file=source)
            resolved = Path(root_path) if Path(root_path).is_absolute() else base / root_path
            trusted_root = load_trusted_root(str(resolved))
        return cls(tuple(rules), trusted_root, source)

    @staticmethod
    def _rule(raw: Any, index: int, base: Path, source: str) -> Rule:
        where = f"{source}: rule {index + 1}"
        if not isinstance(raw, dict):
            raise InputError(f"{where} must be a mapping.", file=source)
        unknown = set(raw) - _RULE_FIELDS
        if unknown:
            raise InputError(
                f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}.",
                hint=f"Rules take {', '.join(sorted(_RULE_FIELDS))}.",
                file=source,
            )
        name = raw.get("name", f"rule {index + 1}")
        patterns = _string_list(raw.get("repositories"), f"{where}: repositories")
        if not patterns:
            raise InputError(f"{where}: 'repositories' must list at least one glob.", file=source)
        keys = [key_spec(k, base, where) for k in _string_list(raw.get("keys"), f"{where}: keys")]
        keyless = raw.get("keyless") or []
        if not isinstance(keyless, list):
            raise InputError(f"{where}: 'keyless' must be a list.", file=source)
        identities = [
            _identity(item, f"{where}: keyless {i + 1}") for i, item in enumerate(keyless)
        ]
        if not keys and not identities:
            raise InputError(
                f"{where}: names no keys and no keyless identities, so nothing could satisfy it.",
                hint="List 'keys' and/or 'keyless' signers for the rule.",
                file=source,
            )
        predicate_types = _predicate_types(raw.get("predicate-types"), where)
        return Rule(
            str(name),
            tuple(patterns),
            tuple(keys),
            tuple(identities),
            predicate_types,
            tuple(glob_to_regex(p) for p in patterns),
        )

    @classmethod
    def single_rule(
        cls,
        keys: Sequence[str],
        identities: Sequence[KeylessIdentity],
        trusted_root: TrustedRoot | None,
        *,
        predicate_types: Sequence[str] = (SIGN_PREDICATE_TYPE,),
        base: Path = Path(),
    ) -> Policy:
        """A policy of one rule for every repository (the command line's --key/--certificate-* flags)."""
        specs = tuple(key_spec(k, base, "--key") for k in keys)
        types = _predicate_types(list(predicate_types), "--predicate-type")
        rule = Rule("command line", ("**",), specs, tuple(identities), types)
        return cls((rule,), trusted_root, "command line")

    def rule_for(self, repository: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.matches(repository)), None)


@dataclass(frozen=True)
class Verdict:
    image: str  # repository@digest
    digest: str
    verified: bool
    rule: str | None
    checks: tuple[SignatureCheck, ...] = ()
    problems: tuple[str, ...] = ()
    cached: bool = False

    @property
    def satisfied_by(self) -> SignatureCheck | None:
        return next((check for check in self.checks if check.ok), None)

    def reasons(self) -> list[str]:
        """One line per signature found (and per problem), for people."""
        lines = list(self.problems)
        lines += [f"{c.format} {c.ref}: {'OK, ' if c.ok else ''}{c.reason}" for c in self.checks]
        return lines


def split_image(image: str) -> tuple[str, str]:
    """(registry/repository without tag, digest) of `name[:tag]@sha256:…`,
    normalised as the Docker CLI does (`busybox` -> `docker.io/library/busybox`)."""
    ref = parse_reference(image)
    if ref.digest is None or not _DIGEST.fullmatch(ref.digest):
        raise InputError(
            f"{image!r} does not name a sha256 digest; signatures are verified for digests only.",
            hint="Pass REGISTRY/REPOSITORY@sha256:DIGEST (resolve a tag to its digest first).",
        )
    return ref.name, ref.digest


class Verifier:
    """Verifies images against a policy, reading signatures from `source`."""

    def __init__(
        self,
        policy: Policy,
        source: SignatureSource,
        *,
        cache_size: int = 4096,
        cache_ttl: float | None = None,
        kms_public_key: Callable[[awskms.KmsKeyRef], Any] = awskms.fetch_public_key,
        clock: Callable[[], float] = time.monotonic,
        public_trusted_root: Callable[[], TrustedRoot] | None = None,
    ) -> None:
        self.policy = policy
        self._source = source
        self._cache: OrderedDict[tuple[str, str], tuple[float, Verdict]] = OrderedDict()
        self._cache_size = cache_size
        self._cache_ttl = cache_ttl
        self._kms_public_key = kms_public_key
        self._kms_keys: dict[str, TrustedKey] = {}
        self._clock = clock
        self._lock = threading.Lock()
        self._sigstore: SigstoreVerifier | None = make_verifier(policy.trusted_root)
        # Without a trusted root in the policy, Sigstore's public one is
        # fetched (TUF) the first time a keyless bundle needs it.
        self._public_trusted_root = public_trusted_root or production_trusted_root
        self._root_problem: str | None = None

    def _keyless_verifier(self, rule: Rule) -> SigstoreVerifier | None:
        if self._sigstore is None and rule.identities and self._root_problem is None:
            try:
                self._sigstore = make_verifier(self._public_trusted_root())
            except ShipstepError as error:
                self._root_problem = error.message
        return self._sigstore

    def _trusted_keys(self, rule: Rule) -> list[TrustedKey]:
        keys: list[TrustedKey] = []
        for spec in rule.keys:
            if spec.public is not None:
                keys.append(spec.public)
            elif spec.kms is not None:
                if spec.name not in self._kms_keys:
                    self._kms_keys[spec.name] = TrustedKey(
                        spec.name, self._kms_public_key(spec.kms)
                    )
                keys.append(self._kms_keys[spec.name])
        return keys

    def _cached(self, key: tuple[str, str]) -> Verdict | None:
        with self._lock:
            entry = self._cache.get(key)
            if entry is None:
                return None
            stored, verdict = entry
            if self._cache_ttl is not None and self._clock() - stored > self._cache_ttl:
                del self._cache[key]
                return None
            self._cache.move_to_end(key)
            return replace(verdict, cached=True)

    def _remember(self, key: tuple[str, str], verdict: Verdict) -> None:
        with self._lock:
            self._cache[key] = (self._clock(), verdict)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def verify(self, image: str) -> Verdict:
        """The verdict for `REGISTRY/REPOSITORY[:tag]@sha256:…`. Raises
        `ShipstepError` only when signatures cannot be fetched at all (the
        caller must then treat the image as unverified: fail closed)."""
        repository, digest = split_image(image)
        target = f"{repository}@{digest}"
        rule = self.policy.rule_for(repository)
        if rule is None:
            return Verdict(
                target,
                digest,
                False,
                None,
                problems=(f"no policy rule matches {repository}: denied",),
            )
        cache_key = (rule.name, target)
        cached = self._cached(cache_key)
        if cached is not None:
            return cached
        found = self._source.classic_signatures(repository, digest)
        keys = self._trusted_keys(rule) if found.classic else []
        checks = [verify_layer(layer, digest, keys) for layer in found.classic]
        problems = list(found.problems)
        if not any(check.ok for check in checks):
            # Bundles only when no classic signature sufficed: one lookup fewer
            # in the common case.
            bundles = self._source.bundle_signatures(repository, digest)
            problems += bundles.problems
            bundle_keys = self._trusted_keys(rule) if bundles.bundles else []
            keyless = self._keyless_verifier(rule) if bundles.bundles else None
            if bundles.bundles and rule.identities and keyless is None and self._root_problem:
                problems.append(self._root_problem)
            checks += [
                verify_bundle(
                    found_bundle,
                    digest,
                    rule.identities,
                    keyless,
                    bundle_keys,
                    rule.predicate_types,
                )
                for found_bundle in bundles.bundles
            ]
        if not checks:
            problems.append(f"{target} has no signatures (classic or Sigstore bundle)")
        verdict = Verdict(
            target,
            digest,
            any(check.ok for check in checks),
            rule.name,
            tuple(checks),
            tuple(problems),
        )
        if verdict.verified:
            self._remember(cache_key, verdict)
        return verdict


def verdict_summary(verdict: Verdict) -> Mapping[str, Any]:
    """A JSON-friendly form of a verdict (for `--output json`, logs and events)."""
    satisfied = verdict.satisfied_by
    return {
        "image": verdict.image,
        "digest": verdict.digest,
        "verified": verdict.verified,
        "rule": verdict.rule,
        "signer": satisfied.signer if satisfied else None,
        "reasons": verdict.reasons(),
    }


__all__ = [
    "KeylessIdentity",
    "Policy",
    "Rule",
    "Verdict",
    "Verifier",
    "split_image",
    "verdict_summary",
]
