"""actions/sign/action.yml: its outputs, and the command run from INPUT_*
variables as the docker action runs it (its inputs: tests/unit/test_actions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import push_image

pytestmark = pytest.mark.timeout(120)

ACTION = Path(__file__).resolve().parents[3] / "actions" / "sign" / "action.yml"


def test_action_outputs() -> None:
    action = yaml.safe_load(ACTION.read_text())
    assert set(action["outputs"]) == {"digest", "image", "signature-ref", "format", "operation"}


def test_sign_from_action_inputs_with_env_key(
    registry: Registry,
    key_pair: tuple[Path, Path],
    shipstep,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    private, public = key_pair
    image = push_image(registry.host)
    output = tmp_path / "github_output"
    output.write_text("")
    monkeypatch.setenv("SIGNING_KEY", private.read_text())
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "INPUT_IMAGE": image.tag_ref,
        "INPUT_KEY": "env://SIGNING_KEY",
        "INPUT_KEYLESS": "false",
        "INPUT_ANNOTATION": "run=7\nsha=abc",
    }
    result = shipstep("sign", env=env)
    assert result.code == 0, result.err
    text = output.read_text()
    assert image.digest in text and "operation<<" in text and "signature-ref<<" in text
    key_line = private.read_text().splitlines()[1]
    assert f"::add-mask::{key_line}" in result.err  # the key material is masked
    assert "::add-mask::s3cret pass" in result.err  # and so is COSIGN_PASSWORD
    verified = shipstep("verify-signature", "--image", image.pinned, "--key", str(public))
    assert verified.code == 0
