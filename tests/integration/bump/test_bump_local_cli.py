"""`shipstep bump` from the command line with the local forge (bare repo + PR records)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from tests.fixtures.config_repo import APP, MESSY_FILES, NEW_REF, SECOND_REF
from tests.fixtures.git import GitServer, git

pytestmark = pytest.mark.timeout(120)


def run(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, object] | None, str]:
    code = run_cli(cli, ["--output", "json", "bump", *args], {})
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def parse_outputs(text: str) -> dict[str, str]:
    """`name<<DELIMITER ... DELIMITER` blocks of $GITHUB_OUTPUT."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        name, _, delimiter = line.partition("<<")
        value = []
        for inner in lines:
            if inner == delimiter:
                break
            value.append(inner)
        outputs[name] = "\n".join(value)
    return outputs


def test_cli_local_forge(git_server: GitServer, capsys: pytest.CaptureFixture[str]) -> None:
    bare = git_server.create_repo("cli-local", MESSY_FILES)
    base = ["--repo", str(bare), "--forge", "local", "--image", APP, "--label", "deploy"]
    code, out, err = run(capsys, *base, "--to", NEW_REF)
    assert code == 0, err
    assert (
        out is not None
        and out["operation"] == "created"
        and out["pr-number"] == 1
        and out["changes"] == 13
    )
    assert out["branch"] == "shipstep/bump/app" and out["commit"] == git(
        bare, "rev-parse", "shipstep/bump/app"
    )
    record = json.loads((bare / "shipstep-pulls" / "1.json").read_text())
    assert record["labels"] == ["deploy"] and record["state"] == "open"
    code, out, _ = run(capsys, *base, "--to", NEW_REF)
    assert code == 0 and out is not None and out["operation"] == "unchanged"
    code, out, _ = run(capsys, *base, "--to", SECOND_REF)
    assert code == 0 and out is not None and out["operation"] == "updated" and out["pr-number"] == 1


def test_cli_bad_inputs_exit_2(git_server: GitServer, capsys: pytest.CaptureFixture[str]) -> None:
    bare = git_server.create_repo("cli-bad", MESSY_FILES)
    code, _out, err = run(
        capsys, "--repo", str(bare), "--forge", "local", "--image", APP, "--to", f"{APP}:1.0"
    )
    assert code == 2 and "has no digest" in err and "Traceback" not in err
    code, _out, err = run(
        capsys,
        "--repo",
        str(bare),
        "--forge",
        "local",
        "--image",
        APP,
        "--to",
        NEW_REF,
        "--path",
        "../x",
    )
    assert code == 2 and "not a relative path" in err
    code, _out, err = run(
        capsys,
        "--repo",
        str(bare),
        "--forge",
        "local",
        "--image",
        APP,
        "--to",
        NEW_REF,
        "--base",
        "nope",
    )
    assert code == 2 and "base branch 'nope' does not exist" in err
    assert "shipstep/bump" not in git(bare, "branch", "--list")


def test_cli_github_actions_inputs_and_annotation(
    git_server: GitServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bare = git_server.create_repo("cli-gha", {"bad.yaml": f"image: {APP}:1\nx: [\n"})
    output = tmp_path / "out"
    output.write_text("")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "INPUT_REPO": str(bare),
        "INPUT_FORGE": "local",
        "INPUT_IMAGE": APP,
        "INPUT_TO": NEW_REF,
    }
    code = run_cli(cli, ["bump"], env)
    _, err = capsys.readouterr()
    assert code == 1
    assert "::error file=bad.yaml,line=3" in err


def test_cli_github_action_end_to_end(
    git_server: GitServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.fixtures.github import TOKEN, bare_branch_exists
    from tests.github_standin.server import GitHubStandin

    standin = GitHubStandin().start()
    try:
        standin.state.add_token(TOKEN)
        bare = git_server.create_repo("cli-gh", MESSY_FILES)
        standin.state.add_repo("org/cli-gh", branch_exists=bare_branch_exists(bare))  # type: ignore[arg-type]
        output = tmp_path / "out"
        summary = tmp_path / "summary"
        output.write_text("")
        summary.write_text("")
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_REPOSITORY": "org/app",
            "GITHUB_SHA": "0123456789abcdef",
            "GITHUB_RUN_ID": "42",
            "INPUT_REPO": git_server.url("cli-gh"),
            "INPUT_FORGE": "github",
            "INPUT_FORGE-REPOSITORY": "org/cli-gh",
            "INPUT_API-URL": standin.url,
            "INPUT_TOKEN": TOKEN,
            "INPUT_IMAGE": APP,
            "INPUT_TO": NEW_REF,
            "INPUT_PATH": "envs/**\ncharts/**\n",
            "INPUT_LABEL": "deploy\nauto",
        }
        code = run_cli(cli, ["bump"], env)
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"::add-mask::{TOKEN}" in err
        assert TOKEN not in out and TOKEN not in err.replace(f"::add-mask::{TOKEN}", "")
        assert TOKEN not in output.read_text() and TOKEN not in summary.read_text()
        outputs = parse_outputs(output.read_text())
        assert outputs["operation"] == "created" and outputs["pr-number"] == "1"
        assert outputs["branch"] == "shipstep/bump/app" and outputs["changes"] == "11"
        assert outputs["pr-url"] == "https://github.example/org/cli-gh/pull/1"
        pr = standin.state.repos["org/cli-gh"].pulls[1]
        assert pr["labels"] == ["auto", "deploy"] and TOKEN not in pr["body"]
        assert "https://github.example/org/app/actions/runs/42" in pr["body"]
    finally:
        standin.stop()
