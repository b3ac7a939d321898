"""Credentials against the registry behind htpasswd basic auth."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from shipstep.errors import ShipstepError
from tests.fixtures.images import ImageFactory
from tests.fixtures.registry import Registry
from tests.integration.publish.helpers import run_publish, unique

pytestmark = pytest.mark.timeout(120)


def test_username_password(auth_registry: Registry, make_image: ImageFactory) -> None:
    result = run_publish(
        image=make_image(files={"auth.txt": "a"}),
        to=f"{auth_registry.host}/{unique()}:1",
        username=auth_registry.username,
        password=auth_registry.password,
        docker_config=Path("/nonexistent/config.json"),
    )
    assert result.operation == "pushed"


def test_refused_password_names_the_source_never_the_secret(
    auth_registry: Registry, make_image: ImageFactory
) -> None:
    secret = "wrong-Secret-value-42"
    with pytest.raises(ShipstepError) as caught:
        run_publish(
            image=make_image(),
            to=f"{auth_registry.host}/{unique()}:1",
            username="shipstep",
            password=secret,
        )
    text = caught.value.diagnostic()
    assert "refused the credentials from --username/--password" in text
    assert secret not in text


def test_no_credentials(auth_registry: Registry, make_image: ImageFactory, tmp_path: Path) -> None:
    with pytest.raises(ShipstepError) as caught:
        run_publish(
            image=make_image(),
            to=f"{auth_registry.host}/{unique()}:1",
            docker_config=tmp_path / "config.json",
        )
    assert "requires authentication" in caught.value.message
    assert str(tmp_path / "config.json") in caught.value.message


def test_docker_config_auths(
    auth_registry: Registry, make_image: ImageFactory, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode()).decode()
    config.write_text(json.dumps({"auths": {f"http://{auth_registry.host}/v2/": {"auth": token}}}))
    result = run_publish(
        image=make_image(), to=f"{auth_registry.host}/{unique()}:1", docker_config=config
    )
    assert result.operation == "pushed"
    bad = base64.b64encode(b"shipstep:not-the-password").decode()
    config.write_text(json.dumps({"auths": {auth_registry.host: {"auth": bad}}}))
    with pytest.raises(ShipstepError) as caught:
        run_publish(
            image=make_image(), to=f"{auth_registry.host}/{unique()}:1", docker_config=config
        )
    assert f"docker config {config}" in caught.value.message
    assert "not-the-password" not in caught.value.diagnostic()
    assert bad not in caught.value.diagnostic()


def test_credential_helper(
    auth_registry: Registry,
    make_image: ImageFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real credential-helper program, run with an argv list and the host on stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    helper = bin_dir / "docker-credential-shipstep-test"
    answer = json.dumps({"Username": auth_registry.username, "Secret": auth_registry.password})
    helper.write_text(
        "#!/bin/sh\n"
        '[ "$1" = get ] || exit 3\n'
        f'read host; [ "$host" = "{auth_registry.host}" ] || {{ echo "credentials not found in native keychain"; exit 1; }}\n'
        f"echo '{answer}'\n"
    )
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credHelpers": {auth_registry.host: "shipstep-test"}}))
    result = run_publish(
        image=make_image(), to=f"{auth_registry.host}/{unique()}:1", docker_config=config
    )
    assert result.operation == "pushed"
    config.write_text(json.dumps({"credHelpers": {auth_registry.host: "absent-helper"}}))
    with pytest.raises(ShipstepError) as caught:
        run_publish(
            image=make_image(), to=f"{auth_registry.host}/{unique()}:1", docker_config=config
        )
    assert "docker-credential-absent-helper" in caught.value.message
