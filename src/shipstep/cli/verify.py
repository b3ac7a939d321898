"""`shipstep verify`: Prove the cluster runs exactly the signed digest; open a revert PR if not."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "verify",
    short_help="Prove the cluster runs exactly the signed digest; open a revert PR if not.",
)
def command() -> None:
    """Prove the cluster runs exactly the signed digest; open a revert PR if not."""
    raise ShipstepError(
        "`shipstep verify` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
