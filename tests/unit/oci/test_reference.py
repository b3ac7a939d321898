"""Parsing and normalising image references."""

from __future__ import annotations

import pytest

from shipstep.errors import InputError
from shipstep.oci.reference import Reference, is_loopback, parse_digest, parse_reference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", Reference("docker.io", "library/busybox")),
        ("busybox:1.36", Reference("docker.io", "library/busybox", "1.36")),
        ("index.docker.io/org/app:v1", Reference("docker.io", "org/app", "v1")),
        ("docker.io/library/app", Reference("docker.io", "library/app")),
        ("localhost/app", Reference("localhost", "app")),
        ("localhost:5000/a/b/c:t", Reference("localhost:5000", "a/b/c", "t")),
        ("127.0.0.1:5000/app@" + DIGEST, Reference("127.0.0.1:5000", "app", None, DIGEST)),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1.2.3@" + DIGEST,
            Reference("123456789012.dkr.ecr.eu-west-1.amazonaws.com", "team/app", "1.2.3", DIGEST),
        ),
        ("[::1]:5000/app:x", Reference("[::1]:5000", "app", "x")),
        ("ghcr.io/o/a_b__c-d.e:T_1.0-x", Reference("ghcr.io", "o/a_b__c-d.e", "T_1.0-x")),
    ],
)
def test_parse_valid(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("Busybox", "lowercase"),
        ("reg.io/App:1", "lowercase"),
        ("reg.io/app:-bad", "tag"),
        ("reg.io/app@sha256:abc", "digest"),
        ("reg.io/app@md5:" + "a" * 32, "digest"),
        ("https://reg.io/app", "scheme"),
        ("reg.io/", "missing"),
        ("reg.io/app name", "whitespace"),
        ("reg.io/app//x", "repository name"),
        ("reg.io/" + "a" * 300, "longer"),
        ("-bad.io/app", "registry host"),
    ],
)
def test_parse_invalid(text: str, reason: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_reference(text)
    assert reason in caught.value.message
    assert caught.value.hint and "REGISTRY/REPOSITORY" in caught.value.hint


def test_round_trip_and_helpers() -> None:
    ref = parse_reference("reg.example.com:8443/team/app:1.0")
    assert str(ref) == "reg.example.com:8443/team/app:1.0"
    assert ref.name == "reg.example.com:8443/team/app"
    assert ref.identifier == "1.0"
    pinned = ref.pinned(DIGEST)
    assert str(pinned) == f"reg.example.com:8443/team/app:1.0@{DIGEST}"
    assert pinned.identifier == DIGEST
    assert str(ref.with_digest(DIGEST)) == f"reg.example.com:8443/team/app@{DIGEST}"
    assert ref.with_tag("2.0").tag == "2.0"
    assert ref.without_tag().identifier == "latest"
    with pytest.raises(InputError):
        ref.with_tag("not a tag")
    with pytest.raises(InputError):
        ref.with_digest("sha256:xyz")
    assert parse_reference("busybox").repository_path == "busybox"
    assert str(parse_reference("busybox")) == "docker.io/library/busybox"
    assert parse_reference("busybox").api_host == "registry-1.docker.io"


def test_same_repository_with_and_without_host() -> None:
    ref = parse_reference("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:1")
    assert ref.same_repository("team/app")
    assert ref.same_repository("team/app:2")
    assert ref.same_repository(f"team/app@{DIGEST}")
    assert ref.same_repository("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:3")
    assert not ref.same_repository("other.registry.io/team/app")
    assert not ref.same_repository("team/app2")
    hub = parse_reference("nginx:1.25")
    assert hub.same_repository("nginx") and hub.same_repository("library/nginx:1")
    assert hub.same_repository("docker.io/library/nginx")


def test_parse_digest_and_loopback() -> None:
    assert parse_digest(DIGEST) == DIGEST
    with pytest.raises(InputError):
        parse_digest("sha256:ABC")
    for host in ("localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000"):
        assert is_loopback(host), host
    for host in ("example.com", "10.0.0.1:5000", "registry.localhost.example.com"):
        assert not is_loopback(host), host
