"""Amazon ECR: registry hosts, the control-plane client, and auth tokens.

- `parse_ecr_host(host) -> EcrRegistry | None`: `<acct>.dkr.ecr.<region>.amazonaws.com`
  (also `-fips` and `.amazonaws.com.cn`) -> account and region.
- `ecr_client(region, endpoint_url=None)`: a boto3 ECR client; the endpoint is
  the explicit one, else `AWS_ENDPOINT_URL_ECR`, else `AWS_ENDPOINT_URL`
  (tests point these at moto).
- `EcrCredentials(endpoint_url=None)`: a `CredentialProvider` for ECR hosts
  that calls `GetAuthorizationToken` and reuses the token until
  `refresh_margin` before its `expiresAt` (tokens last 12 h).
- `aws_error(error, doing)`: a botocore error as a `ShipstepError`.
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shipstep.errors import ShipstepError
from shipstep.oci.auth import Credentials

_ECR_HOST = re.compile(
    r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
)


@dataclass(frozen=True)
class EcrRegistry:
    account: str
    region: str


def parse_ecr_host(host: str) -> EcrRegistry | None:
    match = _ECR_HOST.fullmatch(host)
    if not match:
        return None
    return EcrRegistry(match.group("account"), match.group("region"))


def ecr_endpoint(explicit: str | None = None) -> str | None:
    return (
        explicit
        or os.environ.get("AWS_ENDPOINT_URL_ECR")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def aws_errors() -> tuple[type[Exception], ...]:
    """The botocore errors a call can raise (imported on first use: boto3 is slow to import)."""
    import botocore.exceptions

    return (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


def aws_error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def ecr_client(region: str, endpoint_url: str | None = None) -> Any:
    import boto3.session

    try:
        session = boto3.session.Session()  # not the default one: it caches credentials
        return session.client("ecr", region_name=region, endpoint_url=ecr_endpoint(endpoint_url))
    except aws_errors() as error:
        raise aws_error(error, "create an ECR client") from None


def aws_error(error: Exception, doing: str) -> ShipstepError:
    """A botocore error as a diagnostic (never with credentials in it)."""
    import botocore.exceptions

    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return ShipstepError(
            f"Cannot {doing}: no AWS credentials were found.",
            hint="Configure AWS credentials (OIDC role on GitHub Actions, the CodeBuild role, or AWS_PROFILE).",
            title="AWS credentials missing",
        )
    if isinstance(error, botocore.exceptions.EndpointConnectionError):
        return ShipstepError(
            f"Cannot {doing}: the AWS endpoint is unreachable ({error.kwargs.get('endpoint_url', '')}).",
            hint="Check the region, the network, and AWS_ENDPOINT_URL_ECR / --aws-endpoint-url.",
        )
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "Error")
        message = error.response.get("Error", {}).get("Message", "")
        hint = None
        if code in (
            "AccessDeniedException",
            "UnrecognizedClientException",
            "ExpiredTokenException",
        ):
            hint = "The AWS credentials in use lack the ECR permission needed, or have expired."
        return ShipstepError(f"Cannot {doing}: {code}: {message}", hint=hint)
    return ShipstepError(f"Cannot {doing}: {error.__class__.__name__}: {error}")


class EcrCredentials:
    """ECR registry credentials from `GetAuthorizationToken`, cached per registry."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        refresh_margin: float = 1800.0,
        clock: Callable[[], float] = time.time,
        client_factory: Callable[[str, str | None], Any] = ecr_client,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.client_factory = client_factory
        self._cache: dict[str, tuple[Credentials, float]] = {}
        self.fetches = 0

    def describe(self) -> str:
        return "ECR GetAuthorizationToken (AWS credentials)"

    def credentials(self, registry: str) -> Credentials | None:
        ecr = parse_ecr_host(registry)
        if ecr is None:
            return None
        cached = self._cache.get(registry)
        if cached and cached[1] - self.refresh_margin > self.clock():
            return cached[0]
        client = self.client_factory(ecr.region, self.endpoint_url)
        try:
            answer = client.get_authorization_token(registryIds=[ecr.account])
        except aws_errors() as error:
            raise aws_error(error, f"get an ECR login token for {registry}") from None
        self.fetches += 1
        data = answer["authorizationData"][0]
        try:
            user, password = base64.b64decode(data["authorizationToken"]).decode().split(":", 1)
        except (ValueError, UnicodeDecodeError):
            raise ShipstepError(
                "ECR returned an authorization token in an unexpected format."
            ) from None
        expires = data.get("expiresAt")
        expiry = expires.timestamp() if isinstance(expires, datetime) else self.clock() + 12 * 3600
        source = f"ECR GetAuthorizationToken for account {ecr.account} in {ecr.region}"
        found = Credentials(user, password, source)
        self._cache[registry] = (found, expiry)
        return found
