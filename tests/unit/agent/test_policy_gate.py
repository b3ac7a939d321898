from __future__ import annotations

import pytest

from shipstep.agent.objects import Manifest
from shipstep.agent.policy import Gate, Verdict

pytestmark = pytest.mark.timeout(30)

GOOD = "r.example/app@sha256:" + "1" * 64
BAD = "r.example/other@sha256:" + "2" * 64


class CountingVerifier:
    """A verifier with fixed answers that counts calls (the real one is the
    signing package's, exercised in the integration tests)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def verify(self, image_ref: str) -> Verdict:
        self.calls.append(image_ref)
        if image_ref == GOOD:
            return Verdict(True, "signed")
        if image_ref == BAD:
            return Verdict(False, "no signature")
        raise RuntimeError("registry unreachable")


def pod(*images: str) -> Manifest:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return Manifest(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"containers": containers},
        },
        "p.yaml:1",
    )


def test_gate_refuses_any_failure_caches_successes_and_fails_closed() -> None:
    verifier = CountingVerifier()
    gate = Gate(verifier)
    assert gate.check([pod(GOOD, GOOD)]) == []
    assert verifier.calls == [GOOD]  # cached after the first success
    problems = gate.check([pod(GOOD, BAD, "r.example/x@sha256:" + "3" * 64)])
    assert [p.source for p in problems] == ["p.yaml:1", "p.yaml:1"]
    assert "no signature" in problems[0].message and BAD in problems[0].message
    assert "verification error: registry unreachable" in problems[1].message
    gate.check([pod(BAD)])
    assert verifier.calls.count(BAD) == 2  # failures are asked again (a signature may be added)
    assert gate.failures == 3
