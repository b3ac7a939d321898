"""Fixtures of the bump tests: the GitHub API stand-in and git over HTTP."""

from tests.fixtures.git_http import http_git_server
from tests.fixtures.github import github_api

__all__ = ["github_api", "http_git_server"]
