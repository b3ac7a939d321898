"""A forge on disk: a bare git repository plus pull-request records as JSON
files next to it (`<repo>.git/shipstep-pulls/<n>.json`), for the local main
job and for trying shipstep without a hosted forge."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from shipstep.errors import InputError
from shipstep.forges.interface import GitPushMixin, PullRequest


class LocalForge(GitPushMixin):
    name = "local"

    def __init__(self, bare_repository: Path) -> None:
        if not (bare_repository / "HEAD").is_file() or not (bare_repository / "objects").is_dir():
            raise InputError(
                f"{bare_repository} is not a bare git repository.",
                hint="The local forge takes --repo as the path of a bare repository (git init --bare).",
            )
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
        record = {**old, **asdict(pr), **extra}
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, indent=2, sort_keys=True))
        os.replace(temporary, path)

    def record(self, number: int) -> dict[str, Any]:
        return dict(json.loads((self.root / f"{number}.json").read_text()))

    @staticmethod
    def _pr(record: dict[str, Any]) -> PullRequest:
        fields = {
            k: record[k]
            for k in ("number", "url", "head", "base", "title", "body", "state", "draft")
        }
        return PullRequest(**fields)

    def open_pull_requests(self, base: str) -> list[PullRequest]:
        return [self._pr(r) for r in self._records() if r["state"] == "open" and r["base"] == base]

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
