"""Key files as cosign writes and reads them.

A cosign private key file is a PEM block (`ENCRYPTED SIGSTORE PRIVATE KEY`,
or `ENCRYPTED COSIGN PRIVATE KEY` from older versions) whose body is JSON:

    {"kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": B64},
     "cipher": {"name": "nacl/secretbox", "nonce": B64},
     "ciphertext": B64}

The secretbox key is scrypt(password, salt, N, r, p, 32 bytes) and the
plaintext is a PKCS#8 DER private key. Public keys are standard PEM
(SubjectPublicKeyInfo). Only ECDSA P-256 keys are accepted: that is what
cosign's classic signatures (ECDSA P-256 with SHA-256) use.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from shipstep.errors import InputError, ShipstepError

SIGSTORE_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_LABELS = (SIGSTORE_LABEL, COSIGN_LABEL)
ALLOWED_SCRYPT_N = frozenset({32768, 65536, 131072})
KEYGEN_SCRYPT_N = 65536
SCRYPT_R = 8
SCRYPT_P = 1

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_EXPECTED = (
    "a cosign key file (ENCRYPTED SIGSTORE PRIVATE KEY or ENCRYPTED COSIGN PRIVATE KEY "
    "holding a PKCS#8 ECDSA P-256 key) or an unencrypted PKCS#8 PEM (BEGIN PRIVATE KEY)"
)
_HINT_CONVERT = (
    "Create a key with `shipstep keygen` or `cosign generate-key-pair`, or convert an EC key with "
    "`openssl pkcs8 -topk8 -nocrypt -in ec.key -out key.pem`."
)


class WrongPasswordError(ShipstepError):
    """The password does not decrypt the key file."""


@dataclass(frozen=True)
class PemBlock:
    label: str
    body: bytes  # the base64 text between the armour lines, undecoded


def pem_blocks(data: bytes) -> list[PemBlock]:
    return [PemBlock(m.group(1).decode(), m.group(2)) for m in _PEM_BLOCK.finditer(data)]


def _b64(value: Any, what: str, source: str) -> bytes:
    if not isinstance(value, str):
        raise InputError(f"{source}: the key file's {what} is missing.", hint=_HINT_CONVERT)
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise InputError(
            f"{source}: the key file's {what} is not valid base64.", hint=_HINT_CONVERT
        ) from None


def _scrypt_key(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=nacl.secret.SecretBox.KEY_SIZE, n=n, r=r, p=p).derive(password)


def decrypt_cosign_key(body_b64: bytes, password: bytes, *, source: str = "key file") -> bytes:
    """The DER plaintext of an encrypted cosign key file's PEM body."""
    try:
        document = json.loads(base64.b64decode(b"".join(body_b64.split()), validate=True))
    except (binascii.Error, ValueError):
        raise InputError(
            f"{source}: the encrypted key is not cosign's format (base64 JSON).",
            hint=_HINT_CONVERT,
        ) from None
    if not isinstance(document, dict):
        raise InputError(f"{source}: the encrypted key is not cosign's format.", hint=_HINT_CONVERT)
    kdf = document.get("kdf") or {}
    cipher = document.get("cipher") or {}
    params = kdf.get("params") or {} if isinstance(kdf, dict) else {}
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt" or not isinstance(params, dict):
        raise InputError(
            f"{source}: unsupported key derivation {kdf.get('name') if isinstance(kdf, dict) else kdf!r}; cosign key files use scrypt.",
            hint=_HINT_CONVERT,
        )
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise InputError(
            f"{source}: unsupported cipher; cosign key files use nacl/secretbox.",
            hint=_HINT_CONVERT,
        )
    n, r, p = params.get("N"), params.get("r"), params.get("p")
    if n not in ALLOWED_SCRYPT_N or r != SCRYPT_R or p != SCRYPT_P:
        raise InputError(
            f"{source}: unsupported scrypt parameters N={n}, r={r}, p={p}; cosign accepts "
            f"N in {sorted(ALLOWED_SCRYPT_N)} with r=8, p=1.",
            hint=_HINT_CONVERT,
        )
    salt = _b64(kdf.get("salt"), "salt", source)
    nonce = _b64(cipher.get("nonce"), "nonce", source)
    ciphertext = _b64(document.get("ciphertext"), "ciphertext", source)
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise InputError(f"{source}: the nonce must be 24 bytes.", hint=_HINT_CONVERT)
    assert isinstance(n, int)
    box = nacl.secret.SecretBox(_scrypt_key(password, salt, n, SCRYPT_R, SCRYPT_P))
    try:
        return box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise WrongPasswordError(
            f"{source}: wrong password: it does not decrypt the key.",
            hint="Set COSIGN_PASSWORD to the password the key was created with.",
        ) from None


def encrypt_cosign_key(
    pkcs8_der: bytes, password: bytes, *, n: int = KEYGEN_SCRYPT_N, label: str = SIGSTORE_LABEL
) -> bytes:
    """A cosign encrypted key file (PEM) holding `pkcs8_der`."""
    salt = os.urandom(32)
    nonce = os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt_key(password, salt, n, SCRYPT_R, SCRYPT_P))
    ciphertext = box.encrypt(pkcs8_der, nonce).ciphertext
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    body = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    text = f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
    return text.encode()


