"""Credential sources and WWW-Authenticate parsing."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shipstep.errors import ShipstepError
from shipstep.oci.auth import (
    Anonymous,
    ChainCredentials,
    DockerConfig,
    StaticCredentials,
    parse_challenge,
)


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push repository:c:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:a/b:pull,push repository:c:pull",
    }
    assert parse_challenge('Basic realm="Registry Realm"') == ("basic", {"realm": "Registry Realm"})
    assert parse_challenge('Bearer realm="a\\"b", error=insufficient_scope')[1] == {
        "realm": 'a"b',
        "error": "insufficient_scope",
    }


def write(path: Path, config: object) -> DockerConfig:
    path.write_text(json.dumps(config))
    return DockerConfig(path)


def test_docker_config_entries(tmp_path: Path) -> None:
    auth = base64.b64encode(b"user:pa:ss").decode()
    config = write(
        tmp_path / "config.json",
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": auth},
                "https://reg.example.com/v2/": {"username": "u2", "password": "p2"},
                "tok.example.com": {"identitytoken": "refresh-me"},
            }
        },
    )
    hub = config.credentials("docker.io")
    assert hub is not None and (hub.username, hub.password) == ("user", "pa:ss")
    assert "auths entry for docker.io" in hub.source
    other = config.credentials("reg.example.com")
    assert other is not None and (other.username, other.password) == ("u2", "p2")
    token = config.credentials("tok.example.com")
    assert token is not None and token.identity_token == "refresh-me"
    assert config.credentials("unknown.example.com") is None
    assert "p2" not in repr(other)


def test_docker_config_env_and_missing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert DockerConfig().path == tmp_path / "config.json"
    assert DockerConfig().credentials("reg.example.com") is None


def test_docker_config_broken(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(ShipstepError) as caught:
        DockerConfig(path).credentials("x.io")
    assert str(path) in caught.value.message
    bad = write(path, {"auths": {"x.io": {"auth": "%%%"}}})
    with pytest.raises(ShipstepError):
        bad.credentials("x.io")
    helper = write(path, {"credHelpers": {"x.io": "../../bin/sh"}})
    with pytest.raises(ShipstepError) as caught:
        helper.credentials("x.io")
    assert "Invalid credential helper name" in caught.value.message


def test_chain_and_static() -> None:
    chain = ChainCredentials(
        [StaticCredentials("a", "b", registry="only.io", source="flags"), Anonymous()]
    )
    assert chain.credentials("other.io") is None
    found = chain.credentials("only.io")
    assert found is not None and found.source == "flags"
    assert chain.describe() == "flags, no credentials (anonymous)"
