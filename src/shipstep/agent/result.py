"""What `shipstep agent --once` / `--dry-run` returns (a `StepResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shipstep.agent.loop import Outcome
from shipstep.agent.plan import UNCHANGED
from shipstep.result import OutputValue


@dataclass
class AgentResult:
    outcome: Outcome
    # Set for a dry run without a cluster: the note saying what was not compared.
    no_cluster_note: str | None = None

    @property
    def succeeded(self) -> bool:
        ok = self.outcome.result in ("applied", "unchanged", "dry-run")
        return ok and self.outcome.refused_head is None

    def outputs(self) -> Mapping[str, OutputValue]:
        counts = self.outcome.report.counts() if self.outcome.report else {}
        reason = self.outcome.reason
        if self.no_cluster_note:
            reason = "\n".join(x for x in (reason, self.no_cluster_note) if x)
        return {
            "revision": self.outcome.revision,
            "refused-revision": self.outcome.refused_head,
            "result": self.outcome.result,
            "reason": reason,
            **{k: v for k, v in counts.items()},
        }

    def _dry_run_lines(self) -> list[str]:
        """Rendered objects, image verdicts, then the plan."""
        report = self.outcome.report
        if report is None:
            return []
        items = report.plan.items
        lines = [f"objects ({len(items)} rendered):"]
        lines += [f"  {item.id}  ({item.manifest.source})" for item in items]
        verdicts = self.outcome.verdicts
        lines.append(f"images ({len(verdicts)}):" if verdicts else "images: none")
        lines += [
            f"  {'verified' if v.ok else 'refused'}  {image}: {v.reason}"
            for image, v in sorted(verdicts.items())
        ]
        lines.append("plan:")
        if self.no_cluster_note:
            lines += [f"  would apply {item.id}" for item in items]
        else:
            lines += self._plan_lines()
        return lines

    def _plan_lines(self) -> list[str]:
        report = self.outcome.report
        if report is None:
            return []
        lines = [
            f"  {item.action:9} {item.id}" for item in report.plan.items if item.action != UNCHANGED
        ]
        unchanged = report.plan.count(UNCHANGED)
        if unchanged:
            lines.append(f"  {unchanged} object(s) unchanged")
        lines += [f"  prune     {entry.id}" for entry, _ in report.prune.delete]
        lines += [f"  keep      {entry.id} ({why})" for entry, why in report.prune.keep]
        if report.prune.blocked:
            lines.append(f"  prune blocked: {report.prune.blocked}")
        return lines

    def text(self) -> str:
        o = self.outcome
        head = f"revision {o.revision or '-'}: {o.result}"
        note = [f"note: {self.no_cluster_note}"] if self.no_cluster_note else []
        if o.result == "dry-run":
            return "\n".join(
                [
                    f"revision {o.revision}: plan (dry run, nothing written)",
                    *note,
                    *self._dry_run_lines(),
                ]
            )
        lines = [head, *note]
        if o.report is not None:
            counts = o.report.counts()
            lines.append("  " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        if o.reason:
            lines += [f"  {line}" for line in o.reason.splitlines()[:60]]
        return "\n".join(lines)

    def summary_markdown(self) -> str:
        o = self.outcome
        body = f"### shipstep agent\n\nRevision `{o.revision or '-'}`: **{o.result}**\n"
        if self.no_cluster_note:
            body += f"\n{self.no_cluster_note}\n"
        if o.reason:
            body += "\n```\n" + "\n".join(o.reason.splitlines()[:60]) + "\n```\n"
        return body
