"""Roll back by git: a revert of the merge commit on a new branch of the
config repository, and a pull request through the forge (the bump step's
forge interface), labelled, its body linking the failed report.

Idempotent: an open revert PR for the same merge commit is reported
`unchanged`; a revert branch left by an earlier run is reused when it holds
shipstep's revert of that commit, and never overwritten otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shipstep.errors import ShipstepError
from shipstep.forges.interface import Forge
from shipstep.progress import NullReporter, Reporter
from shipstep.steps.verify.gitrepo import ConfigRepo
from shipstep.steps.verify.report import VerifyReport

MARKER = "<!-- shipstep:revert {sha} -->"
TRAILER = "Shipstep-Reverts: {sha}"


@dataclass(frozen=True)
class RevertOptions:
    base: str = "main"
    labels: tuple[str, ...] = ("shipstep/revert",)
    auto_merge: bool = False
    merge_method: str = "squash"
    report_url: str | None = None
    branch_prefix: str = "shipstep/revert/"


@dataclass(frozen=True)
class RevertResult:
    url: str
    number: int
    operation: str  # created / unchanged
    branch: str
    commit: str | None
    notes: tuple[str, ...] = ()


def _body(report: VerifyReport, sha: str, options: RevertOptions) -> str:
    lines = [
        f"`shipstep verify` failed after config commit `{sha}` was applied"
        + (f" (namespace `{report.namespace}`)." if report.namespace else "."),
        "",
        "Failed checks:",
    ]
    for check in report.failed[:20]:
        lines.append(f"- **{check.kind}: {check.name}**: {check.summary}".replace("\n", " "))
    lines.append("")
    if options.report_url:
        lines.append(f"Report: {options.report_url}")
        lines.append("")
    lines += [
        f"This pull request is a `git revert` of {sha}: merging it makes the agent roll the "
        "cluster back to the images it ran before.",
        "",
        MARKER.format(sha=sha),
    ]
    return "\n".join(lines)


def _make_commit(repo: ConfigRepo, sha: str, base_ref: str) -> str:
    repo.git("checkout", "--quiet", "--detach", base_ref)
    parents = repo.parents(sha)
    args = ["revert", "--no-commit"]
    if len(parents) > 1:
        args += ["-m", "1"]  # keep the base's side of the merge
    done = repo.git(*args, sha, check=False)
    status = repo.git("status", "--porcelain")
    if any(line[:2] in ("UU", "AA", "DU", "UD", "AU", "UA", "DD") for line in status.splitlines()):
        repo.git("revert", "--abort", check=False)
        raise ShipstepError(
            f"Reverting {sha[:12]} conflicts with later changes on {base_ref.removeprefix('origin/')}.",
            hint="Revert the change by hand; no branch or pull request was created.",
        )
    if not status.strip():
        repo.git("revert", "--abort", check=False)
        raise ShipstepError(
            f"Reverting {sha[:12]} changes nothing on {base_ref.removeprefix('origin/')} (already reverted?).",
            hint="Check the config repository's history; no pull request was opened.",
        )
    del done
    subject = repo.git("log", "-1", "--format=%s", sha)
    repo.git(
        "commit",
        "--quiet",
        "--no-verify",
        "-m",
        f'Revert "{subject}"',
        "-m",
        f"shipstep verify failed after this change was applied.\n\nThis reverts commit {sha}.",
        "-m",
        TRAILER.format(sha=sha),
    )
    return repo.git("rev-parse", "HEAD")


def open_revert(
    repo: ConfigRepo,
    forge: Forge,
    merge_commit: str,
    report: VerifyReport,
    options: RevertOptions,
    reporter: Reporter | None = None,
) -> RevertResult:
    reporter = reporter or NullReporter()
    short = merge_commit[:12]
    branch = f"{options.branch_prefix}{short}"
    for pr in forge.open_pull_requests(options.base):
        if pr.head == branch or MARKER.format(sha=merge_commit) in (pr.body or ""):
            reporter.log(f"revert pull request already open: {pr.url}")
            return RevertResult(pr.url, pr.number, "unchanged", pr.head, None)
    repo.fetch()
    base_ref = f"origin/{options.base}"
    if repo.resolve(base_ref) is None:
        raise ShipstepError(
            f"The config repository has no branch {options.base!r} to revert on.",
            hint="Pass --base with the branch the bump was merged into.",
        )
    if not repo.is_ancestor(merge_commit, base_ref):
        raise ShipstepError(
            f"Commit {short} is not on {options.base}: there is nothing to revert there.",
            hint="Pass the merge commit of the bump pull request and its --base branch.",
        )
    existing = repo.remote_branch(branch)
    if existing is not None:
        repo.git("fetch", "--quiet", "origin", f"refs/heads/{branch}")
        if TRAILER.format(sha=merge_commit) not in repo.message(existing):
            raise ShipstepError(
                f"Branch {branch} exists and is not shipstep's revert of {short}.",
                hint="Delete or rename that branch; shipstep never overwrites commits it did not make.",
            )
        commit = existing
        reporter.log(f"reusing revert branch {branch} at {existing[:12]}")
    else:
        commit = _make_commit(repo, merge_commit, base_ref)
        if forge.push_branch(repo, commit, branch, None) is None:
            raise ShipstepError(
                f"Branch {branch} appeared while verify was pushing it.",
                hint="Another run is reverting the same commit; check the open pull requests.",
            )
    title = f"Revert {short}: shipstep verify failed"
    try:
        pr = forge.create_pull_request(
            head=branch,
            base=options.base,
            title=title,
            body=_body(report, merge_commit, options),
            draft=False,
        )
    except ShipstepError:
        if existing is None:  # leave nothing half-made behind
            forge.delete_branch(repo, branch, commit)
        raise
    if options.labels:
        forge.add_labels(pr, list(options.labels))
    notes: list[str] = []
    if options.auto_merge:
        try:
            if not forge.enable_auto_merge(pr, options.merge_method):
                notes.append(
                    f"Auto-merge is not available on {forge.name}: the revert waits for a review."
                )
        except ShipstepError as error:  # the PR stands; only auto-merge is missing
            notes.append(f"Auto-merge not enabled: {error.message}")
    for note in notes:
        reporter.log(note)
    return RevertResult(pr.url, pr.number, "created", branch, commit, tuple(notes))


def labels_of(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(v.strip() for v in values if v.strip())
