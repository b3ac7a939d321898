"""Amazon EKS: the cluster's endpoint and CA from `DescribeCluster`, and a
bearer token as aws-iam-authenticator and `aws eks get-token` make it.

The token is `k8s-aws-v1.` + base64url (unpadded) of an STS pre-signed
`GetCallerIdentity` URL whose signature covers the `x-k8s-aws-id` header
(the cluster name), valid 60 seconds for the pre-signing; EKS accepts such a
token for about 15 minutes, so it is refreshed before that.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions

from shipstep.errors import InputError, ShipstepError

TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a format prefix, not a secret
CLUSTER_HEADER = "x-k8s-aws-id"
PRESIGN_SECONDS = 60
REFRESH_AFTER_SECONDS = 10 * 60  # EKS honours a token for ~15 minutes


@dataclass(frozen=True)
class EksCluster:
    name: str
    endpoint: str
    ca_pem: bytes
    status: str


def _aws_error(error: Exception, action: str, hint: str) -> ShipstepError:
    if isinstance(error, botocore.exceptions.NoCredentialsError):
        return ShipstepError(
            f"No AWS credentials to {action}.",
            hint="Configure credentials (OIDC role in CI, AWS_PROFILE locally).",
        )
    if isinstance(error, botocore.exceptions.NoRegionError):
        return InputError(f"No AWS region to {action}.", hint="Pass --region.")
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in (
            "ExpiredToken",
            "ExpiredTokenException",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
        ):
            return ShipstepError(
                f"AWS refused the credentials to {action}: {code}.",
                hint="The credentials are expired or invalid: refresh them (re-run aws-actions/configure-aws-credentials or `aws sso login`).",
            )
        return ShipstepError(f"Cannot {action}: {code}: {message}", hint=hint)
    return ShipstepError(f"Cannot {action}: {error}", hint=hint)


def describe_cluster(name: str, region: str) -> EksCluster:
    try:
        eks = boto3.session.Session().client("eks", region_name=region)
        cluster = eks.describe_cluster(name=name)["cluster"]
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise InputError(
                f"No EKS cluster named {name!r} in {region}.",
                hint="Check --eks-cluster and --region (`aws eks list-clusters --region R`).",
            ) from error
        raise _aws_error(
            error,
            f"describe EKS cluster {name!r}",
            "Check the role's eks:DescribeCluster permission.",
        ) from error
    except botocore.exceptions.BotoCoreError as error:
        raise _aws_error(
            error, f"describe EKS cluster {name!r}", "Check network access to the EKS API."
        ) from error
    endpoint = cluster.get("endpoint")
    ca_data = (cluster.get("certificateAuthority") or {}).get("data")
    status = str(cluster.get("status", ""))
    if not endpoint or not ca_data:
        raise ShipstepError(
            f"EKS cluster {name!r} has no endpoint yet (status {status or 'unknown'}).",
            hint="Wait until the cluster is ACTIVE.",
        )
    try:
        ca_pem = base64.b64decode(ca_data, validate=True)
    except ValueError as error:
        raise ShipstepError(f"EKS returned an unreadable CA for {name!r}.") from error
    return EksCluster(name, str(endpoint), ca_pem, status)


def presigned_identity_url(cluster_name: str, region: str) -> str:
    """The pre-signed STS `GetCallerIdentity` URL, `x-k8s-aws-id` signed in."""
    try:
        # A new session each time: credentials may have been rotated meanwhile.
        sts = boto3.session.Session().client("sts", region_name=region)

        def add_cluster_header(request: Any, **_: Any) -> None:
            request.headers[CLUSTER_HEADER] = cluster_name

        sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_cluster_header)
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=PRESIGN_SECONDS, HttpMethod="GET"
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise _aws_error(error, "make an EKS token", "Check the AWS credentials.") from error
    return str(url)


def token_from_url(url: str) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def url_from_token(token: str) -> str:
    """The inverse of `token_from_url` (what EKS does before calling STS)."""
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not an EKS token")
    data = token[len(TOKEN_PREFIX) :]
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()


class EksToken:
    """A bearer token for one cluster, made again before EKS would refuse it."""

    def __init__(self, cluster_name: str, region: str, clock: Any = time.monotonic) -> None:
        self.cluster_name = cluster_name
        self.region = region
        self._clock = clock
        self._token = ""
        self._made = 0.0

    def get(self) -> str:
        now = self._clock()
        if not self._token or now - self._made > REFRESH_AFTER_SECONDS:
            self._token = token_from_url(presigned_identity_url(self.cluster_name, self.region))
            self._made = now
        return self._token
