"""`shipstep publish`: Push an image to Amazon ECR or any OCI registry, or copy one between registries."""

from __future__ import annotations

from shipstep.cli._app import cli_command
from shipstep.errors import ShipstepError


@cli_command(
    "publish",
    short_help="Push an image to Amazon ECR or any OCI registry, or copy one between registries.",
)
def command() -> None:
    """Push an image to Amazon ECR or any OCI registry, or copy one between registries."""
    raise ShipstepError(
        "`shipstep publish` is not available in this version of shipstep yet.",
        hint="Upgrade shipstep; see the README for the steps this version provides.",
    )
