"""The verify report as markdown, JSON and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipstep.errors import ShipstepError
from shipstep.steps.verify.report import Check, Status, VerifyReport


def report() -> VerifyReport:
    return VerifyReport(
        checks=[
            Check("signature", "r/app@sha256:aa", Status.PASSED, "classic signature by k.pub"),
            Check("health", "deployment/web", Status.FAILED, "Progress deadline exceeded", ("x",)),
            Check(
                "images",
                "deployment/web",
                Status.PENDING,
                "1 pod | of an older ReplicaSet",
                ("pod a <old>",),
            ),
            Check("smoke", "https://x/", Status.SKIPPED, "not run"),
        ],
        namespace="shop",
        expected_images=["r/app@sha256:aa"],
        merge_commit="c" * 40,
        elapsed_seconds=12.34,
    )


def test_verdict_and_outputs() -> None:
    r = report()
    assert not r.succeeded and r.result == "failed"
    assert [c.kind for c in r.failed] == ["health", "images"]
    outputs = r.outputs()
    assert outputs["result"] == "failed"
    assert outputs["revert-pr-url"] is None
    document = json.loads(str(outputs["report"]))
    assert document["checks"][1] == {
        "kind": "health",
        "name": "deployment/web",
        "status": "failed",
        "summary": "Progress deadline exceeded",
        "details": ["x"],
    }
    assert document["elapsedSeconds"] == 12.34 and document["conclusive"] is True


def test_all_passed_or_skipped_succeeds_but_nothing_checked_does_not() -> None:
    ok = VerifyReport(
        checks=[Check("health", "d", Status.PASSED, "ok"), Check("smoke", "u", Status.SKIPPED, "-")]
    )
    assert ok.succeeded
    assert not VerifyReport(checks=[]).succeeded


def test_markdown_escapes_and_shows_evidence_of_failures() -> None:
    text = report().summary_markdown()
    assert text.startswith("### shipstep verify: ❌ failed\n")
    assert "| ❌ | health: deployment/web | Progress deadline exceeded |" in text
    assert "1 pod \\| of an older ReplicaSet" in text
    assert "<details><summary>images: deployment/web</summary>" in text
    assert "pod a <old>" in text  # inside a code block, as written
    assert "<details><summary>health" in text
    assert "signature: r/app" in text and "classic signature by k.pub" in text


def test_text_lists_details_of_what_did_not_pass() -> None:
    text = report().text()
    assert text.splitlines()[0] == "verify failed (12.3s)"
    assert "      pod a <old>" in text
    assert "[passed] signature" in text


def test_write_and_unwritable_path(tmp_path: Path) -> None:
    r = report()
    r.write(tmp_path / "out" / "report.json")
    assert json.loads((tmp_path / "out" / "report.json").read_text())["result"] == "failed"
    assert r.outputs()["report-file"] == str(tmp_path / "out" / "report.json")
    (tmp_path / "file").write_text("")
    with pytest.raises(ShipstepError, match="Cannot write the verify report"):
        report().write(tmp_path / "file" / "report.json")


def test_timed_out_only_changes_pending() -> None:
    passed = Check("health", "d", Status.PASSED, "ok")
    assert passed.timed_out(5) is passed
    assert Check("health", "d", Status.PENDING, "Updated: 1/2").timed_out(5).summary == (
        "still not satisfied after 5s: Updated: 1/2"
    )
