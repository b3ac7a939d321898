"""`shipstep run` against real parts: the Docker engine, Debian's registry,
real git with the local forge, cosign-format signatures (key file and KMS
through moto)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import requests

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from shipstep.cli.run import forge_for, signing_for
from shipstep.config import load_config
from shipstep.errors import ShipstepError
from shipstep.progress import RecordingReporter
from shipstep.runtime.interface import Provenance
from shipstep.steps.run import RunResult, run_chain
from tests.fixtures.chain import (
    make_app,
    make_config_repo,
    remove_images,
    unique_tag,
    write_config,
    write_key_pair,
)
from tests.fixtures.git import git
from tests.fixtures.registry import Registry

__all__ = ["remove_images", "unique_tag"]

pytestmark = pytest.mark.timeout(240)

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


def registry_digest(registry: Registry, repository: str, reference: str) -> str | None:
    """The digest the registry serves, read over plain HTTP without shipstep."""
    response = requests.head(
        f"{registry.url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": MANIFEST_TYPES},
        timeout=10,
    )
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]


def chain(
    tmp_path: Path,
    registry: Registry,
    busybox_image: str,
    tag: str,
    *,
    test_command: str | None = None,
    extra: str = "",
) -> tuple[Path, Path]:
    app = make_app(tmp_path, busybox_image, test_command=test_command)
    write_key_pair(app / ".shipstep")
    bare = make_config_repo(app / ".shipstep", registry.host)
    if extra:
        write_config(app, extra)
    return app, bare


def run(app: Path, registry: Registry, tag: str, reporter: RecordingReporter) -> RunResult:
    config = load_config(
        app / "shipstep.yaml",
        overrides={"registry.url": registry.host, "image.tags": [tag]},
        local_defaults=True,
        cwd=app,
    )
    return run_chain(
        config,
        signing_for(config, reporter),
        forge_for(config, None, reporter),
        provenance=Provenance(source_url="https://github.com/acme/hello-app", revision="c0ffee"),
        reporter=reporter,
        # As from the commit time of a real checkout: the same commit builds the same image.
        environ={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},
    )


def test_chain_builds_tests_publishes_signs_and_opens_a_pull_request(
    tmp_path: Path,
    registry: Registry,
    busybox_image: str,
    unique_tag: str,
    remove_images: Callable[[str], None],
) -> None:
    app, bare = chain(tmp_path, registry, busybox_image, unique_tag)
    remove_images(f"{registry.host}/hello-app:{unique_tag}")
    reporter = RecordingReporter()

    result = run(app, registry, unique_tag, reporter)

    assert result.succeeded, result.text()
    assert [step.status for step in result.steps] == ["done"] * 4
    outputs = result.outputs()
    digest = outputs["digest"]
    # The digest travels unchanged: pushed, read back, signed, pinned.
    assert registry_digest(registry, "hello-app", unique_tag) == digest
    assert outputs["image"] == f"{registry.host}/hello-app@{digest}"
    assert result.sign is not None and result.sign.digest == digest
    sig_tag = f"{str(digest).replace(':', '-')}.sig"
    assert registry_digest(registry, "hello-app", sig_tag) is not None
    assert outputs["test-result"] == "passed" and outputs["tests-passed"] == 3
    assert (app / ".shipstep" / "test-report.xml").is_file()
    # The pull request record and its branch in the bare config repository.
    assert outputs["pr-number"] == 1 and outputs["bump-operation"] == "created"
    record = json.loads((bare / "shipstep-pulls" / "1.json").read_text())
    assert record["state"] == "open" and record["base"] == "main"
    assert record["head"] == outputs["branch"] == "shipstep/bump/hello-app-local"
    assert str(digest) in record["body"] and "cosign signature" in record["body"]
    deployment = git(bare, "show", f"{record['head']}:apps/hello-app/deployment.yaml")
    assert f"image: {registry.host}/hello-app:{unique_tag}@{digest} #" in deployment
    assert "# shipstep bump replaces this reference" in deployment  # comments kept
    # Progress: one line per step, in order.
    starts = [line for line in reporter.lines if line.startswith("[")]
    assert starts == [
        "[1/4] build and test",
        "[2/4] publish",
        "[3/4] sign",
        "[4/4] bump the config repository",
    ]
    text = result.text()
    assert "review and merge the pull request" in text
    assert str(digest) in text and str(record["url"]) in text
    assert "| pull request |" in result.summary_markdown()

    # Running it again changes nothing and says so.
    again = run(app, registry, unique_tag, RecordingReporter())
    assert again.succeeded
    assert again.outputs()["digest"] == digest
    assert again.publish is not None and again.publish.operation == "unchanged"
    assert again.sign is not None and again.sign.operation == "unchanged"
    assert again.outputs()["bump-operation"] == "unchanged"
    assert sorted(p.name for p in (bare / "shipstep-pulls").glob("*.json")) == ["1.json"]


def test_failing_tests_stop_the_chain_before_publish(
    tmp_path: Path,
    registry: Registry,
    busybox_image: str,
    unique_tag: str,
    remove_images: Callable[[str], None],
) -> None:
    app, bare = chain(
        tmp_path, registry, busybox_image, unique_tag, test_command="[sh, -c, 'exit 3']"
    )
    remove_images(f"{registry.host}/hello-app:{unique_tag}")

    result = run(app, registry, unique_tag, RecordingReporter())

    assert not result.succeeded
    assert result.stopped_at == "build"
    assert [step.status for step in result.steps] == ["failed", "not run", "not run", "not run"]
    assert result.outputs()["test-result"] == "failed"
    assert result.publish is None and result.sign is None and result.bump is None
    assert registry_digest(registry, "hello-app", unique_tag) is None
    assert not (bare / "shipstep-pulls").exists()
    assert "the tests failed: nothing was published" in result.text()


def test_a_failing_step_names_itself_and_how_to_continue(
    tmp_path: Path,
    registry: Registry,
    busybox_image: str,
    unique_tag: str,
    remove_images: Callable[[str], None],
) -> None:
    # The config repository holds no reference in these paths: bump refuses.
    app, bare = chain(tmp_path, registry, busybox_image, unique_tag)
    config = (app / "shipstep.yaml").read_text().replace("apps/hello-app/*.yaml", "nothing/*.yaml")
    (app / "shipstep.yaml").write_text(config)
    remove_images(f"{registry.host}/hello-app:{unique_tag}")

    with pytest.raises(ShipstepError) as caught:
        run(app, registry, unique_tag, RecordingReporter())

    error = caught.value
    assert error.message.startswith("bump the config repository failed: ")
    assert error.hint is not None
    assert "Completed before it: build and test, publish, sign." in error.hint
    assert "run `shipstep run` again" in error.hint
    # What was done stays done and consistent; no half-made pull request.
    assert registry_digest(registry, "hello-app", unique_tag) is not None
    assert not (bare / "shipstep-pulls").exists()
    assert git(bare, "branch", "--list", "shipstep/*").strip() == ""


def test_kms_signing_through_moto(
    tmp_path: Path,
    registry: Registry,
    busybox_image: str,
    unique_tag: str,
    aws_endpoint: str,
    remove_images: Callable[[str], None],
) -> None:
    import boto3

    kms = boto3.client("kms", region_name="eu-west-1", endpoint_url=aws_endpoint)
    key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
    alias = f"alias/run-{unique_tag}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    app, _ = chain(tmp_path, registry, busybox_image, unique_tag)
    write_config(app, f"signing:\n  key: awskms:///{alias}\n")
    remove_images(f"{registry.host}/hello-app:{unique_tag}")

    result = run(app, registry, unique_tag, RecordingReporter())

    assert result.succeeded, result.text()
    assert result.sign is not None and result.sign.signer.startswith("awskms:///")
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = run_cli(
            cli,
            [
                "verify-signature",
                "--image",
                str(result.outputs()["image"]),
                "--key",
                f"awskms:///{alias}",
            ],
        )
    assert code == 0, out.getvalue()


def test_cli_runs_the_chain_and_prints_one_json_object(
    tmp_path: Path,
    registry: Registry,
    busybox_image: str,
    unique_tag: str,
    remove_images: Callable[[str], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, _ = chain(tmp_path, registry, busybox_image, unique_tag)
    remove_images(f"{registry.host}/hello-app:{unique_tag}")
    monkeypatch.chdir(app)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(
            cli,
            ["--output", "json", "run", "--registry", registry.host, "--tag", unique_tag],
            environ={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        )
    assert code == 0, err.getvalue()
    outputs = json.loads(out.getvalue())
    assert outputs["result"] == "passed"
    assert outputs["digest"] == registry_digest(registry, "hello-app", unique_tag)
    assert outputs["pr-url"].endswith("/shipstep-pulls/1.json")
    assert "local default: signing key .shipstep/cosign.key" in err.getvalue()
    print(err.getvalue(), file=sys.stderr)
