"""A stand-in for the GitHub REST API (the parts shipstep uses), following
the documented contract (https://docs.github.com/en/rest):

- `GET/POST /repos/{o}/{r}/pulls`, `GET/PATCH /repos/{o}/{r}/pulls/{n}`
  (list filters `state`, `head` = `owner:branch`, `base`; `per_page`/`page`
  pagination with a `Link` header);
- `POST/GET /repos/{o}/{r}/issues/{n}/comments`, `POST /repos/{o}/{r}/issues/{n}/labels`,
  `POST /repos/{o}/{r}/pulls/{n}/requested_reviewers`;
- `PUT /repos/{o}/{r}/pulls/{n}/merge` (with a `merge` callback doing a
  real merge, e.g. `tests.fixtures.github.bare_merge`); a merged pull request
  has `merged`, `merged_at` and `merge_commit_sha`; an open one has a
  `merge_commit_sha` too, as GitHub does (its test merge, not on the base);
- `POST /repos/{o}/{r}/statuses/{sha}` and `GET /repos/{o}/{r}/commits/{ref}/statuses`
  (`state` one of error / failure / pending / success, 422 otherwise or for a
  commit the `commit_exists` callback does not know);
- `POST /graphql` for `enablePullRequestAutoMerge`;
- errors as GitHub sends them: 401 `Bad credentials`, 403 for a token
  without write access, 404 `Not Found`, 422 `Validation Failed` with an
  `errors` list (missing fields, `A pull request already exists for
  owner:branch.`, a head branch that does not exist, no commits between),
  and injected faults (5xx) for retry tests.

Branch existence comes from a callback (tests wire it to the real bare git
repository served by `git daemon`).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int
    remaining: int


@dataclass
class RepoState:
    owner: str
    name: str
    branch_exists: Callable[[str], bool] = lambda _branch: True
    commit_exists: Callable[[str], bool] = lambda _sha: True
    # (head, base, method, title) -> merge commit sha, or None if it conflicts
    merge: Callable[[str, str, str, str], str | None] | None = None
    allow_auto_merge: bool = True
    pulls: dict[int, dict[str, Any]] = field(default_factory=dict)
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # newest first
    next_number: int = 1


class GitHubState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.repos: dict[str, RepoState] = {}
        self.tokens: dict[str, str] = {}  # token -> "write" | "read"
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.base_url = ""

    def add_repo(self, full_name: str, **kwargs: Any) -> RepoState:
        owner, name = full_name.split("/", 1)
        repo = RepoState(owner, name, **kwargs)
        self.repos[full_name] = repo
        return repo

    def add_token(self, token: str, access: str = "write") -> None:
        self.tokens[token] = access

    def fail(self, method: str, path_pattern: str, status: int, times: int = 1) -> None:
        self.faults.append(Fault(method, re.compile(path_pattern), status, times))

    def pr_json(self, repo: RepoState, pr: dict[str, Any]) -> dict[str, Any]:
        full = f"{repo.owner}/{repo.name}"
        number = pr["number"]
        return {
            "url": f"{self.base_url}/repos/{full}/pulls/{number}",
            "html_url": f"https://github.example/{full}/pull/{number}",
            "id": 1000 + number,
            "node_id": f"PR_{number}",
            "number": number,
            "state": pr["state"],
            "title": pr["title"],
            "body": pr["body"],
            "draft": pr["draft"],
            "head": {"ref": pr["head"], "label": f"{repo.owner}:{pr['head']}"},
            "base": {"ref": pr["base"], "label": f"{repo.owner}:{pr['base']}"},
            "labels": [{"name": n} for n in pr["labels"]],
            "requested_reviewers": [{"login": u} for u in pr["reviewers"]],
            "requested_teams": [{"slug": t} for t in pr["teams"]],
            "auto_merge": pr["auto_merge"],
            "merged": bool(pr.get("merged", False)),
            "merged_at": pr.get("merged_at"),
            "merge_commit_sha": pr.get("merge_commit_sha")
            or hashlib.sha1(f"test-merge {full} {number}".encode()).hexdigest(),
        }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        payload: dict[str, Any] = {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
        }
        if errors is not None:
            payload["errors"] = errors
        self._send(status, payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        state = self.server.state
        url = urlsplit(self.path)
        path = url.path
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = self._body() if method != "GET" else {}
        with state.lock:
            state.requests.append((method, path))
            for fault in state.faults:
                if fault.remaining > 0 and fault.method == method and fault.path.search(path):
                    fault.remaining -= 1
                    self._error(fault.status, "Server Error" if fault.status >= 500 else "Injected")
                    return
            auth = self.headers.get("Authorization", "")
            token = auth.split(" ", 1)[1] if " " in auth else ""
            access = state.tokens.get(token)
            if access is None:
                self._error(401, "Bad credentials")
                return
            if path == "/graphql":
                self._graphql(state, body, access)
                return
            match = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)", path)
            repo = state.repos.get(f"{match.group(1)}/{match.group(2)}") if match else None
            if match is None or repo is None:
                self._error(404, "Not Found")
                return
            if method != "GET" and access != "write":
                self._error(403, "Resource not accessible by integration")
                return
            self._route(state, repo, method, match.group(3), query, body)

    def _route(
        self,
        state: GitHubState,
        repo: RepoState,
        method: str,
        rest: str,
        query: dict[str, str],
        body: Any,
    ) -> None:
        if rest == "/pulls" and method == "GET":
            self._list(state, repo, query)
        elif rest == "/pulls" and method == "POST":
            self._create(state, repo, body)
        elif (m := re.fullmatch(r"/pulls/(\d+)", rest)) and method in ("GET", "PATCH"):
            pr = repo.pulls.get(int(m.group(1)))
            if pr is None:
                self._error(404, "Not Found")
            elif method == "GET":
                self._send(200, state.pr_json(repo, pr))
            else:
                self._update(state, repo, pr, body)
        elif (m := re.fullmatch(r"/pulls/(\d+)/merge", rest)) and method == "PUT":
            self._merge(repo, repo.pulls.get(int(m.group(1))), body)
        elif (m := re.fullmatch(r"/issues/(\d+)/comments", rest)) and method in ("GET", "POST"):
            number = int(m.group(1))
            if number not in repo.pulls:
                self._error(404, "Not Found")
            elif method == "GET":
                self._send(200, repo.comments.get(number, []))
            elif not isinstance(body.get("body"), str) or not body["body"]:
                self._error(
                    422,
                    "Validation Failed",
                    [{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
                )
            else:
                comment = {"id": len(repo.comments.get(number, [])) + 1, "body": body["body"]}
                repo.comments.setdefault(number, []).append(comment)
                self._send(201, comment)
        elif (m := re.fullmatch(r"/issues/(\d+)/labels", rest)) and method == "POST":
            pr = repo.pulls.get(int(m.group(1)))
            labels = body.get("labels")
            if pr is None:
                self._error(404, "Not Found")
            elif not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
                self._error(
                    422,
                    "Validation Failed",
                    [{"resource": "Label", "code": "invalid", "field": "labels"}],
                )
            else:
                pr["labels"] = sorted({*pr["labels"], *labels})
                self._send(200, [{"name": n} for n in pr["labels"]])
        elif (m := re.fullmatch(r"/pulls/(\d+)/requested_reviewers", rest)) and method == "POST":
            pr = repo.pulls.get(int(m.group(1)))
            users, teams = body.get("reviewers", []), body.get("team_reviewers", [])
            if pr is None:
                self._error(404, "Not Found")
            elif any(u.startswith("ghost") for u in users):
                self._error(
                    422,
                    "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the repository.",
                )
            else:
                pr["reviewers"] = sorted({*pr["reviewers"], *users})
                pr["teams"] = sorted({*pr["teams"], *teams})
                self._send(201, state.pr_json(repo, pr))
        elif (m := re.fullmatch(r"/statuses/([0-9a-fA-F]{40})", rest)) and method == "POST":
            self._set_status(state, repo, m.group(1).lower(), body)
        elif (m := re.fullmatch(r"/commits/([^/]+)/statuses", rest)) and method == "GET":
            self._send(200, repo.statuses.get(m.group(1).lower(), []))
        else:
            self._error(404, "Not Found")

    def _set_status(self, state: GitHubState, repo: RepoState, sha: str, body: Any) -> None:
        if body.get("state") not in ("error", "failure", "pending", "success"):
            self._error(
                422,
                "Validation Failed",
                [{"resource": "Status", "code": "custom", "field": "state"}],
            )
            return
        if not repo.commit_exists(sha):
            self._error(422, f"No commit found for SHA: {sha}")
            return
        status = {
            "id": sum(len(v) for v in repo.statuses.values()) + 1,
            "url": f"{state.base_url}/repos/{repo.owner}/{repo.name}/statuses/{sha}",
            "state": body["state"],
            "description": body.get("description"),
            "target_url": body.get("target_url"),
            "context": body.get("context") or "default",
        }
        repo.statuses.setdefault(sha, []).insert(0, status)
        self._send(201, status)

    def _merge(self, repo: RepoState, pr: dict[str, Any] | None, body: Any) -> None:
        if pr is None:
            self._error(404, "Not Found")
            return
        if pr["state"] != "open" or pr.get("merged"):
            self._error(405, "Pull Request is not mergeable")
            return
        method = body.get("merge_method", "merge")
        if method not in ("merge", "squash", "rebase"):
            self._error(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "invalid", "field": "merge_method"}],
            )
            return
        sha = repo.merge(pr["head"], pr["base"], method, pr["title"]) if repo.merge else None
        if sha is None:
            self._error(405, "Pull Request is not mergeable")
            return
        pr["state"], pr["merged"], pr["merge_commit_sha"] = "closed", True, sha
        pr["merged_at"] = "2026-12-04T12:00:00Z"
        self._send(200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"})

    def _list(self, state: GitHubState, repo: RepoState, query: dict[str, str]) -> None:
        wanted = query.get("state", "open")
        pulls = [p for p in sorted(repo.pulls.values(), key=lambda p: -p["number"])]
        if wanted != "all":
            pulls = [p for p in pulls if p["state"] == wanted]
        if "head" in query:
            owner, _, branch = query["head"].partition(":")
            pulls = [p for p in pulls if owner == repo.owner and p["head"] == branch]
        if "base" in query:
            pulls = [p for p in pulls if p["base"] == query["base"]]
        per_page = min(int(query.get("per_page", 30)), 100)
        page = int(query.get("page", 1))
        chunk = pulls[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(pulls):
            params = "&".join(
                f"{k}={v}"
                for k, v in {**query, "page": str(page + 1), "per_page": str(per_page)}.items()
            )
            headers["Link"] = (
                f'<{state.base_url}/repos/{repo.owner}/{repo.name}/pulls?{params}>; rel="next"'
            )
        self._send(200, [state.pr_json(repo, p) for p in chunk], headers)

    def _create(self, state: GitHubState, repo: RepoState, body: Any) -> None:
        missing = [
            f for f in ("title", "head", "base") if not isinstance(body.get(f), str) or not body[f]
        ]
        if missing:
            self._error(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "missing_field", "field": f} for f in missing],
            )
            return
        head = body["head"].split(":", 1)[-1]
        for field_name, branch in (("head", head), ("base", body["base"])):
            if not repo.branch_exists(branch):
                self._error(
                    422,
                    "Validation Failed",
                    [{"resource": "PullRequest", "code": "invalid", "field": field_name}],
                )
                return
        for pr in repo.pulls.values():
            if pr["state"] == "open" and pr["head"] == head and pr["base"] == body["base"]:
                self._error(
                    422,
                    "Validation Failed",
                    [
                        {
                            "resource": "PullRequest",
                            "code": "custom",
                            "message": f"A pull request already exists for {repo.owner}:{head}.",
                        }
                    ],
                )
                return
        number = repo.next_number
        repo.next_number += 1
        pr = {
            "number": number,
            "state": "open",
            "title": body["title"],
            "body": body.get("body") or "",
            "draft": bool(body.get("draft", False)),
            "head": head,
            "base": body["base"],
            "labels": [],
            "reviewers": [],
            "teams": [],
            "auto_merge": None,
        }
        repo.pulls[number] = pr
        self._send(201, state.pr_json(repo, pr))

    def _update(self, state: GitHubState, repo: RepoState, pr: dict[str, Any], body: Any) -> None:
        if "state" in body and body["state"] not in ("open", "closed"):
            self._error(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "invalid", "field": "state"}],
            )
            return
        if "title" in body and not body["title"]:
            self._error(
                422,
                "Validation Failed",
                [{"resource": "PullRequest", "code": "missing_field", "field": "title"}],
            )
            return
        for key in ("title", "body", "state"):
            if key in body:
                pr[key] = body[key]
        self._send(200, state.pr_json(repo, pr))

    def _graphql(self, state: GitHubState, body: Any, access: str) -> None:
        query = str(body.get("query", ""))
        variables = body.get("variables") or {}
        if "enablePullRequestAutoMerge" not in query:
            self._send(200, {"errors": [{"message": "unsupported query in the stand-in"}]})
            return
        node = str(variables.get("id", ""))
        for repo in state.repos.values():
            for pr in repo.pulls.values():
                if f"PR_{pr['number']}" == node and access == "write":
                    if not repo.allow_auto_merge:
                        self._send(
                            200,
                            {
                                "data": {"enablePullRequestAutoMerge": None},
                                "errors": [
                                    {
                                        "type": "UNPROCESSABLE",
                                        "message": "Pull request Auto merge is not allowed for this repository",
                                    }
                                ],
                            },
                        )
                        return
                    pr["auto_merge"] = {
                        "merge_method": str(variables.get("method", "MERGE")).lower()
                    }
                    self._send(
                        200,
                        {
                            "data": {
                                "enablePullRequestAutoMerge": {
                                    "pullRequest": {"number": pr["number"]}
                                }
                            }
                        },
                    )
                    return
        self._send(
            200,
            {
                "data": None,
                "errors": [
                    {
                        "type": "NOT_FOUND",
                        "message": f"Could not resolve to a node with the global id of '{node}'",
                    }
                ],
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GitHubState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class GitHubStandin:
    """Runs the stand-in on a free local port in a thread."""

    def __init__(self) -> None:
        self.state = GitHubState()
        self._server = _Server(self.state)
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}"
        self.state.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> GitHubStandin:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
