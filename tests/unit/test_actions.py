"""Every actions/<step>/action.yml declares exactly its command's options as
inputs (so the runtime's INPUT_<NAME> lookup finds each one), with the same
defaults, and runs the command."""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
import yaml

from shipstep.cli import COMMANDS
from shipstep.cli._app import input_name

ACTIONS = Path(__file__).resolve().parents[2] / "actions"
STEPS = sorted(p.name for p in ACTIONS.iterdir() if (p / "action.yml").is_file())


def command_of(step: str) -> click.Command:
    module = importlib.import_module(f"shipstep.cli.{COMMANDS[step][0]}")
    command: click.Command = module.command
    return command


def test_every_step_has_an_action() -> None:
    assert {"build", "publish", "sign", "bump", "verify"} <= set(STEPS)


@pytest.mark.parametrize("step", STEPS)
def test_inputs_are_the_options(step: str) -> None:
    action = yaml.safe_load((ACTIONS / step / "action.yml").read_text())
    command = command_of(step)
    context = click.Context(command)
    options = {input_name(p): p for p in command.params if isinstance(p, click.Option)}
    assert set(action["inputs"]) == set(options)
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        option = options[name]
        assert bool(spec.get("required")) == option.required, name
        default = option.get_default(context)
        if option.is_flag and default is not None:  # None: a tri-state flag, unset means auto
            assert spec.get("default", "false") == str(bool(default)).lower(), name
    assert action["runs"]["using"] == "docker"
    assert action["runs"]["args"][0] == command.name
