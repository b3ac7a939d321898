"""cosign key files: the real cosign test keys decrypt, bad keys are refused
clearly, and keygen's keys decrypt with an independent implementation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

import nacl.bindings
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shipstep.errors import InputError
from shipstep.signing import keys
from tests.unit.signing.interop import KEYS, PASSWORD

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("name", ["sigstore-labeled-ec", "cosign-labeled-ec"])
def test_cosign_test_keys_decrypt_to_their_public_halves(name: str) -> None:
    key = keys.load_private_key((KEYS / f"{name}.key").read_bytes(), PASSWORD)
    expected = (KEYS / f"{name}.derived.pub").read_bytes()
    assert keys.public_key_pem(key.public_key()) == expected


def test_sec1_key_is_refused_naming_pkcs8() -> None:
    with pytest.raises(InputError) as error:
        keys.load_private_key((KEYS / "cosign-labeled-sec1-ec.key").read_bytes(), PASSWORD)
    assert "SEC1" in error.value.message
    assert "PKCS#8" in error.value.message
    assert error.value.hint and "openssl pkcs8" in error.value.hint


def test_wrong_password_is_reported_as_such() -> None:
    with pytest.raises(keys.WrongPasswordError) as error:
        keys.load_private_key((KEYS / "sigstore-labeled-ec.key").read_bytes(), b"not-hello")
    assert "wrong password" in error.value.message
    assert "not-hello" not in error.value.diagnostic()
    assert "COSIGN_PASSWORD" in (error.value.hint or "")


def test_encrypted_key_without_password() -> None:
    with pytest.raises(InputError, match="no password"):
        keys.load_private_key((KEYS / "sigstore-labeled-ec.key").read_bytes(), None)


def _independent_encrypt(der: bytes, password: bytes, n: int) -> bytes:
    salt, nonce = os.urandom(32), os.urandom(24)
    secret = hashlib.scrypt(password, salt=salt, n=n, r=8, p=1, dklen=32, maxmem=2**30)
    box = nacl.bindings.crypto_secretbox(der, nonce, secret)
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": 8, "p": 1},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box).decode(),
    }
    body = base64.b64encode(json.dumps(document).encode()).decode()
    return f"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n{body}\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n".encode()


def _pkcs8(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize("n", [32768, 65536, 131072])
def test_accepted_scrypt_costs(n: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    loaded = keys.load_private_key(_independent_encrypt(_pkcs8(key), b"pw", n), b"pw")
    assert loaded.private_numbers() == key.private_numbers()


@pytest.mark.parametrize("n", [16384, 262144])
def test_other_scrypt_costs_are_refused(n: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    data = _independent_encrypt(_pkcs8(key), b"pw", 16384)
    # Claim another N in the header: refused before any scrypt runs.
    block = re.search(rb"-----\n(.*)\n-----END", data, re.S)
    assert block
    document = json.loads(base64.b64decode(block.group(1)))
    document["kdf"]["params"]["N"] = n
    body = base64.b64encode(json.dumps(document).encode())
    data = data.replace(block.group(1), body)
    with pytest.raises(InputError, match=f"N={n}"):
        keys.load_private_key(data, b"pw")


def test_unencrypted_pkcs8_pem() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert keys.load_private_key(pem, None).private_numbers() == key.private_numbers()


def test_unencrypted_sec1_pem_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert b"EC PRIVATE KEY" in pem
    with pytest.raises(InputError, match=r"SEC1.*PKCS#8"):
        keys.load_private_key(pem, None)


def test_rsa_and_other_curves_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InputError, match="unsupported key type RSAPrivateKey"):
        keys.load_private_key(_independent_encrypt(_pkcs8(rsa_key), b"pw", 32768), b"pw")
    p384 = ec.generate_private_key(ec.SECP384R1())
    pem = p384.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InputError, match="secp384r1"):
        keys.load_private_key(pem, None)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nbm90IGpzb24=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
    ],
)
def test_garbage_key_files(data: bytes) -> None:
    with pytest.raises(InputError):
        keys.load_private_key(data, b"pw")


def test_keygen_keys_decrypt_with_an_independent_implementation() -> None:
    pair = keys.generate_key_pair(b"correct horse")
    text = pair.private_pem.decode()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    body = "".join(text.splitlines()[1:-1])
    document = json.loads(base64.b64decode(body))
    assert document["kdf"]["name"] == "scrypt"
    assert document["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert document["cipher"]["name"] == "nacl/secretbox"
    salt = base64.b64decode(document["kdf"]["salt"])
    nonce = base64.b64decode(document["cipher"]["nonce"])
    secret = hashlib.scrypt(b"correct horse", salt=salt, n=65536, r=8, p=1, dklen=32, maxmem=2**30)
    der = nacl.bindings.crypto_secretbox_open(
        base64.b64decode(document["ciphertext"]), nonce, secret
    )
    private = serialization.load_der_private_key(der, password=None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert der[:6] == b"\x30\x81\x87\x02\x01\x00"  # SEQUENCE { INTEGER 0 (PKCS#8 v1)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert public == pair.public_pem


def test_public_key_loading() -> None:
    assert isinstance(
        keys.load_public_key((KEYS / "sigstore-labeled-ec.derived.pub").read_bytes()),
        ec.EllipticCurvePublicKey,
    )
    with pytest.raises(InputError, match="not a PEM public key"):
        keys.load_public_key(b"garbage")
