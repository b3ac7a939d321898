"""actions/build/action.yml declares exactly the command's inputs and outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import yaml

from shipstep.cli._app import input_name
from shipstep.cli.build import command
from tests.unit.build_step.test_reports import result

ACTION = Path(__file__).resolve().parents[3] / "actions" / "build" / "action.yml"


def test_inputs_are_the_command_options() -> None:
    action = yaml.safe_load(ACTION.read_text())
    options = {input_name(p) for p in command.params if isinstance(p, click.Option)}
    assert set(action["inputs"]) == options
    assert action["inputs"]["tag"]["required"] is True
    for name, spec in action["inputs"].items():
        assert spec["description"], name
    assert action["runs"]["using"] == "docker" and action["runs"]["args"] == ["build"]


def test_outputs_are_the_result_outputs() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert set(action["outputs"]) == set(result(None).outputs())


def test_action_is_valid_for_github() -> None:
    completed = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-actions",
            str(ACTION),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
