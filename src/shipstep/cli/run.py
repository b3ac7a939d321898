"""`shipstep run`: Run build, publish, sign and bump in one go from shipstep.yaml."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command("run", short_help="Run build, publish, sign and bump in one go from shipstep.yaml.")
def command() -> None:
    """Run build, publish, sign and bump in one go from shipstep.yaml."""
    raise ShipstepError(
        "`shipstep run` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
