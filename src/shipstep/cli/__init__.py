"""The `shipstep` command line: a click group, one module per command.

Exit codes: 0 success; 1 the step failed (tests failed, a signature did not
verify, a rollout is unhealthy) or an operation failed; 2 usage error (bad
flag, missing or invalid input, bad configuration; nothing was done);
130 interrupted.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence

import click

from shipstep import __version__
from shipstep.cli._app import ShipstepGroup, run_cli, state_of

# Command name -> (module under shipstep.cli, one-line description). Modules
# are imported only when their command runs: `shipstep build` need not load
# kubernetes, sigstore and boto3.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": (
        "build",
        "Build a container image with the Docker engine and run its tests inside it.",
    ),
    "publish": (
        "publish",
        "Push an image to Amazon ECR or any OCI registry, or copy one between registries.",
    ),
    "sign": ("sign", "Sign an image digest: cosign key file, AWS KMS, or keyless Sigstore."),
    "verify-signature": (
        "verify_signature",
        "Verify an image's signatures against keys, identities or a policy.",
    ),
    "keygen": ("keygen", "Write a cosign-compatible encrypted key pair."),
    "bump": (
        "bump",
        "Update an image reference in a GitOps config repository and open a pull request.",
    ),
    "agent": ("agent", "Run the in-cluster pull agent: verify, apply, prune, correct drift."),
    "verify": (
        "verify",
        "Prove the cluster runs exactly the signed digest; open a revert PR if not.",
    ),
    "run": ("run", "Run build, test, publish, sign and bump in one go from shipstep.yaml."),
}
# Commands left out of --help: helpers for the local demo (docs/run.md).
HIDDEN_COMMANDS: dict[str, str] = {"local-merge": "local_merge"}


class LazyGroup(ShipstepGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *HIDDEN_COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            if cmd_name in COMMANDS:
                module_name = COMMANDS[cmd_name][0]
            elif cmd_name in HIDDEN_COMMANDS:
                module_name = HIDDEN_COMMANDS[cmd_name]
            else:
                return None
            module = importlib.import_module(f"shipstep.cli.{module_name}")
            self.add_command(module.command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
        rows += [
            (name, command.get_short_help_str(formatter.width))
            for name, command in sorted(self.commands.items())
            if name not in COMMANDS and not command.hidden
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
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


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> None:
    sys.exit(run_cli(cli, argv, environ))
