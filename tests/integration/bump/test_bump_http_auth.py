"""Git over HTTP with credentials: the token reaches git through the
credential helper only, and a refused token fails cleanly."""

from __future__ import annotations

import pytest

from shipstep.errors import ShipstepError
from shipstep.forges.github import GitHubForge
from shipstep.progress import RecordingReporter
from shipstep.steps.bump import BumpInputs, bump
from tests.fixtures.config_repo import APP, MESSY_FILES, NEW_REF
from tests.fixtures.git import GitServer, git
from tests.fixtures.git_http import HttpGitServer
from tests.fixtures.github import bare_branch_exists
from tests.github_standin.server import GitHubStandin

pytestmark = pytest.mark.timeout(120)


def test_git_over_http_with_token(
    git_server: GitServer, http_git_server: HttpGitServer, github_api: GitHubStandin
) -> None:
    bare = git_server.create_repo("http-config", MESSY_FILES)
    (http_git_server.root / "http-config.git").symlink_to(bare)
    github_api.state.add_token(http_git_server.token)
    github_api.state.add_repo("org/http-config", branch_exists=bare_branch_exists(bare))  # type: ignore[arg-type]
    url = http_git_server.url("http-config")
    inputs = BumpInputs(repo=url, image=APP, to=NEW_REF)

    wrong = GitHubForge("org/http-config", "ghs_wrong_token_000", api_url=github_api.url)
    with pytest.raises(ShipstepError) as caught:
        bump(inputs, wrong)
    assert caught.value.title == "Authentication refused", caught.value.diagnostic()
    assert "ghs_wrong_token_000" not in caught.value.diagnostic()
    assert "shipstep/bump" not in git(bare, "branch", "--list")

    reporter = RecordingReporter()
    forge = GitHubForge("org/http-config", http_git_server.token, api_url=github_api.url)
    result = bump(inputs, forge, reporter)
    assert result.operation == "created"
    assert git(bare, "rev-parse", "shipstep/bump/app") == result.commit
    assert all(http_git_server.token not in line for line in reporter.lines)
    assert http_git_server.token not in result.text()
