"""`shipstep bump`: Update an image reference in a GitOps config repository and open a pull request."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "bump",
    short_help="Update an image reference in a GitOps config repository and open a pull request.",
)
def command() -> None:
    """Update an image reference in a GitOps config repository and open a pull request."""
    raise ShipstepError(
        "`shipstep bump` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