def _der_element(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at `offset`."""
    if offset + 2 > len(data):
        raise ValueError("truncated DER")
    tag, first = data[offset], data[offset + 1]
    offset += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or offset + count > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    if offset + length > len(data):
        raise ValueError("truncated DER")
    return tag, offset, offset + length


def is_pkcs8(der: bytes) -> bool:
    """PKCS#8 is SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key };
    SEC1 (`EC PRIVATE KEY`) is SEQUENCE { INTEGER 1, OCTET STRING key, ... }."""
    try:
        tag, start, _ = _der_element(der, 0)
        if tag != 0x30:
            return False
        tag, _, end = _der_element(der, start)
        if tag != 0x02:
            return False
        tag, _, _ = _der_element(der, end)
        return tag == 0x30
    except ValueError:
        return False


def _p256_private(key: object, source: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise InputError(
            f"{source}: unsupported key type {type(key).__name__.lstrip('_')}; expected {_EXPECTED}.",
            hint=_HINT_CONVERT,
        )
    if not isinstance(key.curve, ec.SECP256R1):
        raise InputError(
            f"{source}: unsupported curve {key.curve.name}; cosign classic signatures use ECDSA P-256.",
            hint="Create a P-256 key with `shipstep keygen`.",
        )
    return key


def _private_from_der(der: bytes, source: str) -> ec.EllipticCurvePrivateKey:
    if not is_pkcs8(der):
        raise InputError(
            f"{source}: the key is in SEC1 format (EC PRIVATE KEY), which cosign refuses; "
            f"expected a PKCS#8 key: {_EXPECTED}.",
            hint=_HINT_CONVERT,
        )
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InputError(
            f"{source}: the key could not be parsed; expected {_EXPECTED}.", hint=_HINT_CONVERT
        ) from None
    return _p256_private(key, source)


def load_private_key(
    data: bytes, password: bytes | None, *, source: str = "key file"
) -> ec.EllipticCurvePrivateKey:
    """An ECDSA P-256 private key from a cosign key file or a PKCS#8 PEM."""
    blocks = pem_blocks(data)
    if not blocks:
        raise InputError(f"{source}: not a PEM key file; expected {_EXPECTED}.", hint=_HINT_CONVERT)
    block = blocks[0]
    if block.label in ENCRYPTED_LABELS:
        if password is None:
            raise InputError(
                f"{source}: the key is encrypted and no password was given.",
                hint="Set COSIGN_PASSWORD to the key's password (an empty value for no password).",
            )
        return _private_from_der(decrypt_cosign_key(block.body, password, source=source), source)
    if block.label == "PRIVATE KEY":
        try:
            der = base64.b64decode(b"".join(block.body.split()), validate=True)
        except binascii.Error:
            raise InputError(f"{source}: the PEM body is not base64.", hint=_HINT_CONVERT) from None
        return _private_from_der(der, source)
    if block.label == "EC PRIVATE KEY":
        raise InputError(
            f"{source}: the key is in SEC1 format (EC PRIVATE KEY), which cosign refuses; "
            f"expected {_EXPECTED}.",
            hint=_HINT_CONVERT,
        )
    if block.label == "ENCRYPTED PRIVATE KEY":
        raise InputError(
            f"{source}: PKCS#8 keys encrypted by OpenSSL are not supported; expected {_EXPECTED}.",
            hint="Import it with `cosign import-key-pair`, or decrypt it with `openssl pkcs8`.",
        )
    raise InputError(
        f"{source}: unsupported PEM block {block.label!r}; expected {_EXPECTED}.",
        hint=_HINT_CONVERT,
    )


def load_public_key(data: bytes, *, source: str = "public key") -> ec.EllipticCurvePublicKey:
    """An ECDSA P-256 public key from a PEM (SubjectPublicKeyInfo)."""
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InputError(
            f"{source}: not a PEM public key (expected -----BEGIN PUBLIC KEY-----).",
            hint="Pass the .pub file written by `shipstep keygen` or `cosign generate-key-pair`.",
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InputError(
            f"{source}: unsupported public key type; expected an ECDSA P-256 key.",
            hint="Pass the .pub file written by `shipstep keygen` or `cosign generate-key-pair`.",
        )
    return key


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(key: ec.EllipticCurvePublicKey) -> str:
    """A short, stable name for a public key in reports: sha256 of its DER, 16 hex."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return "sha256:" + digest.finalize().hex()[:16]


def verify_ecdsa(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    """Whether `signature` (DER) is a valid ECDSA/SHA-256 signature of `message`."""
    try:
        key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


class KeySigner:
    """Signs with a private key held in memory (from a key file)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, *, name: str = "key") -> None:
        self._key = key
        self.name = name

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, ec.ECDSA(hashes.SHA256()))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()


def read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist.", hint="Check the path.") from None
    except OSError as error:
        raise InputError(f"{what} {path} cannot be read: {error.strerror}.") from None


def load_signer(path: Path, password: bytes | None) -> KeySigner:
    key = load_private_key(read_key_file(path, "Key file"), password, source=str(path))
    return KeySigner(key, name=str(path))


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes  # encrypted cosign key file
    public_pem: bytes


def generate_key_pair(password: bytes, *, n: int = KEYGEN_SCRYPT_N) -> KeyPair:
    """A new P-256 key pair: the private half as a cosign encrypted key file."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return KeyPair(encrypt_cosign_key(der, password, n=n), public_key_pem(key.public_key()))
