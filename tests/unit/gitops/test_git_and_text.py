"""Credentials through the helper, redaction, PR text templates."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from shipstep.errors import InputError
from shipstep.gitops import message
from shipstep.gitops.finders import Found
from shipstep.gitops.git import Repo, redact
from shipstep.gitops.yamldoc import Edit

pytestmark = pytest.mark.timeout(30)
SECRET = "ghs_secret_value_123"


def test_token_reaches_git_through_the_helper_only(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    repo = Repo(tmp_path, token=SECRET, username="x-access-token")
    completed = repo.run("credential", "fill", input="protocol=https\nhost=github.example\n\n")
    assert f"password={SECRET}" in completed.stdout
    assert "username=x-access-token" in completed.stdout
    argv = repo._config()
    assert all(SECRET not in part for part in argv)


def test_redact() -> None:
    assert (
        redact(f"fatal: https://x-access-token:{SECRET}@github.com/o/r.git", [SECRET])
        == "fatal: https://github.com/o/r.git"
    )
    assert redact(f"token {SECRET} leaked", [SECRET]) == "token *** leaked"


def found() -> list[Found]:
    edit = Edit(0, 1, None, "a", "b", 3)
    return [
        Found(
            "envs/prod/app.yaml",
            3,
            "container",
            "repo:1.0",
            "repo:2.0@sha256:" + "b" * 64,
            "repo",
            [edit],
        )
    ]


CTX = message.Context(
    name="app",
    image="repo",
    reference="repo:2.0@sha256:" + "b" * 64,
    tag="2.0",
    digest="sha256:" + "b" * 64,
    base="main",
    source="https://src/commit/1",
    run="https://run/1",
    signature="verified (key cosign.pub)",
)


def test_body_has_table_digest_signature_links_and_marker() -> None:
    body = message.pr_body(message.DEFAULT_BODY, CTX, found(), "abc123")
    assert "| `envs/prod/app.yaml` | 3 | `repo:1.0` |" in body
    assert "**Digest:** `sha256:" in body and "**Signature:** verified" in body
    assert "**Source:** https://src/commit/1" in body and "**Run:** https://run/1" in body
    assert message.parse_marker(body) == ("app", "abc123")
    assert (
        message.render(message.DEFAULT_TITLE, CTX, found(), "title")
        == "Bump app to 2.0 (bbbbbbbbbbbb)"
    )


def test_bad_template_is_input_error() -> None:
    with pytest.raises(InputError, match="placeholder"):
        message.render("Bump $nope", CTX, found(), "title")


def test_commit_message_and_trailer() -> None:
    text = message.commit_message(CTX, found())
    assert "repo:1.0 -> repo:2.0@sha256:" in text and "Run: https://run/1" in text
    assert message.commit_bump_name(text) == "app"
    assert message.commit_bump_name("a human commit") is None
