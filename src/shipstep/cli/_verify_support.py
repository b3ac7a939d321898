"""What `shipstep verify` builds from its flags: the signature verifier (the
sign step's policy and registry client)."""

from __future__ import annotations

from pathlib import Path

from shipstep.cli._signing import registry_client
from shipstep.progress import Reporter
from shipstep.signing.oci_source import OciSignatureSource
from shipstep.signing.policy import Policy, Verifier

REVERT_AUTHOR = ("shipstep", "shipstep@users.noreply.github.com")


def make_verifier(
    policy: Path,
    reporter: Reporter,
    username: str | None,
    password: str | None,
    docker_config: str | None = None,
    insecure_registries: tuple[str, ...] = (),
) -> Verifier:
    client = registry_client(reporter, username, password, docker_config, insecure_registries)
    return Verifier(Policy.load(policy), OciSignatureSource(client))
