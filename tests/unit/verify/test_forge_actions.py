"""The verdict as a commit status, and reading a pull request's merge
commit: what reaches the forge and what the report says."""

from __future__ import annotations

import pytest

from shipstep.errors import InputError, ShipstepError
from shipstep.forges.interface import CommitStatus, PullRequest
from shipstep.steps.verify.forge_actions import (
    merge_commit_of,
    set_verdict_status,
    verdict_status,
)
from shipstep.steps.verify.report import Check, Status, VerifyReport

SHA = "0123456789abcdef0123456789abcdef01234567"


class RecordingForge:
    """Answers like a forge; records statuses, or refuses them."""

    name = "recording"

    def __init__(self, pr: PullRequest | None = None, supported: bool = True) -> None:
        self.pr = pr
        self.supported = supported
        self.statuses: list[tuple[str, CommitStatus]] = []
        self.error: ShipstepError | None = None

    def pull_request(self, number: int) -> PullRequest:
        assert self.pr is not None and number == self.pr.number
        return self.pr

    def set_commit_status(self, commit: str, status: CommitStatus) -> bool:
        if self.error:
            raise self.error
        if self.supported:
            self.statuses.append((commit, status))
        return self.supported


def report(*statuses: Status, conclusive: bool = True) -> VerifyReport:
    checks = [Check("health", f"deployment/w{i}", s, "seen") for i, s in enumerate(statuses)]
    return VerifyReport(checks=checks, merge_commit=SHA, conclusive=conclusive)


def test_verdicts() -> None:
    passed = verdict_status(report(Status.PASSED, Status.SKIPPED), "ctx", "https://ci/1")
    assert passed == CommitStatus("success", "ctx", "verify passed: 2 checks", "https://ci/1")
    failed = report(Status.PASSED, Status.FAILED, Status.PENDING)
    failed.revert_pr_url = "https://forge/pull/2"
    assert verdict_status(failed, "ctx", "https://ci/1") == CommitStatus(
        "failure",
        "ctx",
        "verify failed: health: deployment/w1, health: deployment/w2",
        "https://forge/pull/2",
    )
    unread = verdict_status(report(Status.FAILED, conclusive=False), "ctx", None)
    assert unread.state == "error"


def test_status_is_set_on_the_merge_commit() -> None:
    forge = RecordingForge()
    verdict = report(Status.PASSED)
    set_verdict_status(verdict, forge, "shipstep/verify", None)  # type: ignore[arg-type]
    assert [(c, s.state) for c, s in forge.statuses] == [(SHA, "success")]
    assert verdict.commit_status == f"success (shipstep/verify) on {SHA[:12]}"


def test_unsupported_or_failing_forge_is_a_note_not_a_verdict() -> None:
    verdict = report(Status.PASSED)
    set_verdict_status(verdict, RecordingForge(supported=False), "c", None)  # type: ignore[arg-type]
    assert verdict.commit_status is None and verdict.succeeded
    assert verdict.notes == ["No commit status: recording has no commit statuses."]
    forge = RecordingForge()
    forge.error = ShipstepError("GitHub answered 403 to POST /statuses", hint="permission")
    verdict = report(Status.FAILED)
    set_verdict_status(verdict, forge, "c", None)  # type: ignore[arg-type]
    assert verdict.notes == ["Commit status not set: GitHub answered 403 to POST /statuses"]
    assert verdict.result == "failed"


def test_merge_commit_of_a_pull_request() -> None:
    merged = PullRequest(7, "https://forge/pull/7", "b", "main", "t", "", "merged", False, SHA)
    assert merge_commit_of(RecordingForge(merged), 7) == SHA  # type: ignore[arg-type]
    for state in ("open", "closed"):
        pr = PullRequest(7, "https://forge/pull/7", "b", "main", "t", "", state)
        with pytest.raises(InputError, match=f"#7 .* is {state}, not merged") as caught:
            merge_commit_of(RecordingForge(pr), 7)  # type: ignore[arg-type]
        assert "after the merge" in (caught.value.hint or "")
