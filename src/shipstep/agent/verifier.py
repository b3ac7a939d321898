"""The agent's signature verifier: the signing package's policy verifier
reading signatures from the images' registries (`shipstep.signing.policy`).

The gate (`agent.policy.Gate`) treats any exception as a refusal, so a
registry that cannot be reached refuses the revision (fail closed)."""

from __future__ import annotations

from pathlib import Path

from shipstep.agent.policy import Verdict
from shipstep.oci.client import RegistryClient
from shipstep.signing.oci_source import OciSignatureSource
from shipstep.signing.policy import Policy
from shipstep.signing.policy import Verifier as PolicyVerifierImpl


class PolicyVerifier:
    def __init__(self, policy_file: Path, client: RegistryClient | None = None) -> None:
        self._verifier = PolicyVerifierImpl(
            Policy.load(policy_file), OciSignatureSource(client or RegistryClient())
        )

    def verify(self, image_ref: str) -> Verdict:
        verdict = self._verifier.verify(image_ref)
        if verdict.verified:
            satisfied = verdict.satisfied_by
            return Verdict(
                True, f"rule {verdict.rule}: {satisfied.reason if satisfied else 'verified'}"
            )
        return Verdict(False, "; ".join(verdict.reasons()) or "not verified")
