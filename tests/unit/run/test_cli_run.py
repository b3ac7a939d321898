"""`shipstep run` on the command line: flags match the settings, bad
configuration exits 2 with file:line before anything runs."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import click
import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from shipstep.cli.run import OPTION_KEYS
from shipstep.config import SETTINGS

pytestmark = pytest.mark.timeout(30)


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(cli, args, environ=env or {})
    return code, out.getvalue(), err.getvalue()


def test_every_setting_has_its_flag_on_shipstep_run() -> None:
    command = cli.get_command(click.Context(cli), "run")
    flags = {opt: p.name for p in command.params if isinstance(p, click.Option) for opt in p.opts}
    for setting in SETTINGS:
        assert setting.flag in flags, setting
        assert OPTION_KEYS[str(flags[setting.flag])] == setting.dotted
    assert len(OPTION_KEYS) == len(SETTINGS)


def test_bad_configuration_exits_2_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shipstep.yaml").write_text("image:\n  name: hello\n  tags: v1\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run(["run"])
    assert code == 2
    assert "error: shipstep.yaml:3: 'image.tags' must be a list, not a string" in err
    assert "Traceback" not in err and out == ""


def test_bad_configuration_in_json_mode_prints_one_error_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shipstep.yaml").write_text("imgae: {}\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["--output", "json", "run"])
    assert code == 2
    assert "\"error\": \"unknown key 'imgae'; did you mean 'image'?" in out


def test_missing_setting_in_github_actions_is_annotated_with_flag_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shipstep.yaml").write_text("image: {name: hello}\n")
    monkeypatch.chdir(tmp_path)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out")}
    code, _, err = run(["run"], env)
    assert code == 2
    # No local defaults in CI: the registry must be configured.
    assert "::error file=shipstep.yaml,title=Missing setting::the registry is not set" in err
    assert "pass --registry or set 'registry.url'" in err


def test_flag_with_a_wrong_value_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["run", "--image", "Hello", "--registry", "127.0.0.1:5000"])
    assert code == 2
    assert "error: --image: 'image.name' has an invalid value a string (\"Hello\")" in err


def test_missing_key_file_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "shipstep.yaml").write_text("image: {name: hello}\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["run"])  # a developer's shell: the local defaults apply
    assert code == 2
    assert "the signing key" in err and "shipstep keygen --output-prefix .shipstep/cosign" in err
