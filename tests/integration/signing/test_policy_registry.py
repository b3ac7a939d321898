"""The policy file against the real registry: keys, KMS keys and keyless
identities, rules by repository glob, deny when no rule matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipstep.oci.client import RegistryClient
from shipstep.signing.oci_source import OciSignatureSource
from shipstep.signing.policy import Policy, Verifier
from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import push_image

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).resolve().parents[2] / "data" / "interop" / "cosign-bundle-dsse"


def test_policy_rules(
    registry: Registry, key_pair: tuple[Path, Path], shipstep, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    prod = push_image(registry.host, "prod-app")
    other = push_image(registry.host)
    for image in (prod, other):
        assert shipstep("sign", "--image", image.pinned, "--key", str(private)).code == 0
    (tmp_path / "root.json").write_bytes((DATA / "trusted_root_pgi.json").read_bytes())
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"""version: 1
trusted-root: root.json
rules:
  - name: production
    repositories: ["{registry.host}/sign-test/prod-*"]
    keys: ["{public}"]
    keyless:
      - issuer: https://token.actions.githubusercontent.com
        subject-regexp: ^https://github\\.com/acme/.*$
"""
    )
    ok = shipstep("verify-signature", "--image", prod.tag_ref, "--policy", str(policy))
    assert ok.code == 0, ok.err
    assert ok.json["rule"] == "production" and ok.json["signer"] == str(public)
    denied = shipstep("verify-signature", "--image", other.tag_ref, "--policy", str(policy))
    assert denied.code == 1
    assert denied.json["rule"] is None
    assert any("no policy rule matches" in r for r in denied.json["reasons"])  # type: ignore[union-attr]
    both = shipstep(
        "verify-signature", "--image", prod.tag_ref, "--policy", str(policy), "--key", str(public)
    )
    assert both.code == 2


def test_verifier_requests_and_cache(
    registry: Registry, key_pair: tuple[Path, Path], shipstep, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """What the agent does: one Verifier, many verifications; a classic
    signature costs two registry requests cold (.sig manifest, payload blob)
    and none warm."""
    private, public = key_pair
    image = push_image(registry.host)
    assert shipstep("sign", "--image", image.pinned, "--key", str(private)).code == 0
    policy = Policy.parse(f"rules: [{{repositories: ['**'], keys: ['{public}']}}]\n", base=tmp_path)
    client = RegistryClient()
    verifier = Verifier(policy, OciSignatureSource(client))
    client.stats.reset()
    assert verifier.verify(image.pinned).verified
    assert client.stats.requests == 2
    again = verifier.verify(image.pinned)
    assert again.verified and again.cached and client.stats.requests == 2
