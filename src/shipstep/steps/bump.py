"""The bump step: edit the image reference in a GitOps config repository and
open (or update) a pull request, idempotently.

One attempt = shallow clone of the base branch, find and edit, one commit on
top of the base. The branch `shipstep/bump/<name>` always holds exactly that
one shipstep commit: when the base moved, the edit is recomputed on the new
base (never a textual rebase), and the branch is moved with a lease so that
a concurrent change makes the attempt start over instead of being lost.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipstep.errors import InputError, ShipstepError
from shipstep.forges.interface import Forge, PullRequest
from shipstep.gitops import message
from shipstep.gitops.finders import Found, SearchOptions
from shipstep.gitops.git import Identity, Repo, Signing, redact
from shipstep.gitops.images import ImageSpec
from shipstep.gitops.paths import make_globs, missing_link_targets, sparse_directories
from shipstep.gitops.search import SearchResult, search, write_edits
from shipstep.gitops.yamldoc import DEFAULT_MAX_FILE_BYTES
from shipstep.progress import NullReporter, Reporter
from shipstep.result import OutputValue

DEFAULT_BRANCH = "shipstep/bump/{name}"
DEFAULT_SUPERSEDE_COMMENT = "Superseded by #{number} ({url}), which bumps {image} to {reference}."
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")


@dataclass(frozen=True)
class BumpInputs:
    repo: str
    image: str
    to: str
    paths: tuple[str, ...] = ()
    base: str = "main"
    name: str | None = None
    branch_template: str = DEFAULT_BRANCH
    format: str = "tag-digest"
    allow_no_match: bool = False
    options: SearchOptions = field(default_factory=SearchOptions)
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    title_template: str = message.DEFAULT_TITLE
    body_template: str = message.DEFAULT_BODY
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    draft: bool = False
    auto_merge: str | None = None  # merge method: merge, squash, rebase
    supersede: bool = True
    supersede_comment: str = DEFAULT_SUPERSEDE_COMMENT
    author: Identity = field(default_factory=Identity)
    signing: Signing | None = None
    source: str | None = None
    run: str | None = None
    signature: str | None = None
    push_attempts: int = 4
    backoff: float = 1.0


@dataclass
class BumpResult:
    operation: str
    branch: str
    commit: str | None
    found: list[Found]
    pull_request: PullRequest | None = None
    superseded: list[PullRequest] = field(default_factory=list)
    image: str = ""
    reference: str = ""

    @property
    def succeeded(self) -> bool:
        return True

    @property
    def changes(self) -> int:
        return sum(1 for f in self.found if f.edits)

    def outputs(self) -> Mapping[str, OutputValue]:
        pr = self.pull_request
        return {
            "pr-url": pr.url if pr else "",
            "pr-number": pr.number if pr else "",
            "operation": self.operation,
            "branch": self.branch if self.commit else "",
            "commit": self.commit or "",
            "changes": self.changes,
        }

    def text(self) -> str:
        lines = [f"bump {self.image} -> {self.reference}: {self.operation}"]
        for f in self.found:
            state = "changed" if f.edits else "already current"
            lines.append(f"  {f.path}:{f.line} ({f.kind}) {f.old} [{state}]")
        if self.pull_request:
            lines.append(f"pull request #{self.pull_request.number}: {self.pull_request.url}")
        for pr in self.superseded:
            lines.append(f"closed superseded #{pr.number}: {pr.url}")
        return "\n".join(lines)

    def summary_markdown(self) -> str:
        pr = self.pull_request
        head = f"### bump: {self.operation}\n\n`{self.image}` -> `{self.reference}`\n\n"
        link = f"Pull request: [#{pr.number}]({pr.url})\n\n" if pr else ""
        return head + link + message.changes_table(self.found) + "\n"


def default_name(spec: ImageSpec) -> str:
    return spec.repository.repository_path.rsplit("/", 1)[-1]


def _branch(template: str, name: str, spec: ImageSpec) -> str:
    digest = spec.new.digest or ""
    try:
        branch = template.format(
            name=name, tag=spec.new.tag or "", short_digest=digest.split(":")[-1][:12]
        )
    except (KeyError, IndexError, ValueError) as error:
        raise InputError(
            f"--branch-template {template!r} is malformed ({error}).",
            hint="Use {name}, {tag} and {short_digest}, e.g. shipstep/bump/{name}.",
        ) from None
    if (
        not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", branch)
        or ".." in branch
        or branch.endswith((".lock", "/", "."))
    ):
        raise InputError(
            f"The branch name {branch!r} is not a valid git branch.",
            hint="Change --name or --branch-template.",
        )
    return branch


def clone_url(repo: str) -> str:
    if "://" in repo or re.match(r"^[\w.-]+@[\w.-]+:", repo):
        return repo
    path = Path(repo)
    if not path.exists():
        raise InputError(
            f"--repo {repo!r} is neither a URL nor an existing path.",
            hint="Pass the config repository's clone URL.",
        )
    return path.resolve().as_uri()


def _check_found(
    result: SearchResult, spec: ImageSpec, inputs: BumpInputs, globs: Sequence[str]
) -> None:
    if not spec.explicit_host and len(result.repositories) > 1:
        examples = []
        for repository in result.repositories:
            first = next(f for f in result.found if f.repository == repository)
            examples.append(f"{repository} ({first.path}:{first.line})")
        raise InputError(
            f"--image {inputs.image} matches {len(result.repositories)} different repositories: "
            + "; ".join(examples)
            + ".",
            hint="Pass --image with its registry host to say which one to bump.",
            title="Ambiguous image",
        )


def _no_match(result: SearchResult, spec: ImageSpec, globs: Sequence[str]) -> InputError:
    keys = "container images in pod templates (containers, initContainers, ephemeralContainers), kustomization images:, Helm values (image.repository/tag/digest and image: strings), ECS containerDefinitions, $imagepolicy and $shipstep markers, --target pointers"
    return InputError(
        f"No reference to {spec.repository.name} found: searched {result.files_searched} files matching "
        f"{', '.join(globs)} ({result.files_parsed} mention it) for {keys}.",
        hint="Check --image and --path (matching is by repository, not substring), or pass --allow-no-match to succeed without changes.",
        title="No image reference found",
    )


def bump(inputs: BumpInputs, forge: Forge, reporter: Reporter | None = None) -> BumpResult:
    reporter = reporter or NullReporter()
    spec = ImageSpec.create(inputs.image, inputs.to, inputs.format)
    name = inputs.name or default_name(spec)
    if not _NAME.fullmatch(name) or ".." in name:
        raise InputError(
            f"--name {name!r} is not usable in a branch name.",
            hint="Use letters, digits, '.', '_', '-' and '/'.",
        )
    branch = _branch(inputs.branch_template, name, spec)
    if inputs.supersede:
        _supersede_comment(
            inputs.supersede_comment,
            PullRequest(0, "", "", "", "", ""),
            message.Context(name, "", "", "", "", ""),
        )
    globs = make_globs(inputs.paths)
    sparse = sparse_directories(globs, [t.path for t in inputs.options.targets])
    url = clone_url(inputs.repo)
    username, token = forge.git_credentials()
    if token:
        reporter.mask(token)
    ctx = message.Context(
        name=name,
        image=spec.repository.name,
        reference=spec.display(),
        tag=spec.new.tag or "",
        digest=spec.new.digest or "",
        base=inputs.base,
        source=inputs.source,
        run=inputs.run,
        signature=inputs.signature,
    )
    outcome = BumpResult(
        "unchanged", branch, None, [], image=spec.repository.name, reference=spec.display()
    )
    with tempfile.TemporaryDirectory(prefix="shipstep-bump-") as scratch:
        for attempt in range(inputs.push_attempts):
            repo = Repo(Path(scratch) / f"attempt-{attempt}", token=token, username=username)
            with reporter.group(f"clone {redact(url)} ({inputs.base})"):
                repo.clone(url, inputs.base, sparse=sparse)
                if sparse:
                    # Symlinks may point at files outside the sparse set.
                    extra = missing_link_targets(repo.path, globs)
                    if extra:
                        repo.run("sparse-checkout", "add", "--", *extra)
            result = search(
                repo.path,
                spec,
                globs,
                inputs.options,
                max_file_bytes=inputs.max_file_bytes,
                reporter=reporter,
            )
            if not result.found:
                if inputs.allow_no_match:
                    reporter.log(str(_no_match(result, spec, [g.pattern for g in globs]).message))
                    outcome.operation = "skipped"
                    return outcome
                raise _no_match(result, spec, [g.pattern for g in globs])
            _check_found(result, spec, inputs, [g.pattern for g in globs])
            outcome.found = result.found
            if not result.changed:
                reporter.log(
                    f"{inputs.base} already holds {spec.display()} everywhere: nothing to change"
                )
                return outcome
            changed_files = write_edits(repo.path, result)
            commit = repo.commit(
                changed_files,
                message.commit_message(ctx, result.found),
                author=inputs.author,
                signing=inputs.signing,
            )
            change = repo.patch_id(commit)[:12]
            pushed = _publish(repo, forge, branch, name, commit, reporter)
            if pushed is None:
                delay = inputs.backoff * 2**attempt
                reporter.log(
                    f"{branch} moved while bumping; recomputing on the latest {inputs.base} in {delay:.0f}s"
                )
                time.sleep(delay)
                continue
            new_commit, previous, branch_changed = pushed
            outcome.commit = new_commit
            try:
                _pull_request(
                    inputs, forge, ctx, outcome, branch, name, change, branch_changed, reporter
                )
            except ShipstepError:
                _undo_branch(forge, repo, branch, new_commit, previous, branch_changed, reporter)
                raise
            return outcome
    raise ShipstepError(
        f"Could not update {branch}: it kept moving during {inputs.push_attempts} attempts.",
        hint="Something else pushes to the branch; stop it or run again later.",
        title="Push rejected",
    )


def _publish(
    repo: Repo, forge: Forge, branch: str, name: str, commit: str, reporter: Reporter
) -> tuple[str, str | None, bool] | None:
    """Put the commit on the branch; (branch commit, previous tip, moved?) or
    None when the branch moved under us."""
    tip = repo.remote_branch(branch)
    if tip is not None:
        repo.fetch(branch)
        made_by = message.commit_bump_name(repo.message(tip))
        if made_by != name:
            raise ShipstepError(
                f"The branch {branch} has commits shipstep did not make (its tip {tip[:12]} is not a bump of {name}); "
                "shipstep never force-pushes over them.",
                hint="Merge or delete that branch, or choose another --branch-template/--name.",
                title="Branch not owned by shipstep",
            )
        if repo.same_change(tip, commit):
            reporter.log(f"{branch} already holds this change ({tip[:12]})")
            return tip, tip, False
    new = forge.push_branch(repo, commit, branch, tip)
    if new is None:
        return None
    reporter.log(f"pushed {new[:12]} to {branch}")
    return new, tip, True


def _undo_branch(
    forge: Forge,
    repo: Repo,
    branch: str,
    commit: str,
    previous: str | None,
    changed: bool,
    reporter: Reporter,
) -> None:
    if not changed:
        return
    try:
        if previous is None:
            forge.delete_branch(repo, branch, commit)
            reporter.log(f"removed {branch} again after the failure")
        else:
            forge.push_branch(repo, previous, branch, commit)
            reporter.log(f"reset {branch} to {previous[:12]} after the failure")
    except ShipstepError as error:
        reporter.log(f"could not clean up {branch}: {error.message}")


def _supersede_comment(template: str, pr: PullRequest, ctx: message.Context) -> str:
    try:
        return template.format(
            number=pr.number, url=pr.url, image=ctx.image, reference=ctx.reference
        )
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise InputError(
            f"--supersede-comment {template!r} is malformed ({error}).",
            hint="Use {number}, {url}, {image} and {reference}.",
        ) from None


def _pull_request(
    inputs: BumpInputs,
    forge: Forge,
    ctx: message.Context,
    outcome: BumpResult,
    branch: str,
    name: str,
    change: str,
    branch_changed: bool,
    reporter: Reporter,
) -> None:
    title = message.render(inputs.title_template, ctx, outcome.found, "title")
    body = message.pr_body(inputs.body_template, ctx, outcome.found, change)
    open_prs = forge.open_pull_requests(inputs.base)
    mine = [p for p in open_prs if p.head == branch]
    created = False
    if mine:
        pr = mine[0]
        marked = message.parse_marker(pr.body)
        if branch_changed or marked is None or marked[1] != change:
            pr = forge.update_pull_request(pr, title=title, body=body)
            outcome.operation = "updated"
        else:
            outcome.operation = "unchanged"
    else:
        try:
            pr = forge.create_pull_request(
                head=branch, base=inputs.base, title=title, body=body, draft=inputs.draft
            )
            created = True
            outcome.operation = "created"
        except ShipstepError as error:
            # Another run opened it between our listing and creating.
            if "already exists" not in error.message:
                raise
            raced = [p for p in forge.open_pull_requests(inputs.base) if p.head == branch]
            if not raced:
                raise
            pr = forge.update_pull_request(raced[0], title=title, body=body)
            outcome.operation = "updated"
    outcome.pull_request = pr
    try:
        if created:
            forge.add_labels(pr, inputs.labels)
            forge.request_reviewers(pr, inputs.reviewers)
            if inputs.auto_merge and not forge.enable_auto_merge(pr, inputs.auto_merge):
                reporter.log(
                    f"{forge.name} has no auto-merge; leaving #{pr.number} for a person to merge"
                )
        if inputs.supersede:
            for old in open_prs:
                marked = message.parse_marker(old.body)
                if (
                    old.number != pr.number
                    and old.head != branch
                    and marked is not None
                    and marked[0] == name
                ):
                    comment = _supersede_comment(inputs.supersede_comment, pr, ctx)
                    forge.close_pull_request(old, comment)
                    outcome.superseded.append(old)
                    reporter.log(f"closed #{old.number}, superseded by #{pr.number}")
            if outcome.superseded and outcome.operation == "created":
                outcome.operation = "superseded"
    except ShipstepError:
        if created:
            try:
                forge.close_pull_request(
                    pr,
                    "shipstep could not finish setting up this pull request and closed it; see the CI log.",
                )
            except ShipstepError as error:
                reporter.log(f"could not close #{pr.number} after the failure: {error.message}")
            outcome.pull_request = None
        raise
