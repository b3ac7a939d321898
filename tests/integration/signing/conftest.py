"""Helpers for signing tests against the real local registry."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipstep.cli import cli
from shipstep.cli._app import run_cli
from shipstep.oci.client import RegistryClient
from shipstep.oci.manifest import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, digest_of, encode_json
from shipstep.oci.reference import parse_reference
from tests.fixtures.registry import Registry
from tests.fixtures.registry_proxy import registry_proxy as registry_proxy  # a fixture
from tests.fixtures.services import Service, free_port, require_binary, wait_for


@dataclass
class Pushed:
    tag_ref: str  # host/repo:tag
    repository: str  # host/repo
    digest: str

    @property
    def pinned(self) -> str:
        return f"{self.repository}@{self.digest}"


def push_image(host: str, name: str | None = None) -> Pushed:
    """A small OCI image pushed with the registry client (no Docker needed)."""
    repository = f"{host}/sign-test/{name or uuid.uuid4().hex[:12]}"
    ref = parse_reference(f"{repository}:v1")
    client = RegistryClient()
    config = encode_json(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    layer = os.urandom(512)
    for blob in (config, layer):
        client.upload_blob(ref, blob, digest_of(blob), len(blob))
    manifest = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": digest_of(layer), "size": len(layer)}
            ],
        }
    )
    digest = client.put_manifest(ref, manifest, OCI_MANIFEST)
    return Pushed(str(ref), repository, digest)


@dataclass
class CliRun:
    code: int
    out: str
    err: str

    @property
    def json(self) -> dict[str, object]:
        value = json.loads(self.out)
        assert isinstance(value, dict)
        return value


@pytest.fixture
def shipstep(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `shipstep --output json ARGS` in-process; returns CliRun."""

    def run(*args: str, env: dict[str, str] | None = None) -> CliRun:
        environ = {
            k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "CODEBUILD_BUILD_ID")
        }
        environ.update(env or {})
        capsys.readouterr()
        code = run_cli(cli, ["--output", "json", *args], environ)
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run


@pytest.fixture
def key_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shipstep) -> tuple[Path, Path]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COSIGN_PASSWORD", "s3cret pass")
    result = shipstep("keygen", "--output-prefix", str(tmp_path / "cosign"))
    assert result.code == 0, result.err
    return tmp_path / "cosign.key", tmp_path / "cosign.pub"


_READONLY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {storage}
  maintenance:
    readonly:
      enabled: true
http:
  addr: 127.0.0.1:{port}
"""


@pytest.fixture
def readonly_registry(registry: Registry, tmp_path: Path) -> Iterator[Registry]:
    """A second real registry serving the shared registry's storage read-only
    (distribution's maintenance mode): it refuses every push."""
    binary = require_binary("docker-registry", "docker-registry")
    port = free_port()
    config = tmp_path / "readonly.yml"
    config.write_text(_READONLY_CONFIG.format(storage=registry.storage, port=port))
    service = Service([binary, "serve", str(config)], tmp_path / "readonly.log")
    instance = Registry(f"127.0.0.1:{port}", registry.storage)
    import requests

    try:
        wait_for(
            lambda: requests.get(f"{instance.url}/v2/", timeout=1).status_code == 200,
            "read-only registry",
        )
        yield instance
    finally:
        service.stop()
