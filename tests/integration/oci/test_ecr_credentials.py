"""ECR login tokens from GetAuthorizationToken (moto), cached until shortly
before they expire."""

from __future__ import annotations

import datetime

import pytest

from shipstep.errors import ShipstepError
from shipstep.oci.ecr import EcrCredentials, ecr_client, parse_ecr_host

HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def test_parse_ecr_host() -> None:
    assert parse_ecr_host(HOST) is not None
    found = parse_ecr_host("210987654321.dkr.ecr-fips.us-gov-west-1.amazonaws.com")
    assert found is not None and (found.account, found.region) == ("210987654321", "us-gov-west-1")
    assert parse_ecr_host("210987654321.dkr.ecr.cn-north-1.amazonaws.com.cn") is not None
    assert parse_ecr_host("public.ecr.aws") is None
    assert parse_ecr_host("12345.dkr.ecr.eu-west-1.amazonaws.com") is None


def test_token_from_moto(aws_endpoint: str) -> None:
    provider = EcrCredentials()
    creds = provider.credentials(HOST)
    assert creds is not None
    assert creds.username == "AWS"
    assert creds.password == "123456789012-auth-token"
    assert "GetAuthorizationToken for account 123456789012" in creds.source
    assert provider.credentials("registry.example.com") is None


class ExpiringClient:
    """moto's real answer with expiresAt moved to `expires` (moto always
    answers a fixed date in 2015)."""

    def __init__(self, endpoint: str, expires: datetime.datetime) -> None:
        self.inner = ecr_client("eu-west-1", endpoint)
        self.expires = expires

    def get_authorization_token(self, **kwargs: object) -> dict[str, object]:
        answer = self.inner.get_authorization_token(**kwargs)
        answer["authorizationData"][0]["expiresAt"] = self.expires
        return dict(answer)


def test_token_is_cached_and_refreshed_before_expiry(aws_endpoint: str) -> None:
    now = [1_000_000.0]
    expires = datetime.datetime.fromtimestamp(now[0] + 12 * 3600, tz=datetime.UTC)
    provider = EcrCredentials(
        refresh_margin=1800,
        clock=lambda: now[0],
        client_factory=lambda region, endpoint: ExpiringClient(aws_endpoint, expires),
    )
    provider.credentials(HOST)
    provider.credentials(HOST)
    assert provider.fetches == 1
    now[0] += 11 * 3600  # 1 h left: still more than the 30 min margin
    provider.credentials(HOST)
    assert provider.fetches == 1
    now[0] += 40 * 60  # 20 min left: refreshed
    provider.credentials(HOST)
    assert provider.fetches == 2


def test_expired_token_is_fetched_again(aws_endpoint: str) -> None:
    provider = EcrCredentials()  # moto's tokens expired in 2015
    provider.credentials(HOST)
    provider.credentials(HOST)
    assert provider.fetches == 2


def test_no_aws_credentials(
    monkeypatch: pytest.MonkeyPatch, aws_endpoint: str, tmp_path: object
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(ShipstepError) as caught:
        EcrCredentials().credentials(HOST)
    assert "no AWS credentials" in caught.value.message


def test_unreachable_control_plane(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from shipstep.oci.ecr_repository import RepositorySettings, ensure_repository
    from tests.fixtures.services import free_port

    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    ecr = ecr_client("eu-west-1", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ShipstepError) as caught:
        ensure_repository(ecr, "team/app", RepositorySettings())
    assert "unreachable" in caught.value.message
