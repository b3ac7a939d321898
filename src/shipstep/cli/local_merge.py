"""`shipstep local-merge`: merge a pull request of the local forge, as a
reviewer would.

Not a pipeline step (hidden from `shipstep --help`): hosted forges have their
own merge button. It lets `scripts/demo` and people trying shipstep without a
hosted forge finish the loop that `shipstep run` / `bump --forge local`
starts, so `shipstep agent` has a merged state to apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from shipstep.cli._app import cli_command, emit
from shipstep.forges.local import MERGED, LocalForge, Merge
from shipstep.result import OutputValue


@dataclass(frozen=True)
class LocalMergeResult:
    merge: Merge

    @property
    def succeeded(self) -> bool:
        return True

    def outputs(self) -> Mapping[str, OutputValue]:
        pr = self.merge.pull_request
        return {
            "pr-number": pr.number,
            "branch": pr.head,
            "base": pr.base,
            "merge-operation": self.merge.operation,
            "merge-commit": self.merge.commit,
        }

    def text(self) -> str:
        pr = self.merge.pull_request
        what = f"pull request #{pr.number} ({pr.head} -> {pr.base})"
        if self.merge.operation == MERGED:
            return f"{what}: merged, {pr.base} is now {self.merge.commit}"
        return f"{what}: already merged ({self.merge.commit or 'merge commit not recorded'})"

    def summary_markdown(self) -> str:
        return f"### Local merge\n\n{self.text()}\n"


@cli_command(
    "local-merge",
    hidden=True,
    short_help="Merge a pull request of the local forge, as a reviewer would.",
)
@click.option(
    "--repo",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The bare config repository of the local forge.",
)
@click.option("--pr", "number", required=True, type=click.IntRange(1), help="Pull request number.")
@click.pass_context
def command(ctx: click.Context, repo: Path, number: int) -> None:
    """Merge pull request --pr of the local forge (a bare repository with
    `shipstep-pulls/<n>.json` records) into its base with a merge commit, and
    mark it merged. Idempotent: an already merged pull request reports
    `already-merged`. A conflict is an error and changes nothing.
    """
    emit(ctx, LocalMergeResult(LocalForge(repo).merge(number)))
