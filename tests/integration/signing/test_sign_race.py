"""Concurrent signers: the read-back after writing the `.sig` manifest notices
when another signer's write replaced ours, and signs again on top of it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.errors import ShipstepError
from shipstep.oci.client import RegistryClient
from shipstep.oci.reference import Reference
from shipstep.signing import classic
from shipstep.signing import payload as simple
from shipstep.signing.keys import KeySigner
from shipstep.steps.sign import sign_classic
from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import push_image
from tests.integration.signing.test_sign_key import spec_signatures

pytestmark = pytest.mark.timeout(120)


class RacingClient(RegistryClient):
    """Right after each of our `.sig` manifest PUTs (up to `races` times),
    another signer writes its own `.sig` manifest over ours, as a concurrent
    `cosign sign` that read the manifest before our write would."""

    def __init__(self, rival: KeySigner, races: int) -> None:
        super().__init__()
        self.rival = rival
        self.races = races
        self.rival_layers: list[str] = []

    def put_manifest(self, ref: Reference, data: bytes, media_type: str) -> str:
        digest = super().put_manifest(ref, data, media_type)
        if ref.tag and ref.tag.endswith(".sig") and self.races > 0:
            self.races -= 1
            payload_bytes = simple.build(
                ref.name, "sha256:" + ref.tag[7:71], {"rival": str(self.races)}
            )
            rival = classic.append_signature(None, payload_bytes, self.rival.sign(payload_bytes))
            for blob in (rival.layer, rival.config):
                self.upload_blob(ref, blob, classic.sha256_digest(blob), len(blob))
            super().put_manifest(ref, rival.manifest, classic.OCI_MANIFEST)
            self.rival_layers.append(rival.layer_digest)
        return digest


def test_a_lost_write_is_noticed_and_redone(registry: Registry) -> None:
    image = push_image(registry.host)
    ours = KeySigner(ec.generate_private_key(ec.SECP256R1()), name="ours")
    client = RacingClient(KeySigner(ec.generate_private_key(ec.SECP256R1())), races=2)
    result = sign_classic(client, image.tag_ref, ours)
    assert result.operation == "signed"
    layers = [layer["digest"] for _, _, layer in spec_signatures(registry, image)]
    # The rival's last write is kept, and ours is on top of it.
    assert layers[0] == client.rival_layers[-1]
    assert len(layers) == 2


def test_gives_up_after_bounded_attempts(registry: Registry) -> None:
    image = push_image(registry.host)
    ours = KeySigner(ec.generate_private_key(ec.SECP256R1()), name="ours")
    client = RacingClient(KeySigner(ec.generate_private_key(ec.SECP256R1())), races=100)
    with pytest.raises(ShipstepError, match="kept changing"):
        sign_classic(client, image.tag_ref, ours)
    assert client.races == 100 - 5
