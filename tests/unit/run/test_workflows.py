"""The reusable workflow, the release workflow, the example caller and the
CodeBuild buildspec: schema, zizmor, and their wiring to the step actions
and commands (every input they pass exists, every variable they export is
one a step writes)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from shipstep.cli import cli
from shipstep.runtime.codebuild import variable_name

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[3]
REUSABLE = ROOT / ".github" / "workflows" / "shipstep.yml"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
CALLER = ROOT / "examples" / "workflows" / "ship.yml"
BUILDSPEC = ROOT / "examples" / "buildspec.yml"
WORKFLOWS = (REUSABLE, RELEASE, CALLER)
STEP_ACTIONS = ("build", "publish", "sign", "bump")
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True (YAML 1.1); these files spell it `on`.
    data: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    assert path.exists(), f"{name} is not installed next to {sys.executable} (scripts/setup)"
    return str(path)


def action_inputs(step: str) -> dict[str, Any]:
    return dict(load(ROOT / "actions" / step / "action.yml").get("inputs") or {})


def action_outputs(step: str) -> set[str]:
    return set(load(ROOT / "actions" / step / "action.yml").get("outputs") or {})


def steps_of(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(path: Path) -> None:
    completed = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_zizmor_finds_nothing_at_medium_or_above() -> None:
    completed = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No findings to report" in completed.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_pinned_actions(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "the default token gets no permission"
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"job {name} declares its permissions"
        granted = job["permissions"] or {}
        assert set(granted) <= {"contents", "id-token", "packages"}, granted
        assert granted.get("contents") in (None, "read")
    for step in steps_of(workflow):
        uses = step.get("uses", "")
        if uses and not uses.startswith("./"):
            assert SHA_PIN.match(uses), f"{uses} is not pinned by commit SHA"
        if uses.startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        # Inputs reach scripts only through the environment.
        assert "${{" not in step.get("run", ""), step.get("name")


def test_reusable_workflow_documents_every_input_secret_and_output() -> None:
    call = load(REUSABLE)["on"]["workflow_call"]
    for kind in ("inputs", "secrets", "outputs"):
        for name, spec in call[kind].items():
            assert len(spec.get("description", "")) > 20, f"{kind} {name} is not documented"
    assert call["inputs"]["shipstep-ref"]["required"] is True


def test_reusable_workflow_chains_the_steps_with_oidc() -> None:
    workflow = load(REUSABLE)
    steps = steps_of(workflow)
    local = [s["uses"].rsplit("/", 1)[1] for s in steps if s.get("uses", "").startswith("./")]
    assert local == list(STEP_ACTIONS)
    aws = [
        s for s in steps if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")
    ]
    assert len(aws) == 1 and "role-to-assume" in aws[0]["with"]
    assert "aws-access-key-id" not in aws[0]["with"]  # OIDC, no stored keys
    assert workflow["jobs"]["ship"]["permissions"] == {"contents": "read", "id-token": "write"}
    by_id = {s.get("id"): s for s in steps}
    # The digest publish read back is what sign signs and bump pins.
    assert by_id["sign"]["with"]["image"] == "${{ steps.publish.outputs.image }}"
    assert "steps.publish.outputs.digest" in by_id["bump"]["with"]["to"]


@pytest.mark.parametrize("step", STEP_ACTIONS)
def test_reusable_workflow_passes_only_inputs_the_actions_declare(step: str) -> None:
    declared = action_inputs(step)
    used = next(
        s for s in steps_of(load(REUSABLE)) if s.get("uses", "").endswith(f"/actions/{step}")
    )
    unknown = set(used.get("with", {})) - set(declared)
    assert not unknown, f"actions/{step} has no inputs {sorted(unknown)}"
    required = {name for name, spec in declared.items() if spec.get("required")}
    assert required <= set(used.get("with", {})), f"actions/{step} needs {required}"


@pytest.mark.parametrize("path", (RELEASE, CALLER), ids=lambda p: p.name)
def test_callers_pass_declared_inputs_and_secrets(path: Path) -> None:
    call = load(REUSABLE)["on"]["workflow_call"]
    callers = [job for job in load(path)["jobs"].values() if "shipstep.yml" in job.get("uses", "")]
    assert len(callers) == 1
    job = callers[0]
    assert set(job["with"]) <= set(call["inputs"])
    assert set(job.get("secrets", {})) <= set(call["secrets"])
    required = {name for name, spec in call["inputs"].items() if spec.get("required")}
    assert required <= set(job["with"])
    assert job["permissions"]["id-token"] == "write"


def test_release_builds_signs_and_publishes_the_toolkit_image_with_the_reusable_workflow() -> None:
    jobs = load(RELEASE)["jobs"]
    image = jobs["image"]
    assert image["uses"] == "./.github/workflows/shipstep.yml"
    assert image["with"]["shipstep-ref"] == "${{ github.sha }}"
    assert image["with"]["signing-mode"] == "keyless"
    assert image["with"]["artifact"] == "toolkit-wheels"
    assert "config-repo" not in image["with"]  # nothing to bump for the toolkit
    assert image["needs"] == "wheels"


# --- CodeBuild ------------------------------------------------------------------


def buildspec() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(BUILDSPEC.read_text())
    return data


def shipstep_commands(spec: dict[str, Any]) -> list[list[str]]:
    """Every `shipstep ...` invocation in the phases, as arguments."""
    found = []
    for phase in spec["phases"].values():
        for line in phase.get("commands", []):
            for part in re.split(r"&&|\|\|", line):
                words = shlex.split(part.strip())
                if words and words[0] == "shipstep":
                    found.append(words[1:])
    return found


def test_buildspec_has_the_phases_and_runs_the_chain_in_order() -> None:
    spec = buildspec()
    assert str(spec["version"]) == "0.2"
    assert list(spec["phases"]) == ["install", "pre_build", "build"]
    commands = [words[0] for words in shipstep_commands(spec) if not words[0].startswith("-")]
    assert commands == list(STEP_ACTIONS)
    assert spec["reports"]["hello-app-tests"]["file-format"] == "JUNITXML"


def test_buildspec_flags_exist_on_their_commands() -> None:
    for words in shipstep_commands(buildspec()):
        if words[0].startswith("-"):
            continue
        command = cli.get_command(click.Context(cli), words[0])
        known = {
            opt for param in command.params if isinstance(param, click.Option) for opt in param.opts
        }
        flags = {word for word in words[1:] if word.startswith("--")}
        assert flags <= known, f"shipstep {words[0]} has no {sorted(flags - known)}"


def test_every_exported_variable_is_one_a_step_writes() -> None:
    written = {variable_name(output) for step in STEP_ACTIONS for output in action_outputs(step)}
    exported = buildspec()["env"]["exported-variables"]
    assert exported, "the buildspec exports the step outputs"
    assert set(exported) <= written, sorted(set(exported) - written)
    # And the outputs the next phases need are among them.
    assert {
        "SHIPSTEP_DIGEST",
        "SHIPSTEP_IMAGE",
        "SHIPSTEP_SIGNATURE_REF",
        "SHIPSTEP_PR_URL",
    } <= set(exported)


def test_buildspec_sources_the_outputs_after_each_step() -> None:
    for phase in buildspec()["phases"].values():
        for line in phase.get("commands", []):
            if line.startswith("shipstep ") and not line.startswith("shipstep --version"):
                assert line.rstrip().endswith("set -a && . ./shipstep.env && set +a"), line
