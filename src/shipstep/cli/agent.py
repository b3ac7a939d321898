"""`shipstep agent`: Run the in-cluster pull agent: verify, apply, prune, correct drift."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "agent", short_help="Run the in-cluster pull agent: verify, apply, prune, correct drift."
)
def command() -> None:
    """Run the in-cluster pull agent: verify, apply, prune, correct drift."""
    raise ShipstepError(
        "`shipstep agent` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
