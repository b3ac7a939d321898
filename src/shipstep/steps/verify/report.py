"""The verify report: every check with what was seen, as text, markdown and JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from shipstep.errors import ShipstepError
from shipstep.result import OutputValue


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    PENDING = "pending"  # not decided yet; becomes failed at the deadline
    SKIPPED = "skipped"


_ICONS = {
    Status.PASSED: "✅",
    Status.FAILED: "❌",
    Status.PENDING: "⏳",
    Status.SKIPPED: "⏭️",
}


@dataclass(frozen=True)
class Check:
    """One check: `kind` is its family (`health`, `images`, `smoke`...), `name`
    what it is about, `summary` one line of what was seen, `details` the
    evidence (pods, values, responses)."""

    kind: str
    name: str
    status: Status
    summary: str
    details: tuple[str, ...] = ()

    @property
    def decided(self) -> bool:
        return self.status is not Status.PENDING

    def timed_out(self, waited: float) -> Check:
        """A pending check at the deadline: failed, saying what it waited for."""
        if self.status is not Status.PENDING:
            return self
        return Check(
            self.kind,
            self.name,
            Status.FAILED,
            f"still not satisfied after {waited:.0f}s: {self.summary}",
            self.details,
        )


@dataclass
class VerifyReport:
    checks: list[Check]
    namespace: str | None = None
    expected_images: list[str] = field(default_factory=list)
    merge_commit: str | None = None
    elapsed_seconds: float = 0.0
    report_file: str | None = None
    revert_pr_url: str | None = None
    revert_operation: str | None = None  # created / unchanged
    commit_status: str | None = None  # e.g. "failure (shipstep/verify) on 0123456789ab"
    notes: list[str] = field(default_factory=list)
    # False when the cluster could not be read: the verdict says nothing
    # about the rollout, so it is never a reason to revert.
    conclusive: bool = True

    @property
    def succeeded(self) -> bool:
        return bool(self.checks) and all(
            c.status in (Status.PASSED, Status.SKIPPED) for c in self.checks
        )

    @property
    def result(self) -> str:
        return "passed" if self.succeeded else "failed"

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status in (Status.FAILED, Status.PENDING)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "namespace": self.namespace,
            "expectedImages": self.expected_images,
            "mergeCommit": self.merge_commit,
            "elapsedSeconds": round(self.elapsed_seconds, 3),
            "revertPullRequest": self.revert_pr_url,
            "revertOperation": self.revert_operation,
            "commitStatus": self.commit_status,
            "notes": self.notes,
            "conclusive": self.conclusive,
            "checks": [
                {**asdict(c), "status": str(c.status), "details": list(c.details)}
                for c in self.checks
            ],
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def write(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.to_json(indent=2) + "\n", encoding="utf-8")
        except OSError as error:
            raise ShipstepError(
                f"Cannot write the verify report to {path}: {error.strerror or error}.",
                hint="Pass --report-file with a writable path.",
            ) from error
        self.report_file = str(path)

    # StepResult
    def outputs(self) -> Mapping[str, OutputValue]:
        return {
            "result": self.result,
            "report": self.to_json(),
            "report-file": self.report_file,
            "revert-pr-url": self.revert_pr_url,
        }

    def summary_markdown(self) -> str:
        head = "✅ passed" if self.succeeded else "❌ failed"
        lines = [f"### shipstep verify: {head}", ""]
        if self.namespace:
            lines.append(f"Namespace `{self.namespace}`, {self.elapsed_seconds:.1f}s.")
        if self.merge_commit:
            lines.append(f"Config commit `{self.merge_commit}`.")
        for image in self.expected_images:
            lines.append(f"- expected `{image}`")
        lines += ["", "| | check | what was seen |", "|---|---|---|"]
        for c in self.checks:
            lines.append(
                f"| {_ICONS[c.status]} | {_md(c.kind)}: {_md(c.name)} | {_md(c.summary)} |"
            )
        evidence = [c for c in self.checks if c.details and c.status is not Status.PASSED]
        for c in evidence:
            lines += ["", f"<details><summary>{_md(c.kind)}: {_md(c.name)}</summary>", "", "```"]
            lines += [d.replace("```", "'''") for d in c.details]
            lines += ["```", "</details>"]
        if self.revert_pr_url:
            lines += ["", f"Revert pull request ({self.revert_operation}): {self.revert_pr_url}"]
        if self.commit_status:
            lines += ["", f"Commit status: {_md(self.commit_status)}"]
        for note in self.notes:
            lines += ["", f"> {note}"]
        return "\n".join(lines) + "\n"

    def text(self) -> str:
        lines = [f"verify {self.result} ({self.elapsed_seconds:.1f}s)"]
        for c in self.checks:
            lines.append(f"  [{c.status}] {c.kind}: {c.name}: {c.summary}")
            if c.status is not Status.PASSED:
                lines += [f"      {d}" for d in c.details]
        if self.revert_pr_url:
            lines.append(f"revert pull request ({self.revert_operation}): {self.revert_pr_url}")
        if self.commit_status:
            lines.append(f"commit status: {self.commit_status}")
        if self.report_file:
            lines.append(f"report: {self.report_file}")
        lines += self.notes
        return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
