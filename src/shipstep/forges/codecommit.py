"""AWS CodeCommit through boto3: branches, commits and pull requests.

The checkout is a git clone that uses the environment's git credentials for
CodeCommit (CodeBuild's `git-credential-helper: yes`, or `git-remote-codecommit`).
Writing goes through the API instead of `git push`: the bump commit's files
are put with `CreateCommit` on a branch made with `CreateBranch`, so only
`codecommit:*` permissions are needed to write. CodeCommit has no labels,
reviewers requests, auto-merge or commit statuses; those inputs are
reported as unsupported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shipstep.errors import ShipstepError
from shipstep.forges.interface import CommitStatus, PullRequest, Repo

try:  # boto3 stays at this edge
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:  # pragma: no cover - boto3 is a runtime dependency
    boto3 = None


_AUTH = {
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
}


class CodeCommitForge:
    name = "codecommit"

    def __init__(
        self,
        repository: str,
        *,
        region: str | None = None,
        client: Any = None,
        author: tuple[str, str] = ("shipstep", "shipstep@users.noreply.github.com"),
    ) -> None:
        self.repository = repository
        self.region = region
        self._client = client or boto3.client("codecommit", region_name=region)
        self._author = author

    def git_credentials(self) -> tuple[str | None, str | None]:
        return None, None

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return dict(getattr(self._client, operation)(**kwargs))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            text = error.response.get("Error", {}).get("Message", "")
            if code in _AUTH:
                raise ShipstepError(
                    f"CodeCommit refused {operation}: {code}: {text}",
                    hint="Check the AWS credentials and that they allow codecommit:"
                    + operation[0].upper()
                    + operation[1:].replace("_", ""),
                    title="Authentication refused",
                ) from None
            raise ShipstepError(
                f"CodeCommit {operation} failed: {code}: {text}",
                hint="See the message from AWS above.",
            ) from None
        except BotoCoreError as error:
            raise ShipstepError(
                f"CodeCommit {operation} failed: {error}", hint="Check the region and network."
            ) from None

    def _url(self, number: str) -> str:
        region = (
            self.region or getattr(getattr(self._client, "meta", None), "region_name", "") or ""
        )
        return f"https://{region}.console.aws.amazon.com/codesuite/codecommit/repositories/{self.repository}/pull-requests/{number}/details?region={region}"

    def _pr(self, data: dict[str, Any]) -> PullRequest:
        target = data["pullRequestTargets"][0]
        merge = target.get("mergeMetadata") or {}
        merged = bool(merge.get("isMerged"))
        # A fast-forward merge makes no commit: the source commit is the base's tip.
        merge_commit = merge.get("mergeCommitId") or (
            target.get("sourceCommit") if merge.get("mergeOption") == "FAST_FORWARD_MERGE" else None
        )
        return PullRequest(
            number=int(data["pullRequestId"]),
            url=self._url(str(data["pullRequestId"])),
            head=str(target["sourceReference"]).removeprefix("refs/heads/"),
            base=str(target["destinationReference"]).removeprefix("refs/heads/"),
            title=str(data.get("title", "")),
            body=str(data.get("description", "")),
            state="merged"
            if merged
            else "open"
            if data.get("pullRequestStatus") == "OPEN"
            else "closed",
            merge_commit=str(merge_commit) if merged and merge_commit else None,
        )

    def pull_request(self, number: int) -> PullRequest:
        return self._pr(self._call("get_pull_request", pullRequestId=str(number))["pullRequest"])

    def set_commit_status(self, commit: str, status: CommitStatus) -> bool:
        return False

    def open_pull_requests(self, base: str) -> list[PullRequest]:
        ids: list[str] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "repositoryName": self.repository,
                "pullRequestStatus": "OPEN",
            }
            if token:
                kwargs["nextToken"] = token
            page = self._call("list_pull_requests", **kwargs)
            ids.extend(page.get("pullRequestIds", []))
            token = page.get("nextToken")
            if not token:
                break
        prs = [
            self._pr(self._call("get_pull_request", pullRequestId=i)["pullRequest"]) for i in ids
        ]
        return [p for p in prs if p.base == base]

    def create_pull_request(
        self, *, head: str, base: str, title: str, body: str, draft: bool
    ) -> PullRequest:
        data = self._call(
            "create_pull_request",
            title=title[:150],
            description=body[:10240],
            targets=[
                {
                    "repositoryName": self.repository,
                    "sourceReference": head,
                    "destinationReference": base,
                }
            ],
        )
        return self._pr(data["pullRequest"])

    def update_pull_request(self, pr: PullRequest, *, title: str, body: str) -> PullRequest:
        if title != pr.title:
            self._call("update_pull_request_title", pullRequestId=str(pr.number), title=title[:150])
        self._call(
            "update_pull_request_description",
            pullRequestId=str(pr.number),
            description=body[:10240],
        )
        return PullRequest(pr.number, pr.url, pr.head, pr.base, title, body, pr.state)

    def close_pull_request(self, pr: PullRequest, comment: str | None) -> None:
        if comment:
            data = self._call("get_pull_request", pullRequestId=str(pr.number))["pullRequest"]
            target = data["pullRequestTargets"][0]
            self._call(
                "post_comment_for_pull_request",
                pullRequestId=str(pr.number),
                repositoryName=self.repository,
                beforeCommitId=target["destinationCommit"],
                afterCommitId=target["sourceCommit"],
                content=comment,
            )
        self._call(
            "update_pull_request_status", pullRequestId=str(pr.number), pullRequestStatus="CLOSED"
        )

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        if labels:
            raise ShipstepError(
                "CodeCommit pull requests have no labels.",
                hint="Leave --label empty with --forge codecommit.",
            )

    def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        if reviewers:
            raise ShipstepError(
                "CodeCommit assigns reviewers through approval rule templates, not per pull request.",
                hint="Leave --reviewer empty with --forge codecommit and use an approval rule template.",
            )

    def enable_auto_merge(self, pr: PullRequest, method: str) -> bool:
        return False

    # --- branches -----------------------------------------------------------

    def _branch_commit(self, branch: str) -> str | None:
        try:
            data = self._client.get_branch(repositoryName=self.repository, branchName=branch)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "BranchDoesNotExistException":
                return None
            raise
        return str(data["branch"]["commitId"])

    def push_branch(self, repo: Repo, commit: str, branch: str, expected: str | None) -> str | None:
        """Recreate the commit through the API: the changed files of `commit`
        put on top of its parent, on `branch`."""
        parent, paths = repo.parent_and_paths(commit)
        files = repo.files_at(commit, paths)
        message = repo.message(commit)
        current = self._branch_commit(branch)
        if current != expected:
            return None
        if current is None:
            self._call(
                "create_branch", repositoryName=self.repository, branchName=branch, commitId=parent
            )
            parent_for_commit = parent
        else:
            parent_for_commit = current
        try:
            data = self._call(
                "create_commit",
                repositoryName=self.repository,
                branchName=branch,
                parentCommitId=parent_for_commit,
                authorName=self._author[0],
                email=self._author[1],
                commitMessage=message,
                putFiles=[{"filePath": p, "fileContent": c} for p, c in files.items()],
            )
        except ShipstepError as error:
            if "ParentCommitIdOutdatedException" in error.message:
                return None
            if current is None:
                self._call("delete_branch", repositoryName=self.repository, branchName=branch)
            raise
        return str(data["commitId"])

    def delete_branch(self, repo: Repo, branch: str, expected: str) -> None:
        if self._branch_commit(branch) == expected:
            self._call("delete_branch", repositoryName=self.repository, branchName=branch)
