"""GitHub pull requests through the REST API (`requests`); auto-merge
through the GraphQL mutation GitHub offers for it."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import requests

from shipstep.errors import InputError, ShipstepError
from shipstep.forges.interface import CommitStatus, GitPushMixin, PullRequest

DEFAULT_API = "https://api.github.com"
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_RETRIED = frozenset({500, 502, 503, 504})


def repository_from_url(url: str) -> str | None:
    """`owner/name` of a github.com clone URL."""
    match = re.search(r"github\.com[:/]([^/]+)/([^/]+?)(?:\.git)?/?$", url)
    return f"{match.group(1)}/{match.group(2)}" if match else None


class GitHubForge(GitPushMixin):
    name = "github"

    def __init__(
        self,
        repository: str,
        token: str,
        *,
        api_url: str = DEFAULT_API,
        session: requests.Session | None = None,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repository):
            raise InputError(
                f"{repository!r} is not a GitHub repository (OWNER/NAME).",
                hint="Pass --forge-repository OWNER/NAME or a github.com --repo URL.",
            )
        if not token:
            raise InputError(
                "The GitHub forge needs a token.",
                hint="Pass --token or set GITHUB_TOKEN (with contents and pull-requests write permission).",
            )
        self.repository = repository
        self.owner = repository.split("/", 1)[0]
        self._token = token
        self.api_url = api_url.rstrip("/")
        self._session = session or requests.Session()
        self._retries = retries
        self._backoff = backoff

    def git_credentials(self) -> tuple[str | None, str | None]:
        return "x-access-token", self._token

    # --- HTTP ---------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        url: str | None = None,
    ) -> requests.Response:
        target = url or f"{self.api_url}{path}"
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "shipstep",
        }
        for attempt in range(self._retries + 1):
            try:
                response = self._session.request(
                    method, target, json=json, params=params, headers=headers, timeout=30
                )
            except requests.RequestException as error:
                if attempt < self._retries:
                    time.sleep(self._backoff * 2**attempt)
                    continue
                raise ShipstepError(
                    f"GitHub API {method} {path} failed: {type(error).__name__}.",
                    hint="Check the network and --api-url.",
                ) from None
            if response.status_code in _RETRIED and attempt < self._retries:
                time.sleep(self._backoff * 2**attempt)
                continue
            if response.status_code >= 400:
                raise self._error(method, path, response)
            return response
        raise AssertionError("unreachable")

    def _error(self, method: str, path: str, response: requests.Response) -> ShipstepError:
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        message = str(payload.get("message", response.reason or ""))
        details = "; ".join(
            str(e.get("message") or e.get("code"))
            for e in payload.get("errors", [])
            if isinstance(e, dict)
        )
        status = response.status_code
        what = f"GitHub answered {status} to {method} {path}: {message}" + (
            f" ({details})" if details else ""
        )
        if status == 401:
            return ShipstepError(
                what,
                hint="The token is invalid or expired; pass a valid --token / GITHUB_TOKEN.",
                title="Authentication refused",
            )
        if status == 403:
            return ShipstepError(
                what,
                hint="The token lacks permission: it needs contents: write and pull-requests: write on the config repository.",
                title="Permission denied",
            )
        if status == 404:
            return ShipstepError(
                what, hint=f"Check that {self.repository} exists and the token can see it."
            )
        if status == 422:
            return ShipstepError(
                what,
                hint="GitHub refused the request as invalid; the details above say which field.",
            )
        return ShipstepError(what, hint="GitHub had a server error; run again later.")

    def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        response = self._request("GET", path, params={**params, "per_page": 100})
        while True:
            items.extend(response.json())
            match = _NEXT.search(response.headers.get("Link", ""))
            if not match:
                return items
            response = self._request("GET", path, url=match.group(1))

    @staticmethod
    def _pr(data: dict[str, Any]) -> PullRequest:
        # `merge_commit_sha` of an unmerged pull request is GitHub's test
        # merge, not a commit on the base: only trusted once merged.
        merged = bool(data.get("merged") or data.get("merged_at"))
        return PullRequest(
            number=int(data["number"]),
            url=str(data["html_url"]),
            head=str(data["head"]["ref"]),
            base=str(data["base"]["ref"]),
            title=str(data.get("title") or ""),
            body=str(data.get("body") or ""),
            state="merged" if merged else str(data.get("state", "open")),
            draft=bool(data.get("draft", False)),
            merge_commit=str(data["merge_commit_sha"])
            if merged and data.get("merge_commit_sha")
            else None,
        )

    # --- pull requests ------------------------------------------------------

    def open_pull_requests(self, base: str) -> list[PullRequest]:
        pulls = self._pages(f"/repos/{self.repository}/pulls", {"state": "open", "base": base})
        return [self._pr(p) for p in pulls]

    def pull_request(self, number: int) -> PullRequest:
        return self._pr(self._request("GET", f"/repos/{self.repository}/pulls/{number}").json())

    def set_commit_status(self, commit: str, status: CommitStatus) -> bool:
        payload = {
            "state": status.state,
            "context": status.context,
            "description": status.description[:140],  # GitHub's limit
        }
        if status.target_url:
            payload["target_url"] = status.target_url
        self._request("POST", f"/repos/{self.repository}/statuses/{commit}", json=payload)
        return True

    def create_pull_request(
        self, *, head: str, base: str, title: str, body: str, draft: bool
    ) -> PullRequest:
        response = self._request(
            "POST",
            f"/repos/{self.repository}/pulls",
            json={"title": title, "head": head, "base": base, "body": body, "draft": draft},
        )
        return self._pr(response.json())

    def update_pull_request(self, pr: PullRequest, *, title: str, body: str) -> PullRequest:
        response = self._request(
            "PATCH",
            f"/repos/{self.repository}/pulls/{pr.number}",
            json={"title": title, "body": body},
        )
        return self._pr(response.json())

    def close_pull_request(self, pr: PullRequest, comment: str | None) -> None:
        if comment:
            self._request(
                "POST",
                f"/repos/{self.repository}/issues/{pr.number}/comments",
                json={"body": comment},
            )
        self._request(
            "PATCH", f"/repos/{self.repository}/pulls/{pr.number}", json={"state": "closed"}
        )

    def add_labels(self, pr: PullRequest, labels: Sequence[str]) -> None:
        if labels:
            self._request(
                "POST",
                f"/repos/{self.repository}/issues/{pr.number}/labels",
                json={"labels": list(labels)},
            )

    def request_reviewers(self, pr: PullRequest, reviewers: Sequence[str]) -> None:
        users = [r for r in reviewers if "/" not in r]
        teams = [r.split("/", 1)[1] for r in reviewers if "/" in r]
        if users or teams:
            self._request(
                "POST",
                f"/repos/{self.repository}/pulls/{pr.number}/requested_reviewers",
                json={"reviewers": users, "team_reviewers": teams},
            )

    def enable_auto_merge(self, pr: PullRequest, method: str) -> bool:
        data = self._request("GET", f"/repos/{self.repository}/pulls/{pr.number}").json()
        node_id = data.get("node_id")
        if not node_id:
            return False
        graphql = self.api_url + "/graphql"
        if self.api_url.endswith("/api/v3"):  # GitHub Enterprise Server
            graphql = self.api_url[: -len("/v3")] + "/graphql"
        query = (
            "mutation($id: ID!, $method: PullRequestMergeMethod!) {"
            " enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method})"
            " { pullRequest { number } } }"
        )
        response = self._request(
            "POST",
            "/graphql",
            url=graphql,
            json={"query": query, "variables": {"id": node_id, "method": method.upper()}},
        )
        errors = response.json().get("errors")
        if errors:
            raise ShipstepError(
                f"GitHub refused to enable auto-merge on #{pr.number}: {errors[0].get('message')}",
                hint="Allow auto-merge in the repository settings, or leave --auto-merge off.",
            )
        return True
