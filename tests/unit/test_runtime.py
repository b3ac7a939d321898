"""The runtime adapters write exactly what GitHub Actions and CodeBuild expect."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from shipstep.runtime import (
    CodeBuildRuntime,
    GitHubActionsRuntime,
    LocalRuntime,
    detect,
)

OUTPUTS = {
    "digest": "sha256:abc",
    "tags": ["a:1", "a:latest"],
    "report": "line 1\nline 2",
    "ok": True,
}


def parse_github_output(text: str) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT the way the runner does (name<<DELIM ... DELIM)."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    index = 0
    while index < len(lines) and lines[index]:
        name, delimiter = lines[index].split("<<", 1)
        end = lines.index(delimiter, index + 1)
        values[name] = "\n".join(lines[index + 1 : end])
        index = end + 1
    return values


def test_detect_by_environment() -> None:
    assert detect({"GITHUB_ACTIONS": "true"}).name == "github-actions"
    assert detect({"CODEBUILD_BUILD_ID": "proj:1"}).name == "codebuild"
    assert detect({}).name == "local"


def test_github_outputs_are_multiline_safe(tmp_path: Path) -> None:
    output = tmp_path / "output"
    output.write_text("earlier<<EOF\nkept\nEOF\n")
    runtime = GitHubActionsRuntime({"GITHUB_OUTPUT": str(output)})
    runtime.write_outputs(OUTPUTS)
    parsed = parse_github_output(output.read_text())
    assert parsed == {
        "earlier": "kept",
        "digest": "sha256:abc",
        "tags": "a:1\na:latest",
        "report": "line 1\nline 2",
        "ok": "true",
    }
    assert re.search(r"^report<<ghadelimiter_[0-9a-f-]{36}$", output.read_text(), re.M)


def test_github_inputs_keep_hyphens() -> None:
    runtime = GitHubActionsRuntime({"INPUT_TEST-COMMAND": " pytest -q ", "INPUT_EMPTY": ""})
    assert runtime.input("test-command") == "pytest -q"
    assert runtime.input("empty") is None
    assert runtime.input("missing") is None


def test_github_summary_appends(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    runtime = GitHubActionsRuntime({"GITHUB_STEP_SUMMARY": str(summary)})
    runtime.write_summary("## one")
    runtime.write_summary("## two\n")
    assert summary.read_text() == "## one\n## two\n"


def test_github_workflow_commands_escape() -> None:
    runtime = GitHubActionsRuntime({})
    line = runtime.error_command("bad: 100%\nsecond", file="a,b:c.yaml", line=3, title="Oops")
    assert line == "::error file=a%2Cb%3Ac.yaml,line=3,title=Oops::bad: 100%25%0Asecond"
    assert runtime.error_command("plain", file=None, line=None, title=None) == "::error::plain"
    assert runtime.mask_command("abc\ndef\n") == ["::add-mask::abc", "::add-mask::def"]
    assert runtime.group_commands("Build") == ("::group::Build", "::endgroup::")


def test_github_provenance() -> None:
    runtime = GitHubActionsRuntime(
        {"GITHUB_REPOSITORY": "o/r", "GITHUB_SHA": "f00", "GITHUB_RUN_ID": "42"}
    )
    provenance = runtime.provenance()
    assert provenance.source_url == "https://github.com/o/r"
    assert provenance.revision == "f00"
    assert provenance.run_url == "https://github.com/o/r/actions/runs/42"


def test_codebuild_dotenv_sources_in_bash(tmp_path: Path) -> None:
    env_file = tmp_path / "out.env"
    runtime = CodeBuildRuntime({"SHIPSTEP_ENV_FILE": str(env_file)})
    runtime.write_outputs(OUTPUTS)
    runtime.write_outputs({"digest": "sha256:def", "image-id": "it's"})
    # What a buildspec does: source the file, then read the variables.
    script = (
        f"set -a; . {env_file}; set +a; "
        'printf "%s|%s|%s|%s" "$SHIPSTEP_DIGEST" "$SHIPSTEP_TAGS" "$SHIPSTEP_REPORT" "$SHIPSTEP_IMAGE_ID"'
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout == "sha256:def|a:1\na:latest|line 1\nline 2|it's"


def test_codebuild_default_file_and_provenance(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    runtime = CodeBuildRuntime(
        {
            "CODEBUILD_RESOLVED_SOURCE_VERSION": "abc123",
            "CODEBUILD_SOURCE_REPO_URL": "https://git-codecommit.eu-west-1.amazonaws.com/v1/repos/app",
            "CODEBUILD_BUILD_URL": "https://console.aws.amazon.com/codebuild/build/1",
        }
    )
    runtime.write_outputs({"digest": "sha256:1"})
    assert (tmp_path / "shipstep.env").read_text() == "SHIPSTEP_DIGEST=sha256:1\n"
    provenance = runtime.provenance()
    assert provenance.revision == "abc123"
    assert provenance.source_url.endswith("/repos/app")  # type: ignore[union-attr]
    assert provenance.run_url == "https://console.aws.amazon.com/codebuild/build/1"
    assert runtime.mask_command("secret") == []


def test_local_provenance_from_git_without_credentials(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("remote", "add", "origin", "https://user:hunter2@example.com/o/r.git")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "x")
    provenance = LocalRuntime(tmp_path).provenance()
    assert provenance.source_url == "https://example.com/o/r.git"
    assert provenance.revision is not None and len(provenance.revision) == 40


def test_local_provenance_outside_git(tmp_path: Path) -> None:
    provenance = LocalRuntime(tmp_path).provenance()
    assert provenance.revision is None and provenance.source_url is None
