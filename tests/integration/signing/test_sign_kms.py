"""Signing with AWS KMS (moto's server for the control plane) into the real
local registry; verification with the KMS key and with its exported PEM."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
import requests
from cryptography.hazmat.primitives import serialization

from shipstep.errors import InputError
from shipstep.signing import awskms
from tests.fixtures.registry import Registry
from tests.integration.signing.conftest import push_image
from tests.integration.signing.test_sign_key import spec_signatures, spec_verify

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def kms_key(aws_endpoint: str) -> tuple[str, bytes]:
    """(alias name, public key PEM) of a fresh ECC_NIST_P256 SIGN_VERIFY key."""
    kms = boto3.client("kms", endpoint_url=aws_endpoint, region_name="eu-west-1")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    alias = f"alias/shipstep-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return alias, pem


def test_kms_sign_and_verify(
    registry: Registry, kms_key: tuple[str, bytes], shipstep, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    alias, pem = kms_key
    image = push_image(registry.host)
    signed = shipstep("sign", "--image", image.tag_ref, "--key", f"awskms:///{alias}")
    assert signed.code == 0, signed.err
    assert signed.json["operation"] == "signed"
    [(blob, signature, layer)] = spec_signatures(registry, image)
    spec_verify(pem, image, blob, signature, layer)

    assert (
        shipstep("sign", "--image", image.tag_ref, "--key", f"awskms:///{alias}").json["operation"]
        == "unchanged"
    )

    by_kms = shipstep("verify-signature", "--image", image.tag_ref, "--key", f"awskms:///{alias}")
    assert by_kms.code == 0, by_kms.err
    assert by_kms.json["signer"] == f"awskms:///{alias}"
    (tmp_path / "kms.pub").write_bytes(pem)
    assert (
        shipstep(
            "verify-signature", "--image", image.tag_ref, "--key", str(tmp_path / "kms.pub")
        ).code
        == 0
    )


def test_kms_key_of_the_wrong_type(aws_endpoint: str, registry: Registry, shipstep) -> None:  # type: ignore[no-untyped-def]
    kms = boto3.client("kms", endpoint_url=aws_endpoint, region_name="eu-west-1")
    key_id = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"][
        "KeyId"
    ]
    image = push_image(registry.host)
    result = shipstep("sign", "--image", image.tag_ref, "--key", f"awskms:///{key_id}")
    assert result.code == 2 and "ECC_NIST_P256 SIGN_VERIFY" in result.err


def test_kms_key_not_found(aws_endpoint: str, registry: Registry, shipstep) -> None:  # type: ignore[no-untyped-def]
    image = push_image(registry.host)
    result = shipstep("sign", "--key", "awskms:///alias/does-not-exist", "--image", image.tag_ref)
    assert result.code == 1 and "does not exist" in result.err


def test_kms_unreachable(registry: Registry, shipstep, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for name, value in {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    image = push_image(registry.host)
    # Port 9 on loopback: nothing listens, the connection is refused at once.
    result = shipstep(
        "sign", "--image", image.tag_ref, "--key", "awskms://127.0.0.1:9/alias/release"
    )
    assert result.code == 1
    assert "unreachable" in result.err and "Traceback" not in result.err
    assert "y" not in result.err.split("error:", 1)[1].split()  # no secret in the message


def test_kms_access_denied(
    aws_endpoint: str,
    kms_key: tuple[str, bytes],
    registry: Registry,
    shipstep,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # type: ignore[no-untyped-def]
    alias, _ = kms_key
    iam = boto3.client("iam", endpoint_url=aws_endpoint, region_name="eu-west-1")
    user = f"signer-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="read-only-kms",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["kms:GetPublicKey", "kms:DescribeKey"],
                        "Resource": "*",
                    }
                ],
            }
        ),
    )
    access = iam.create_access_key(UserName=user)["AccessKey"]
    image = push_image(registry.host)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    # moto's documented switch for IAM enforcement (/moto-api/reset-auth): from
    # now on requests are authorised against IAM policies, as AWS does.
    requests.post(f"{aws_endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        result = shipstep("sign", "--image", image.tag_ref, "--key", f"awskms:///{alias}")
    finally:
        requests.post(
            f"{aws_endpoint}/moto-api/reset-auth", data=b"inf", timeout=10
        ).raise_for_status()
    assert result.code == 1
    assert "denied Sign" in result.err and "kms:Sign" in result.err
    assert access["SecretAccessKey"] not in result.err


def test_kms_reference_parsing() -> None:
    assert awskms.parse_kms_ref("awskms:///alias/release") == awskms.KmsKeyRef(
        None, "alias/release"
    )
    ref = awskms.parse_kms_ref(
        "awskms://kms.eu-west-1.amazonaws.com:443/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    assert ref.endpoint == "kms.eu-west-1.amazonaws.com:443"
    arn = "arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert awskms.parse_kms_ref(f"awskms:///{arn}").region == "eu-central-1"
    for bad in (
        "awskms://",
        "awskms:///",
        "awskms:///not-a-key",
        "awskms://bad host/alias/x",
        "kms:///alias/x",
    ):
        with pytest.raises(InputError):
            awskms.parse_kms_ref(bad)
