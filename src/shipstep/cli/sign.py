"""`shipstep sign`: Sign an image digest: cosign key file, AWS KMS, or keyless Sigstore."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "sign", short_help="Sign an image digest: cosign key file, AWS KMS, or keyless Sigstore."
)
def command() -> None:
    """Sign an image digest: cosign key file, AWS KMS, or keyless Sigstore."""
    raise ShipstepError(
        "`shipstep sign` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
