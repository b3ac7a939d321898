"""actions/publish/action.yml and `shipstep publish` agree."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from shipstep.cli._app import input_name
from shipstep.cli.publish import command
from shipstep.steps.publish import PublishResult

ACTION = Path(__file__).resolve().parents[2] / "actions" / "publish" / "action.yml"


def test_every_input_is_an_option_and_every_option_an_input() -> None:
    action = yaml.safe_load(ACTION.read_text())
    options = {input_name(p) for p in command.params if isinstance(p, click.Option)}
    assert set(action["inputs"]) == options
    for name, spec in action["inputs"].items():
        assert spec["description"], name
    assert action["runs"]["args"] == ["publish"]


def test_every_output_is_declared() -> None:
    action = yaml.safe_load(ACTION.read_text())
    result = PublishResult(
        registry="r.example.com",
        repository="a",
        digest="sha256:" + "0" * 64,
        tags=["1"],
        operation="pushed",
        source="x",
    )
    assert set(action["outputs"]) == set(result.outputs())
    assert result.outputs()["image"] == "r.example.com/a@sha256:" + "0" * 64
