"""actions/build/action.yml declares exactly the command's outputs (its inputs:
tests/unit/test_actions.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.unit.build_step.test_reports import result

ACTION = Path(__file__).resolve().parents[3] / "actions" / "build" / "action.yml"


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
