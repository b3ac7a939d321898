"""The signature of every expected digest verifies against the policy file
(the sign step's verifier: `shipstep.signing.policy`). Fails closed: an
image whose signatures cannot be read is unverified."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shipstep.errors import ShipstepError
from shipstep.oci.reference import Reference
from shipstep.signing.policy import Verdict
from shipstep.steps.verify.report import Check, Status


class ImageVerifier(Protocol):
    def verify(self, image: str) -> Verdict: ...


def signature_checks(verifier: ImageVerifier, expected: Sequence[Reference]) -> list[Check]:
    checks = []
    for ref in expected:
        image = f"{ref.name}@{ref.digest}"
        try:
            verdict = verifier.verify(image)
        except ShipstepError as error:
            checks.append(
                Check(
                    "signature",
                    image,
                    Status.FAILED,
                    f"signatures could not be read: {error.message}",
                    (error.hint,) if error.hint else (),
                )
            )
            continue
        reasons = tuple(verdict.reasons())
        satisfied = verdict.satisfied_by
        if verdict.verified and satisfied is not None:
            signer = satisfied.signer or satisfied.reason
            checks.append(
                Check(
                    "signature",
                    image,
                    Status.PASSED,
                    f"{satisfied.format} signature by {signer} (policy rule {verdict.rule})",
                    reasons,
                )
            )
        else:
            first = reasons[0] if reasons else "no signature satisfies the policy"
            checks.append(
                Check(
                    "signature",
                    image,
                    Status.FAILED,
                    f"does not verify against the policy (rule {verdict.rule or 'none'}): {first}",
                    reasons,
                )
            )
    return checks
