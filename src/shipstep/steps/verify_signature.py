"""Verify an image's signatures against keys, keyless identities or a policy file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shipstep.oci.client import RegistryClient
from shipstep.oci.reference import parse_reference
from shipstep.progress import NullReporter, Reporter
from shipstep.result import OutputValue
from shipstep.signing.oci_source import OciSignatureSource
from shipstep.signing.policy import Policy, Verdict, Verifier
from shipstep.steps.sign import resolve_digest


@dataclass(frozen=True)
class VerifyResult:
    verdict: Verdict

    @property
    def succeeded(self) -> bool:
        return self.verdict.verified

    def outputs(self) -> Mapping[str, OutputValue]:
        satisfied = self.verdict.satisfied_by
        return {
            "verified": self.verdict.verified,
            "image": self.verdict.image,
            "digest": self.verdict.digest,
            "rule": self.verdict.rule,
            "signer": satisfied.signer if satisfied else None,
            "signature-ref": satisfied.ref if satisfied else None,
            "reasons": self.verdict.reasons(),
        }

    def summary_markdown(self) -> str:
        mark = "verified" if self.verdict.verified else "NOT verified"
        lines = [f"### Signature of `{self.verdict.image}`: {mark}", ""]
        lines += [f"- {reason}" for reason in self.verdict.reasons()]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        verdict = self.verdict
        if verdict.verified and verdict.satisfied_by:
            head = f"{verdict.image}: verified ({verdict.satisfied_by.reason})"
        else:
            head = f"{verdict.image}: NOT verified"
        return "\n".join([head, *(f"  {reason}" for reason in verdict.reasons())])


def verify_signature(
    client: RegistryClient,
    image: str,
    policy: Policy,
    *,
    reporter: Reporter | None = None,
) -> VerifyResult:
    reporter = reporter or NullReporter()
    ref = parse_reference(image)
    pinned, digest = (
        resolve_digest(client, ref, "verify") if ref.digest is None else (ref, ref.digest)
    )
    reporter.log(f"verifying {pinned.name}@{digest}")
    verifier = Verifier(policy, OciSignatureSource(client))
    return VerifyResult(verifier.verify(f"{pinned.name}@{digest}"))
