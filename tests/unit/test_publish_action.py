"""actions/publish/action.yml declares every output of `shipstep publish`
(its inputs: tests/unit/test_actions.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from shipstep.steps.publish import PublishResult

ACTION = Path(__file__).resolve().parents[2] / "actions" / "publish" / "action.yml"


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
