"""The `shipstep` command line: a click group, one module per command.

Exit codes: 0 success; 1 the step failed (tests failed, a signature did not
verify, a rollout is unhealthy) or an operation failed; 2 usage error (bad
flag, missing or invalid input, bad configuration; nothing was done);
130 interrupted.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import click

from shipstep import __version__
from shipstep.cli import (
    agent,
    build,
    bump,
    keygen,
    local_merge,
    publish,
    run,
    sign,
    verify,
    verify_signature,
)
from shipstep.cli._app import ShipstepGroup, run_cli, state_of


@click.group(
    cls=ShipstepGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="shipstep")
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people; json prints exactly one JSON object of the outputs on stdout.",
)
@click.pass_context
def cli(ctx: click.Context, output: str) -> None:
    """Composable pipeline steps for GitOps delivery on AWS.

    A CI chain runs build -> publish -> sign -> bump and stops at a pull
    request against the config repository; in the cluster, the agent applies
    the merged state and `verify` proves it runs the signed digest.
    """
    state_of(ctx).output = output


for _module in (build, publish, sign, verify_signature, keygen, bump, agent, verify, run):
    cli.add_command(_module.command)
cli.add_command(local_merge.command)  # hidden: a helper of the local forge, not a pipeline step


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    sys.exit(run_cli(cli, argv, environ))
