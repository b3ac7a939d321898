"""`shipstep build`: Build a container image with the Docker engine and run its tests inside it."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "build",
    short_help="Build a container image with the Docker engine and run its tests inside it.",
)
def command() -> None:
    """Build a container image with the Docker engine and run its tests inside it."""
    raise ShipstepError(
        "`shipstep build` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
