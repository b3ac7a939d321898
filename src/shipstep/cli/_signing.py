"""What the sign, verify-signature and keygen commands share: the registry
client, signers from `--key`, and the key password."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipstep.errors import InputError
from shipstep.progress import Reporter

if TYPE_CHECKING:  # the imports themselves happen in the functions: `--help` stays fast
    from shipstep.oci.client import RegistryClient
    from shipstep.signing.interface import Signer

ENV_SCHEME = "env://"


def registry_options(function: click.decorators.FC) -> click.decorators.FC:
    function = click.option(
        "--insecure-registry",
        "insecure_registries",
        multiple=True,
        metavar="HOST",
        help="Allow plain HTTP or unverified TLS for HOST (loopback hosts always use HTTP).",
    )(function)
    function = click.option(
        "--docker-config",
        type=click.Path(dir_okay=False),
        help="A Docker config.json for registry credentials (default ~/.docker/config.json).",
    )(function)
    function = click.option(
        "--registry-password",
        envvar="SHIPSTEP_REGISTRY_PASSWORD",
        help="Registry password or token (else ECR tokens via AWS, else the Docker config).",
    )(function)
    return click.option("--registry-username", help="Registry user name.")(function)


def registry_client(
    reporter: Reporter,
    username: str | None,
    password: str | None,
    docker_config: str | None = None,
    insecure_registries: tuple[str, ...] = (),
) -> RegistryClient:
    from shipstep.oci.auth import (
        ChainCredentials,
        CredentialProvider,
        DockerConfig,
        StaticCredentials,
    )
    from shipstep.oci.client import RegistryClient
    from shipstep.oci.ecr import EcrCredentials

    providers: list[CredentialProvider] = []
    if username or password:
        if not (username and password):
            raise InputError(
                "--registry-username and --registry-password go together.",
                hint="Pass both, or neither to use ECR or Docker config credentials.",
            )
        reporter.mask(password)
        providers.append(
            StaticCredentials(username, password, source="--registry-username/--registry-password")
        )
    providers += [EcrCredentials(), DockerConfig(Path(docker_config) if docker_config else None)]
    return RegistryClient(
        ChainCredentials(providers), reporter=reporter, insecure_registries=insecure_registries
    )


def key_password(*, confirm: bool = False) -> bytes:
    """COSIGN_PASSWORD (as cosign reads it; empty is a valid password), else a
    prompt on a terminal."""
    value = os.environ.get("COSIGN_PASSWORD")
    if value is not None:
        return value.encode()
    if sys.stdin.isatty():
        entered = click.prompt(
            "Password for the private key", hide_input=True, confirmation_prompt=confirm, err=True
        )
        return str(entered).encode()
    raise InputError(
        "The key's password is needed and COSIGN_PASSWORD is not set.",
        hint="Set COSIGN_PASSWORD (from a CI secret); an empty value means no password.",
    )


def load_key_material(reference: str) -> tuple[bytes, str]:
    """The bytes of `--key`: a file path or env://VARIABLE."""
    from shipstep.signing import keys

    if reference.startswith(ENV_SCHEME):
        name = reference[len(ENV_SCHEME) :]
        value = os.environ.get(name)
        if not value:
            raise InputError(
                f"--key {reference}: environment variable {name} is not set or empty.",
                hint="Pass the key's PEM in that variable (from a CI secret).",
            )
        return value.encode(), f"${name}"
    return keys.read_key_file(Path(reference), "Key file"), reference


def signer_for(reference: str, reporter: Reporter) -> Signer:
    from shipstep.signing import awskms, keys

    if awskms.is_kms_ref(reference):
        return awskms.KmsSigner(reference)
    data, source = load_key_material(reference)
    if reference.startswith(ENV_SCHEME):
        reporter.mask(data.decode(errors="replace"))
    password = None
    if any(block.label in keys.ENCRYPTED_LABELS for block in keys.pem_blocks(data)):
        password = key_password()
        if password:
            reporter.mask(password.decode(errors="replace"))
    return keys.KeySigner(keys.load_private_key(data, password, source=source), name=source)
