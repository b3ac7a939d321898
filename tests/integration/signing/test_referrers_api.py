"""A Sigstore bundle on a registry with the OCI 1.1 referrers API (the real
registry behind the proxy in referrers API mode): sign attaches it and
verify-signature finds it through the API, with no `sha256-<hex>` index."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.oci.client import RegistryClient
from shipstep.oci.reference import parse_reference
from shipstep.steps.sign import sign_keyless
from tests.fixtures.registry_proxy import RegistryProxy
from tests.integration.oci.test_referrers_api import upstream_tags
from tests.integration.signing.conftest import push_image
from tests.unit.signing.test_bundle import _key_bundle

pytestmark = pytest.mark.timeout(120)


def test_bundle_is_attached_and_verified_through_the_referrers_api(
    registry_proxy: RegistryProxy, tmp_path: Path, shipstep
) -> None:  # type: ignore[no-untyped-def]
    registry_proxy.referrers_api = True
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "release.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    image = push_image(registry_proxy.host)
    # A key-signed DSSE bundle (cosign v3's `sign --key`) through the keyless
    # path, which is what attaches bundles as referrers.
    signed = sign_keyless(
        RegistryClient(), image.tag_ref, lambda _: _key_bundle(key, image.digest.split(":")[1])
    )
    referrer = signed.signature_ref.split("@", 1)[1]
    ref = parse_reference(image.tag_ref)
    recorded = registry_proxy.referrers[(ref.repository, image.digest)]
    assert list(recorded) == [referrer]
    assert recorded[referrer]["artifactType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    assert upstream_tags(registry_proxy, ref) == ["v1"]  # no fallback index

    listed = registry_proxy.count("GET", rf"/referrers/{image.digest}\?artifactType=")
    verified = shipstep("verify-signature", "--image", image.tag_ref, "--key", str(public))
    assert verified.code == 0, verified.out
    assert verified.json["verified"] is True and verified.json["digest"] == image.digest
    assert verified.json["signature-ref"] == referrer
    assert registry_proxy.count("GET", rf"/referrers/{image.digest}\?artifactType=") == listed + 1
    fallback_tag = image.digest.replace(":", "-")
    assert registry_proxy.count("GET", rf"/manifests/{fallback_tag}$") == 0
    assert registry_proxy.count("HEAD", rf"/manifests/{fallback_tag}$") == 0
