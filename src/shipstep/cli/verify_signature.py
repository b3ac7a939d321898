"""`shipstep verify-signature`: Verify an image's signatures against keys, identities or a policy."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "verify-signature",
    short_help="Verify an image's signatures against keys, identities or a policy.",
)
def command() -> None:
    """Verify an image's signatures against keys, identities or a policy."""
    raise ShipstepError(
        "`shipstep verify-signature` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
