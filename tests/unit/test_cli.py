"""The CLI's shared behaviour: help, version, JSON output, errors, inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from shipstep import __version__
from shipstep.cli import cli
from shipstep.cli._app import cli_command, emit, run_cli
from shipstep.errors import InputError, ShipstepError
from shipstep.result import OutputValue

COMMANDS = [
    "agent",
    "build",
    "bump",
    "keygen",
    "publish",
    "run",
    "sign",
    "verify",
    "verify-signature",
]


@dataclass
class FakeResult:
    value: str
    lines: list[str]
    ok: bool = True

    @property
    def succeeded(self) -> bool:
        return self.ok

    def outputs(self) -> Mapping[str, OutputValue]:
        return {"value": self.value, "lines": self.lines}

    def summary_markdown(self) -> str:
        return f"### value\n{self.value}"

    def text(self) -> str:
        return f"value is {self.value}"


@cli_command("echo-test")
@click.option("--value", required=True)
@click.option("--line", "lines", multiple=True)
@click.option("--fail", is_flag=True)
@click.option("--password")
@click.pass_context
def echo_test(
    ctx: click.Context, value: str, lines: tuple[str, ...], fail: bool, password: str | None
) -> None:
    if value == "boom":
        raise InputError(
            "the value may not be boom", hint="pass another --value", file="x.yaml", line=4
        )
    if value == "crash":
        raise ShipstepError("it crashed")
    emit(ctx, FakeResult(value, list(lines), ok=not fail))


@pytest.fixture
def with_test_command():  # type: ignore[no-untyped-def]
    cli.add_command(echo_test)
    yield
    cli.commands.pop("echo-test")


def run(capsys, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = run_cli(cli, argv, env or {})
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_every_command_with_a_description(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, ["--help"])
    assert code == 0
    for name in COMMANDS:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 10, line


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, ["--version"])
    assert code == 0 and out.strip() == f"shipstep, version {__version__}"


def test_unknown_command_suggests_closest(capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, ["biuld"])
    assert code == 2
    assert "No such command 'biuld'. Did you mean 'build'?" in err


def test_unknown_option_suggests_closest(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, ["echo-test", "--valeu", "x"])
    assert code == 2
    assert "No such option '--valeu'" in err and "'--value'" in err


def test_json_output_is_one_object(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, ["--output", "json", "echo-test", "--value", "v", "--line", "a"])
    assert code == 0
    assert json.loads(out) == {"value": "v", "lines": ["a"]}
    assert out.count("\n") == 1


def test_failed_verdict_exits_one_with_outputs(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, ["--output", "json", "echo-test", "--value", "v", "--fail"])
    assert code == 1
    assert json.loads(out)["value"] == "v"


def test_expected_error_has_diagnostic_and_no_traceback(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, ["echo-test", "--value", "boom"])
    assert code == 2
    assert "error: x.yaml:4: the value may not be boom\nhint: pass another --value" in err
    assert "Traceback" not in err + out
    code, out, err = run(capsys, ["--output", "json", "echo-test", "--value", "crash"])
    assert code == 1
    assert json.loads(out) == {"error": "it crashed", "hint": None}


def test_github_inputs_feed_options_and_outputs(capsys, with_test_command, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "out"
    summary = tmp_path / "summary"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "INPUT_VALUE": "from-input",
        "INPUT_LINE": "one\n\ntwo\n",
    }
    code, out, _ = run(capsys, ["echo-test"], env)
    assert code == 0
    assert out.strip() == "value is from-input"
    assert "value<<ghadelimiter_" in output.read_text()
    assert "lines<<" in output.read_text() and "one\ntwo\n" in output.read_text()
    assert summary.read_text() == "### value\nfrom-input\n"
    # A flag given on the command line wins over the input.
    code, out, _ = run(capsys, ["echo-test", "--value", "flag"], env)
    assert out.strip() == "value is flag"


def test_github_missing_input_is_an_error_annotation(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, ["echo-test"], {"GITHUB_ACTIONS": "true"})
    assert code == 2
    assert "::error title=Missing input::Input 'value' is required." in err


def test_github_error_annotation_points_at_file(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run(capsys, ["echo-test", "--value", "boom"], {"GITHUB_ACTIONS": "true"})
    assert code == 2
    assert "::error file=x.yaml,line=4::the value may not be boom" in err


def test_secret_inputs_are_masked_before_anything_else(capsys, with_test_command) -> None:  # type: ignore[no-untyped-def]
    env = {
        "GITHUB_ACTIONS": "true",
        "INPUT_VALUE": "x",
        "INPUT_PASSWORD": "hunter2",
        "INPUT_GITHUB-TOKEN": "ghp_abc\nsecond-line",
        "COSIGN_PASSWORD": "cosign-pw",
    }
    code, _, err = run(capsys, ["echo-test"], env)
    assert code == 0
    lines = err.splitlines()
    masks = {
        "::add-mask::hunter2",
        "::add-mask::ghp_abc",
        "::add-mask::second-line",
        "::add-mask::cosign-pw",
    }
    assert set(lines[: len(masks)]) == masks


@cli_command("placeholder-test")
def placeholder_test() -> None:
    """A command body as the skeleton ships it before its step exists."""
    raise ShipstepError(
        "`shipstep placeholder-test` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )


def test_unimplemented_command_fails_clearly(capsys) -> None:  # type: ignore[no-untyped-def]
    # Every step command is implemented by now (`agent` was the example
    # here); a placeholder body must still fail clearly.
    cli.add_command(placeholder_test)
    try:
        code, _out, err = run(capsys, ["placeholder-test"])
    finally:
        cli.commands.pop("placeholder-test")
    assert code == 1 and "not available" in err and "Traceback" not in err


def test_python_dash_m_entry_point() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "shipstep", "--version"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"shipstep, version {__version__}"


def test_root_action_dispatches_step_and_args_without_a_shell(
    capsys, with_test_command, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    output = tmp_path / "out"
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "INPUT_STEP": "echo-test",
        "INPUT_ARGS": "--value\n$(touch pwned) ; echo hi\n--line\nx",
        "INPUT_OUTPUT-FORMAT": "json",
    }
    code, out, _ = run(capsys, [], env)
    assert code == 0
    assert json.loads(out) == {"value": "$(touch pwned) ; echo hi", "lines": ["x"]}
    text = output.read_text()
    assert "result<<ghadelimiter_" in text
    assert '{"lines": ["x"], "value": "$(touch pwned) ; echo hi"}' in text
    assert not (Path.cwd() / "pwned").exists()
