"""What verify does through the config repository's forge: read the bump
pull request's merge commit, open the revert pull request on a conclusive
failure, and show the verdict as a commit status on the config commit."""

from __future__ import annotations

from shipstep.errors import InputError, ShipstepError
from shipstep.forges.interface import CommitStatus, Forge
from shipstep.progress import Reporter
from shipstep.steps.verify.gitrepo import ConfigRepo
from shipstep.steps.verify.report import VerifyReport
from shipstep.steps.verify.revert import RevertOptions, open_revert


def merge_commit_of(forge: Forge, number: int) -> str:
    """The commit pull request `number` made on its base; an error unless merged."""
    pr = forge.pull_request(number)
    if pr.state != "merged" or not pr.merge_commit:
        raise InputError(
            f"Pull request #{number} ({pr.url}) is {pr.state}, not merged: "
            "verify checks a bump after it is merged.",
            hint="Run verify after the merge (e.g. on the config repository's push to its base "
            "branch), or pass --image to check images without a config commit.",
        )
    return pr.merge_commit


def revert_on_failure(
    report: VerifyReport,
    repo: ConfigRepo | None,
    forge: Forge,
    options: RevertOptions,
    reporter: Reporter,
) -> None:
    """Open (or find) the revert pull request when the report failed
    conclusively; what happened goes into the report."""
    if report.succeeded:
        return
    if not report.conclusive:
        report.notes.append(
            "No revert: the cluster could not be read, so the rollout itself was not judged."
        )
        return
    if repo is None or not report.merge_commit:
        report.notes.append("No revert: the merge commit and the config repository are needed.")
        return
    try:
        result = open_revert(repo, forge, report.merge_commit, report, options, reporter)
    except ShipstepError as error:
        report.notes.append(f"Revert failed: {error.message}")
        return
    report.revert_pr_url = result.url
    report.revert_operation = result.operation
    report.notes.extend(result.notes)


def verdict_status(report: VerifyReport, context: str, target_url: str | None) -> CommitStatus:
    """success / failure, or error when the cluster could not be read (the
    rollout was not judged); the description names the failed checks."""
    if report.succeeded:
        state, description = "success", f"verify passed: {len(report.checks)} checks"
    else:
        names = ", ".join(f"{c.kind}: {c.name}" for c in report.failed)
        state = "failure" if report.conclusive else "error"
        description = f"verify failed: {names}"
    return CommitStatus(state, context, description, report.revert_pr_url or target_url)


def set_verdict_status(
    report: VerifyReport, forge: Forge, context: str, target_url: str | None
) -> None:
    """Set the verdict on the merge commit; a forge error is a note, never a
    change of the verdict."""
    if not report.merge_commit:
        report.notes.append("No commit status: there is no config commit to set it on.")
        return
    status = verdict_status(report, context, target_url)
    try:
        supported = forge.set_commit_status(report.merge_commit, status)
    except ShipstepError as error:
        report.notes.append(f"Commit status not set: {error.message}")
        return
    if supported:
        report.commit_status = f"{status.state} ({context}) on {report.merge_commit[:12]}"
    else:
        report.notes.append(f"No commit status: {forge.name} has no commit statuses.")
