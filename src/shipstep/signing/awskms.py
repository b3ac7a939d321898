"""AWS KMS keys as cosign names them: `awskms:///alias/NAME`, `awskms:///KEY_ID`,
`awskms:///arn:aws:kms:...` or `awskms://ENDPOINT/KEY` (ENDPOINT: host[:port],
reached over HTTPS as cosign does).

Signing uses KMS `Sign` with `MessageType=RAW` and `ECDSA_SHA_256`: KMS hashes
the payload (far below the 4096-byte RAW limit) and returns a DER signature,
exactly what cosign's classic format stores. Verification uses the public key
from `GetPublicKey`, fetched once per key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shipstep.errors import InputError, ShipstepError

SCHEME = "awskms://"
_PARTITION = r"aws(?:-us-gov|-cn|-iso|-iso-b)?"
_KEY = re.compile(
    rf"arn:{_PARTITION}:kms:[a-z0-9-]+:\d{{12}}:(?:key/[-\w]+|alias/[\w/-]+)"
    r"|alias/[\w/-]+"
    r"|[a-fA-F0-9-]{36}|mrk-[a-fA-F0-9]{32}"
)
_HOST = re.compile(r"[A-Za-z0-9.-]+(?::\d{1,5})?")
_HINT = "Write it as awskms:///alias/NAME, awskms:///KEY_ID, awskms:///arn:aws:kms:REGION:ACCOUNT:key/ID or awskms://HOST[:PORT]/KEY."


@dataclass(frozen=True)
class KmsKeyRef:
    endpoint: str | None  # host[:port], or None for the default endpoint
    key_id: str  # key id, key ARN, alias/NAME or alias ARN

    def __str__(self) -> str:
        return f"{SCHEME}{self.endpoint or ''}/{self.key_id}"

    @property
    def region(self) -> str | None:
        if self.key_id.startswith("arn:"):
            return self.key_id.split(":")[3]
        return None


def is_kms_ref(text: str) -> bool:
    return text.startswith(SCHEME)


def parse_kms_ref(text: str) -> KmsKeyRef:
    if not text.startswith(SCHEME):
        raise InputError(f"{text!r} is not an awskms:// key reference.", hint=_HINT)
    endpoint, slash, key = text[len(SCHEME) :].partition("/")
    if not slash or not _KEY.fullmatch(key):
        raise InputError(f"Invalid AWS KMS key reference {text!r}.", hint=_HINT)
    if endpoint and not _HOST.fullmatch(endpoint):
        raise InputError(f"Invalid endpoint {endpoint!r} in {text!r}.", hint=_HINT)
    return KmsKeyRef(endpoint or None, key)


def _client(ref: KmsKeyRef, client: Any | None) -> Any:
    if client is not None:
        return client
    kwargs: dict[str, Any] = {
        "config": botocore.config.Config(
            retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20
        )
    }
    if ref.endpoint:
        kwargs["endpoint_url"] = f"https://{ref.endpoint}"
    if ref.region:
        kwargs["region_name"] = ref.region
    try:
        # A fresh session: credentials are read from the environment now, not
        # from whatever boto3's default session cached earlier in the process.
        return boto3.session.Session().client("kms", **kwargs)
    except botocore.exceptions.NoRegionError:
        raise InputError(
            f"No AWS region for {ref}.",
            hint="Set AWS_REGION (or AWS_DEFAULT_REGION), or name the key by its ARN.",
        ) from None


def kms_error(ref: KmsKeyRef, action: str, error: Exception) -> ShipstepError:
    """A diagnostic for a failed KMS call (never includes credentials)."""
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if "AccessDenied" in message or status == 403:
            # Some endpoints answer 403 with an XML body botocore cannot parse.
            code, message = "AccessDeniedException", _xml_message(message) or message
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            return ShipstepError(
                f"AWS KMS denied {action} on {ref}: {message or code}.",
                hint=f"Grant the caller kms:{action} (and kms:GetPublicKey, kms:DescribeKey) on the key, in its key policy or IAM policy.",
            )
        if code == "NotFoundException":
            return ShipstepError(
                f"AWS KMS key {ref} does not exist: {message}.",
                hint="Check the alias or key id and the region (AWS_REGION).",
            )
        if code in ("DisabledException", "KMSInvalidStateException"):
            return ShipstepError(
                f"AWS KMS key {ref} cannot be used: {message or code}.",
                hint="Enable the key (or cancel its deletion) in AWS KMS.",
            )
        return ShipstepError(f"AWS KMS {action} on {ref} failed: {code}: {message}.")
    if isinstance(
        error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
    ):
        return ShipstepError(
            f"No AWS credentials to call KMS {action} on {ref}.",
            hint="Configure credentials (OIDC role in GitHub Actions, the CodeBuild service role, or AWS_PROFILE).",
        )
    if isinstance(
        error,
        botocore.exceptions.EndpointConnectionError
        | botocore.exceptions.ConnectTimeoutError
        | botocore.exceptions.ReadTimeoutError,
    ):
        return ShipstepError(
            f"AWS KMS is unreachable for {ref}: {error}.",
            hint="Check the network, the region and any endpoint in the key reference or AWS_ENDPOINT_URL.",
        )
    return ShipstepError(f"AWS KMS {action} on {ref} failed: {error}.")


def _xml_message(text: str) -> str | None:
    match = re.search(r"<Message>(.*?)</Message>", text, re.S)
    return match.group(1) if match else None


_BOTO_ERRORS = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)


class KmsSigner:
    """Signs through AWS KMS `Sign`; the private key never leaves KMS."""

    def __init__(self, ref: KmsKeyRef | str, *, client: Any | None = None) -> None:
        self.ref = parse_kms_ref(ref) if isinstance(ref, str) else ref
        self.name = str(self.ref)
        self._client = _client(self.ref, client)
        self._public: ec.EllipticCurvePublicKey | None = None

    def public_key(self) -> ec.EllipticCurvePublicKey:
        if self._public is None:
            self._public = fetch_public_key(self.ref, self._client)
        return self._public

    def sign(self, message: bytes) -> bytes:
        self.public_key()  # checks the key's type and usage before signing with it
        try:
            response = self._client.sign(
                KeyId=self.ref.key_id,
                Message=message,
                MessageType="RAW",
                SigningAlgorithm="ECDSA_SHA_256",
            )
        except _BOTO_ERRORS as error:
            raise kms_error(self.ref, "Sign", error) from None
        signature = response["Signature"]
        assert isinstance(signature, bytes)
        return signature


def fetch_public_key(ref: KmsKeyRef, client: Any | None = None) -> ec.EllipticCurvePublicKey:
    """The key's public half, checked to be an ECC_NIST_P256 SIGN_VERIFY key."""
    kms = _client(ref, client)
    try:
        response = kms.get_public_key(KeyId=ref.key_id)
    except _BOTO_ERRORS as error:
        raise kms_error(ref, "GetPublicKey", error) from None
    spec = response.get("KeySpec") or response.get("CustomerMasterKeySpec")
    if spec != "ECC_NIST_P256" or response.get("KeyUsage") != "SIGN_VERIFY":
        raise InputError(
            f"AWS KMS key {ref} is a {spec} {response.get('KeyUsage')} key; "
            "cosign signatures need an ECC_NIST_P256 SIGN_VERIFY key.",
            hint="Create one with `aws kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY`.",
        )
    key = serialization.load_der_public_key(response["PublicKey"])
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key
