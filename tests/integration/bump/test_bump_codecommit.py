"""The CodeCommit forge through botocore's Stubber (moto has no PR API), and
the whole bump step with it (clone from a real git daemon)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from shipstep.errors import ShipstepError
from shipstep.forges.codecommit import CodeCommitForge
from shipstep.forges.interface import CommitStatus, PullRequest
from tests.fixtures.git import GitServer

pytestmark = pytest.mark.timeout(30)
BASE, TIP, NEW = "a" * 40, "b" * 40, "c" * 40


class FakeRepo:
    """The git side (a real Repo in the step); here only what push reads."""

    def push(self, commit: str, branch: str, expected: str | None) -> bool:
        raise AssertionError("CodeCommit writes through the API")

    def delete_remote_branch(self, branch: str, expected: str) -> None:
        raise AssertionError("CodeCommit writes through the API")

    def files_at(self, commit: str, paths: list[str]) -> dict[str, bytes]:
        return {p: b"image: x\n" for p in paths}

    def message(self, commit: str) -> str:
        return "Bump app\n\nShipstep-Bump: app\n"

    def parent_and_paths(self, commit: str) -> tuple[str, list[str]]:
        return BASE, ["envs/prod/app.yaml"]


def client() -> tuple[object, Stubber]:
    c = boto3.client(
        "codecommit", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return c, Stubber(c)


def pr_payload(number: str, head: str, status: str = "OPEN") -> dict[str, object]:
    return {
        "pullRequestId": number,
        "title": "t",
        "description": "d",
        "pullRequestStatus": status,
        "pullRequestTargets": [
            {
                "repositoryName": "config",
                "sourceReference": f"refs/heads/{head}",
                "destinationReference": "refs/heads/main",
                "sourceCommit": TIP,
                "destinationCommit": BASE,
            }
        ],
    }


def test_new_branch_commit_and_pull_request() -> None:
    c, stub = client()
    stub.add_client_error(
        "get_branch",
        "BranchDoesNotExistException",
        expected_params={"repositoryName": "config", "branchName": "shipstep/bump/app"},
    )
    stub.add_response(
        "create_branch",
        {},
        {"repositoryName": "config", "branchName": "shipstep/bump/app", "commitId": BASE},
    )
    stub.add_response(
        "create_commit",
        {"commitId": NEW},
        {
            "repositoryName": "config",
            "branchName": "shipstep/bump/app",
            "parentCommitId": BASE,
            "authorName": "shipstep",
            "email": "shipstep@users.noreply.github.com",
            "commitMessage": "Bump app\n\nShipstep-Bump: app\n",
            "putFiles": [{"filePath": "envs/prod/app.yaml", "fileContent": b"image: x\n"}],
        },
    )
    stub.add_response(
        "create_pull_request",
        {"pullRequest": pr_payload("7", "shipstep/bump/app")},
        {
            "title": "Bump",
            "description": "body",
            "targets": [
                {
                    "repositoryName": "config",
                    "sourceReference": "shipstep/bump/app",
                    "destinationReference": "main",
                }
            ],
        },
    )
    stub.add_response(
        "list_pull_requests",
        {"pullRequestIds": ["7"], "nextToken": "n"},
        {"repositoryName": "config", "pullRequestStatus": "OPEN"},
    )
    stub.add_response(
        "list_pull_requests",
        {"pullRequestIds": ["8"]},
        {"repositoryName": "config", "pullRequestStatus": "OPEN", "nextToken": "n"},
    )
    stub.add_response(
        "get_pull_request",
        {"pullRequest": pr_payload("7", "shipstep/bump/app")},
        {"pullRequestId": "7"},
    )
    stub.add_response(
        "get_pull_request", {"pullRequest": pr_payload("8", "other")}, {"pullRequestId": "8"}
    )
    with stub:
        forge = CodeCommitForge("config", region="eu-west-1", client=c)
        assert forge.push_branch(FakeRepo(), NEW, "shipstep/bump/app", None) == NEW  # type: ignore[arg-type]
        pr = forge.create_pull_request(
            head="shipstep/bump/app", base="main", title="Bump", body="body", draft=False
        )
        assert pr.number == 7 and pr.head == "shipstep/bump/app" and "pull-requests/7" in pr.url
        assert [p.number for p in forge.open_pull_requests("main")] == [7, 8]
    stub.assert_no_pending_responses()


def test_moved_branch_is_a_stale_lease() -> None:
    c, stub = client()
    stub.add_response(
        "get_branch",
        {"branch": {"branchName": "b", "commitId": TIP}},
        {"repositoryName": "config", "branchName": "b"},
    )
    with stub:
        forge = CodeCommitForge("config", region="eu-west-1", client=c)
        assert forge.push_branch(FakeRepo(), NEW, "b", "d" * 40) is None  # type: ignore[arg-type]


def test_close_with_comment_and_errors() -> None:
    c, stub = client()
    stub.add_response(
        "get_pull_request", {"pullRequest": pr_payload("3", "old")}, {"pullRequestId": "3"}
    )
    stub.add_response(
        "post_comment_for_pull_request",
        {},
        {
            "pullRequestId": "3",
            "repositoryName": "config",
            "beforeCommitId": BASE,
            "afterCommitId": TIP,
            "content": "Superseded by #4",
        },
    )
    stub.add_response(
        "update_pull_request_status",
        {"pullRequest": pr_payload("3", "old", "CLOSED")},
        {"pullRequestId": "3", "pullRequestStatus": "CLOSED"},
    )
    stub.add_client_error("list_pull_requests", "AccessDeniedException", "not allowed")
    with stub:
        forge = CodeCommitForge("config", region="eu-west-1", client=c)
        forge.close_pull_request(PullRequest(3, "u", "old", "main", "t", "d"), "Superseded by #4")
        with pytest.raises(ShipstepError, match="AccessDeniedException") as caught:
            forge.open_pull_requests("main")
        assert caught.value.title == "Authentication refused"
        with pytest.raises(ShipstepError, match="no labels"):
            forge.add_labels(PullRequest(3, "u", "old", "main", "t", "d"), ["x"])


def test_bump_flow_with_codecommit(git_server: GitServer) -> None:
    """The whole step: clone with git, branch + commit + PR through the API."""
    from botocore.stub import ANY

    from shipstep.steps.bump import BumpInputs, bump
    from tests.fixtures.config_repo import APP, NEW_REF

    server = git_server  # a real git daemon for the clone
    files = {
        "envs/prod/app.yaml": f"apiVersion: v1\nkind: Pod\nspec:\n  containers: [{{name: a, image: {APP}:1.0}}]\n"
    }
    server.create_repo("cc-config", files)
    c, stub = client()
    stub.add_client_error("get_branch", "BranchDoesNotExistException")
    stub.add_response(
        "create_branch",
        {},
        {"repositoryName": "config", "branchName": "shipstep/bump/app", "commitId": ANY},
    )
    stub.add_response(
        "create_commit",
        {"commitId": NEW},
        {
            "repositoryName": "config",
            "branchName": "shipstep/bump/app",
            "parentCommitId": ANY,
            "authorName": "shipstep",
            "email": "shipstep@users.noreply.github.com",
            "commitMessage": ANY,
            "putFiles": [
                {
                    "filePath": "envs/prod/app.yaml",
                    "fileContent": files["envs/prod/app.yaml"]
                    .replace(f"{APP}:1.0", NEW_REF)
                    .encode(),
                }
            ],
        },
    )
    stub.add_response(
        "list_pull_requests",
        {"pullRequestIds": []},
        {"repositoryName": "config", "pullRequestStatus": "OPEN"},
    )
    stub.add_response(
        "create_pull_request",
        {"pullRequest": pr_payload("11", "shipstep/bump/app")},
        {
            "title": ANY,
            "description": ANY,
            "targets": [
                {
                    "repositoryName": "config",
                    "sourceReference": "shipstep/bump/app",
                    "destinationReference": "main",
                }
            ],
        },
    )
    with stub:
        forge = CodeCommitForge("config", region="eu-west-1", client=c)
        result = bump(BumpInputs(repo=server.url("cc-config"), image=APP, to=NEW_REF), forge)
    stub.assert_no_pending_responses()
    assert result.operation == "created" and result.commit == NEW
    assert result.outputs()["pr-number"] == 11


def merged_payload(option: str, merge_commit: str | None) -> dict[str, object]:
    payload = pr_payload("5", "shipstep/bump/app", "CLOSED")
    target = payload["pullRequestTargets"][0]  # type: ignore[index]
    target["mergeMetadata"] = {"isMerged": True, "mergeOption": option}
    if merge_commit:
        target["mergeMetadata"]["mergeCommitId"] = merge_commit
    return payload


def test_pull_request_merge_commit_and_no_commit_statuses() -> None:
    c, stub = client()
    for payload in (
        pr_payload("5", "shipstep/bump/app"),
        merged_payload("THREE_WAY_MERGE", NEW),
        merged_payload("FAST_FORWARD_MERGE", None),
        pr_payload("5", "shipstep/bump/app", "CLOSED"),
    ):
        stub.add_response("get_pull_request", {"pullRequest": payload}, {"pullRequestId": "5"})
    stub.add_client_error("get_pull_request", "PullRequestDoesNotExistException", "no such PR")
    with stub:
        forge = CodeCommitForge("config", region="eu-west-1", client=c)
        seen = [(pr.state, pr.merge_commit) for pr in (forge.pull_request(5) for _ in range(4))]
        assert seen == [("open", None), ("merged", NEW), ("merged", TIP), ("closed", None)]
        with pytest.raises(ShipstepError, match="PullRequestDoesNotExistException"):
            forge.pull_request(5)
        assert not forge.set_commit_status(NEW, CommitStatus("failure", "shipstep/verify", "x"))
