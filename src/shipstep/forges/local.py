"""A forge on disk: a bare git repository plus pull-request records as JSON
files next to it (`<repo>.git/shipstep-pulls/<n>.json`) and commit statuses
(`<repo>.git/shipstep-statuses/<sha>.json`, the latest per context), for the
local main job and for trying shipstep without a hosted forge.

`LocalForge.merge` plays the reviewer: it merges a pull request's branch
into its base with a merge commit (`shipstep local-merge`, docs/run.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from shipstep.errors import InputError, ShipstepError
from shipstep.forges.interface import CommitStatus, GitPushMixin, PullRequest

MERGED, ALREADY_MERGED = "merged", "already-merged"
MERGE_AUTHOR = ("shipstep local forge", "local-forge@shipstep.invalid")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` atomically: a reader never sees half a record."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(temporary, path)


@dataclass(frozen=True)
class Merge:
    """What `LocalForge.merge` did."""

    pull_request: PullRequest
    operation: str  # merged | already-merged
    commit: str  # the merge commit (or the base commit that already held the branch)


class LocalForge(GitPushMixin):
    name = "local"

    def __init__(self, bare_repository: Path) -> None:
        if not (bare_repository / "HEAD").is_file() or not (bare_repository / "objects").is_dir():
            raise InputError(
                f"{bare_repository} is not a bare git repository.",
                hint="The local forge takes --repo as the path of a bare repository (git init --bare).",
            )
        self.repository = bare_repository
        self.root = bare_repository / "shipstep-pulls"

    def git_credentials(self) -> tuple[str | None, str | None]:
        return None, None

    def _records(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        records = [json.loads(p.read_text()) for p in self.root.glob("*.json")]
        return sorted(records, key=lambda r: int(r["number"]))

    def _save(self, pr: PullRequest, **extra: Any) -> None:
        self.root.mkdir(exist_ok=True)
        path = self.root / f"{pr.number}.json"
        old = (
            json.loads(path.read_text())
            if path.exists()
            else {"comments": [], "labels": [], "reviewers": [], "auto_merge": None}
        )
        fields = asdict(pr)
        if fields["merge_commit"] is None:  # a stale copy of the PR never unsets it
            del fields["merge_commit"]
        _write_json(path, {**old, **fields, **extra})

    def record(self, number: int) -> dict[str, Any]:
        return dict(json.loads((self.root / f"{number}.json").read_text()))

    @staticmethod
    def _pr(record: dict[str, Any]) -> PullRequest:
        fields = {
            k: record[k]
            for k in ("number", "url", "head", "base", "title", "body", "state", "draft")
        }
        return PullRequest(**fields, merge_commit=record.get("merge_commit") or None)

    def open_pull_requests(self, base: str) -> list[PullRequest]:
        return [self._pr(r) for r in self._records() if r["state"] == "open" and r["base"] == base]

    def pull_request(self, number: int) -> PullRequest:
        if not (self.root / f"{number}.json").is_file():
            raise InputError(
                f"There is no pull request #{number} in {self.repository}.",
                hint=f"The pull requests of the local forge are the files in {self.root}.",
            )
        return self._pr(self.record(number))

    def set_commit_status(self, commit: str, status: CommitStatus) -> bool:
        if self._git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
            raise ShipstepError(
                f"No commit {commit} in {self.repository} to set a status on.",
                hint="Pass a commit of the config repository.",
            )
        statuses = self.repository / "shipstep-statuses"
        statuses.mkdir(exist_ok=True)
        path = statuses / f"{commit}.json"
        recorded = json.loads(path.read_text()) if path.exists() else {}
        recorded[status.context] = asdict(status)
        _write_json(path, recorded)
        return True

    def commit_statuses(self, commit: str) -> dict[str, CommitStatus]:
        """The latest status per context on `commit`."""
        path = self.repository / "shipstep-statuses" / f"{commit}.json"
        recorded = json.loads(path.read_text()) if path.exists() else {}
        return {context: CommitStatus(**status) for context, status in recorded.items()}

    def create_pull_request(
        self, *, head: str, base: str, title: str, body: str, draft: bool
    ) -> PullRequest:
        for record in self._records():
            if record["state"] == "open" and record["head"] == head and record["base"] == base:
                raise InputError(f"A pull request already exists for {head} (#{record['number']}).")
        number = max((int(r["number"]) for r in self._records()), default=0) + 1
        pr = PullRequest(
            number, (self.root / f"{number}.json").as_uri(), head, base, title, body, "open", draft
        )
        self._save(pr)
        return pr

    def update_pull_request(self, pr: PullRequest, *, title: str, body: str) -> PullRequest:
        updated = replace(pr, title=title, body=body)
        self._save(updated)
        return updated

    def close_pull_request(self, pr: PullRequest, comment: str | None) -> None:
        record = self.record(pr.number)
        comments = [*record["comments"], comment] if comment else record["comments"]
        self._save(replace(pr, state="closed"), comments=comments)

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        record = self.record(pr.number)
        self._save(pr, labels=sorted({*record["labels"], *labels}))

    def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        record = self.record(pr.number)
        self._save(pr, reviewers=sorted({*record["reviewers"], *reviewers}))

    def enable_auto_merge(self, pr: PullRequest, method: str) -> bool:
        self._save(pr, auto_merge=method)
        return True

    # -- merging, as a reviewer would ------------------------------------------

    def merge(self, number: int, author: tuple[str, str] = MERGE_AUTHOR) -> Merge:
        """Merge pull request `number` into its base with a merge commit and
        mark it merged. Idempotent: a merged pull request (or one whose
        branch the base already contains) reports `already-merged`. A
        conflict raises and leaves the repository as it was: the merge is
        computed with its objects in a quarantine directory that is removed."""
        pr = self.pull_request(number)
        if pr.state == "merged":
            return Merge(pr, ALREADY_MERGED, pr.merge_commit or "")
        if pr.state != "open":
            raise InputError(
                f"Pull request #{number} is {pr.state}: only an open pull request can be merged.",
                hint="Run the bump again to open a new pull request.",
            )
        base = self._branch_commit(pr.base, f"the base of pull request #{number}")
        head = self._branch_commit(pr.head, f"the branch of pull request #{number}")
        if self._git("merge-base", "--is-ancestor", head, base).returncode == 0:
            merged_pr = replace(pr, state="merged", merge_commit=base)  # merged by other means
            self._save(merged_pr)
            return Merge(merged_pr, ALREADY_MERGED, base)
        with self._quarantine() as objects:
            merged = self._git(
                "merge-tree",
                "--write-tree",
                "--name-only",
                "--no-messages",
                base,
                head,
                env=objects,
            )
            if merged.returncode == 1:
                conflicts = sorted({line for line in merged.stdout.splitlines()[1:] if line})
                raise ShipstepError(
                    f"Pull request #{number} ({pr.head} into {pr.base}) has conflicts in "
                    f"{', '.join(conflicts) or 'its files'}; nothing was merged.",
                    hint=f"Bring {pr.head} up to date with {pr.base} (run the bump again), then merge.",
                )
            if merged.returncode != 0:
                raise self._failure("merge-tree", merged)
            tree = merged.stdout.splitlines()[0].strip()
            name, email = author
            identity = {
                "GIT_AUTHOR_NAME": name,
                "GIT_AUTHOR_EMAIL": email,
                "GIT_COMMITTER_NAME": name,
                "GIT_COMMITTER_EMAIL": email,
            }
            message = f"Merge pull request #{number} from {pr.head}\n\n{pr.title}\n"
            made = self._git(
                "commit-tree", tree, "-p", base, "-p", head, "-F", "-",
                env={**objects, **identity}, stdin=message,
            )  # fmt: skip
            if made.returncode != 0:
                raise self._failure("commit-tree", made)
            commit = made.stdout.strip()
            self._migrate(Path(objects["GIT_OBJECT_DIRECTORY"]))
        # Compare-and-swap: a base moved by someone else meanwhile is not overwritten.
        moved = self._git(
            "update-ref", "-m", f"merge pull request #{number}",
            f"refs/heads/{pr.base}", commit, base,
        )  # fmt: skip
        if moved.returncode != 0:
            raise ShipstepError(
                f"{pr.base} moved while pull request #{number} was being merged; nothing was merged.",
                hint="Merge again.",
            )
        merged_pr = replace(pr, state="merged", merge_commit=commit)
        self._save(merged_pr)
        return Merge(merged_pr, MERGED, commit)

    def _git(
        self,
        *args: str,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        completed = subprocess.run(
            ["git", f"--git-dir={self.repository}", *args],
            capture_output=True,
            text=True,
            input=stdin,
            env={**environ, **(env or {})},
            check=False,
        )
        return completed

    def _failure(self, what: str, completed: subprocess.CompletedProcess[str]) -> ShipstepError:
        return ShipstepError(
            f"git {what} failed in {self.repository}: {completed.stderr.strip()[:500]}",
            hint="Check the repository with `git fsck`.",
        )

    def _branch_commit(self, branch: str, what: str) -> str:
        found = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
        if found.returncode != 0:
            raise ShipstepError(
                f"Branch {branch!r} ({what}) does not exist in {self.repository}.",
                hint="Run the bump again to push the branch, or close the pull request.",
            )
        return found.stdout.strip()

    @contextmanager
    def _quarantine(self) -> Iterator[dict[str, str]]:
        """New objects go to a temporary directory (git's own "incoming-"
        pattern) until `_migrate` moves them in; they vanish on failure."""
        objects = self.repository / "objects"
        incoming = Path(tempfile.mkdtemp(prefix="incoming-", dir=objects))
        try:
            yield {
                "GIT_OBJECT_DIRECTORY": str(incoming),
                "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(objects.resolve()),
            }
        finally:
            shutil.rmtree(incoming, ignore_errors=True)

    def _migrate(self, incoming: Path) -> None:
        objects = self.repository / "objects"
        for source in sorted(p for p in incoming.rglob("*") if p.is_file()):
            target = objects / source.relative_to(incoming)
            if target.exists():
                continue  # objects are content-addressed: an existing one is the same
            target.parent.mkdir(exist_ok=True)
            os.replace(source, target)
