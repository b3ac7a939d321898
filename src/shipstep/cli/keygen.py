"""`shipstep keygen`: Write a cosign-compatible encrypted key pair."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command("keygen", short_help="Write a cosign-compatible encrypted key pair.")
def command() -> None:
    """Write a cosign-compatible encrypted key pair."""
    raise ShipstepError(
        "`shipstep keygen` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
