"""`shipstep keygen`: Write a cosign-compatible encrypted key pair."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.cli._signing import key_password
from shipstep.errors import InputError
from shipstep.result import OutputValue


@dataclass(frozen=True)
class KeygenResult:
    private_key: Path
    public_key: Path

    @property
    def succeeded(self) -> bool:
        return True

    def outputs(self) -> Mapping[str, OutputValue]:
        return {"private-key": str(self.private_key), "public-key": str(self.public_key)}

    def summary_markdown(self) -> str:
        return f"### Key pair\n\nPublic key: `{self.public_key}`\n"

    def text(self) -> str:
        return f"Private key written to {self.private_key}\nPublic key written to {self.public_key}"


def write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@cli_command("keygen")
@click.option(
    "--output-prefix",
    default="cosign",
    show_default=True,
    help="Writes PREFIX.key (encrypted private key) and PREFIX.pub (public key).",
)
@click.pass_context
def command(ctx: click.Context, output_prefix: str) -> None:
    """Write a cosign-compatible encrypted key pair.

    The private key is a cosign `ENCRYPTED SIGSTORE PRIVATE KEY` (scrypt
    N=65536, r=8, p=1, NaCl secretbox, PKCS#8 ECDSA P-256) protected by
    COSIGN_PASSWORD (prompted for on a terminal); existing files are never
    overwritten.
    """
    from shipstep.signing.keys import generate_key_pair

    state = state_of(ctx)
    private_path, public_path = Path(f"{output_prefix}.key"), Path(f"{output_prefix}.pub")
    existing = [str(p) for p in (private_path, public_path) if p.exists()]
    if existing:
        raise InputError(
            f"Refusing to overwrite {' and '.join(existing)}.",
            hint="Choose another --output-prefix, or move the existing key pair away first.",
        )
    if not private_path.parent.is_dir():
        raise InputError(f"Directory {private_path.parent} does not exist.")
    password = key_password(confirm=True)
    if password:
        state.reporter.mask(password.decode(errors="replace"))
    pair = generate_key_pair(password)
    try:
        write_new(private_path, pair.private_pem, 0o600)
    except FileExistsError:
        raise InputError(f"Refusing to overwrite {private_path}.") from None
    try:
        write_new(public_path, pair.public_pem, 0o644)
    except FileExistsError:
        private_path.unlink()  # leave nothing half-written behind
        raise InputError(f"Refusing to overwrite {public_path}.") from None
    emit(ctx, KeygenResult(private_path, public_path))
