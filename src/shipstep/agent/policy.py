"""The policy gate: every image of a revision must verify, or the revision is
refused as a whole. Verification itself is the signing package's job
(`shipstep.signing.policy`); the gate only asks a `Verifier` and caches the
verdicts by image reference (references are pinned by digest, so a cached
verdict cannot go stale for the same reference).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from shipstep.agent.objects import Manifest, images_of
from shipstep.agent.validate import Problem


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str


class Verifier(Protocol):
    def verify(self, image_ref: str) -> Verdict:
        """Whether the image's signature satisfies the policy, and why (not)."""


class Gate:
    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier
        self._cache: dict[str, Verdict] = {}
        self._lock = threading.Lock()
        self.failures = 0  # verifications that failed (a metric)

    def verdict(self, image: str) -> Verdict:
        with self._lock:
            cached = self._cache.get(image)
        if cached is not None:
            return cached
        try:
            verdict = self._verifier.verify(image)
        except Exception as error:  # fail closed, whatever the verifier raised
            verdict = Verdict(False, f"verification error: {error}")
        with self._lock:
            if verdict.ok:  # failures are retried next time (a signature may be added)
                self._cache[image] = verdict
            else:
                self.failures += 1
        return verdict

    def check(self, manifests: Iterable[Manifest]) -> list[Problem]:
        problems: list[Problem] = []
        for m in manifests:
            for container, image in images_of(m.obj):
                verdict = self.verdict(image)
                if not verdict.ok:
                    problems.append(
                        Problem(
                            m.source,
                            f"{m.id}: image {image} (container {container!r}) refused: {verdict.reason}",
                        )
                    )
        return problems


class AllowAll:
    """No policy configured: every image passes (digest pinning is still checked
    by validation). Used only when the operator passes --no-verify-signatures."""

    def verify(self, image_ref: str) -> Verdict:
        return Verdict(True, "signature verification disabled")
