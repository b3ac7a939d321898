"""EKS access through moto: DescribeCluster for endpoint and CA, and the
bearer token made as aws-iam-authenticator makes it."""

from __future__ import annotations

import base64
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from shipstep.cluster.access import ClusterOptions, connect
from shipstep.cluster.client import ClusterError
from shipstep.cluster.eks import (
    CLUSTER_HEADER,
    TOKEN_PREFIX,
    EksToken,
    describe_cluster,
    url_from_token,
)
from shipstep.errors import InputError, ShipstepError
from shipstep.progress import RecordingReporter
from tests.kube_standin.standin import KubeStandin

pytestmark = pytest.mark.timeout(60)


def make_cluster(name: str) -> dict[str, object]:
    eks = boto3.client("eks", region_name="eu-west-1")
    return eks.create_cluster(  # type: ignore[no-any-return]
        name=name,
        roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-1"]},
    )["cluster"]


def test_describe_cluster(aws_endpoint: str) -> None:
    created = make_cluster("verify-describe")
    cluster = describe_cluster("verify-describe", "eu-west-1")
    assert cluster.endpoint == created["endpoint"]
    ca = created["certificateAuthority"]["data"]  # type: ignore[index]
    assert cluster.ca_pem == base64.b64decode(ca)


def test_unknown_cluster_is_a_clear_input_error(aws_endpoint: str) -> None:
    with pytest.raises(InputError, match="No EKS cluster named 'nope' in eu-west-1"):
        describe_cluster("nope", "eu-west-1")


def test_token_is_a_presigned_get_caller_identity(aws_endpoint: str) -> None:
    token = EksToken("prod-cluster", "eu-west-1").get()
    assert token.startswith(TOKEN_PREFIX)
    assert "=" not in token  # base64url without padding
    url = url_from_token(token)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["Action"] == "GetCallerIdentity"
    assert query["Version"] == "2011-06-15"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "60"
    assert query["X-Amz-Credential"].startswith("testing/")
    assert query["X-Amz-Credential"].endswith("/eu-west-1/sts/aws4_request")
    assert query["X-Amz-SignedHeaders"].split(";") == ["host", CLUSTER_HEADER]
    assert len(query["X-Amz-Signature"]) == 64
    assert query["X-Amz-Security-Token"] == "testing"
    assert parts.path == "/"


def test_token_without_session_token_and_refresh(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_SESSION_TOKEN")
    now = [0.0]
    token = EksToken("c", "eu-west-1", clock=lambda: now[0])
    first = token.get()
    assert "X-Amz-Security-Token" not in url_from_token(first)
    now[0] = 60.0
    assert token.get() == first  # reused within the refresh window
    now[0] = 11 * 60.0
    second = token.get()  # made again: EKS would refuse it after ~15 minutes
    assert token._made == 11 * 60.0
    assert second.startswith(TOKEN_PREFIX)


def test_connect_eks_configures_the_client_and_cleans_up(aws_endpoint: str) -> None:
    make_cluster("verify-connect")
    reporter = RecordingReporter()
    masked: list[str] = []
    reporter.mask = masked.append  # type: ignore[method-assign]
    cluster = connect(ClusterOptions(eks_cluster="verify-connect", region="eu-west-1"), reporter)
    conf = cluster.api_client.configuration
    ca_path = Path(conf.ssl_ca_cert)
    assert ca_path.read_bytes() == describe_cluster("verify-connect", "eu-west-1").ca_pem
    header = conf.auth_settings()["BearerToken"]["value"]
    assert header.startswith("Bearer " + TOKEN_PREFIX)
    assert masked == [header.removeprefix("Bearer ")]
    assert "verify-connect" in cluster.where
    cluster.close()
    assert not ca_path.exists()


def test_eks_needs_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(InputError, match="needs a region"):
        ClusterOptions(eks_cluster="x")


class _ExpiredToken(BaseHTTPRequestHandler):
    """Answers every request as AWS does for an expired session token
    (rest-json protocol: the error type in `x-amzn-ErrorType`)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"message":"The security token included in the request is expired"}'
        self.send_response(403)
        self.send_header("x-amzn-ErrorType", "ExpiredTokenException")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_expired_credentials_are_explained(
    aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _ExpiredToken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(ShipstepError) as caught:
            describe_cluster("prod", "eu-west-1")
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.message == (
        "AWS refused the credentials to describe EKS cluster 'prod': ExpiredTokenException."
    )
    assert "expired or invalid" in (caught.value.hint or "")


def test_eks_bearer_token_reaches_the_api_server(aws_endpoint: str, kube: KubeStandin) -> None:
    make_cluster("verify-api")
    with connect(ClusterOptions(eks_cluster="verify-api", region="eu-west-1")) as cluster:
        conf = cluster.api_client.configuration
        conf.host = kube.url  # moto's endpoint serves no API: the stand-in does
        kube.knobs.token = conf.api_key["authorization"]
        items, version = cluster.list_items("Pod", "default")
        assert items == [] and version
        kube.knobs.token = "another-token"
        with pytest.raises(ClusterError, match="401 Unauthorized"):
            cluster.list_items("Pod", "default")
