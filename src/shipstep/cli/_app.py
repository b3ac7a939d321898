"""The machinery every command shares: inputs from the runtime, one way to
emit results, one place where errors become diagnostics and exit codes."""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from shipstep.cli._reporting import reporter_for
from shipstep.errors import ExitCode, ShipstepError
from shipstep.progress import Reporter
from shipstep.result import StepResult
from shipstep.runtime import Runtime, detect

# Inputs and environment variables whose values are secrets: masked in CI
# logs before anything else is printed.
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSPHRASE|SECRET|PRIVATE[-_]KEY|CREDENTIAL", re.I)
SECRET_ENVIRONMENT = (
    "COSIGN_PASSWORD",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)


@dataclass
class AppState:
    """What a command gets through `click.Context.obj`."""

    runtime: Runtime
    output: str = "text"
    # Run through the root action.yml: outputs are also exported as `result`.
    root_action: bool = False
    reporter: Reporter = field(init=False)

    def __post_init__(self) -> None:
        self.reporter = reporter_for(self.runtime)


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def mask_environment_secrets(runtime: Runtime, environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        is_secret_input = name.startswith("INPUT_") and SECRET_NAME.search(name[6:])
        if value and (is_secret_input or name in SECRET_ENVIRONMENT):
            for line in runtime.mask_command(value):
                stderr_line(line)


def input_name(param: click.Parameter) -> str:
    """The action input that feeds an option: `--test-command` <- `test-command`."""
    for opt in param.opts:
        if opt.startswith("--"):
            return opt[2:]
    assert param.name is not None
    return param.name.replace("_", "-")


def _input_value(param: click.Option, raw: str) -> Any:
    if param.is_flag:
        return raw.lower() in ("true", "1", "yes", "on")
    if param.multiple or param.nargs != 1:
        return [line.strip() for line in raw.splitlines() if line.strip()]
    return raw


class ShipstepCommand(click.Command):
    """A command whose options also come from the runtime's inputs.

    In GitHub Actions, an option without a value on the command line takes
    the action input of the same name (`--test-command` <- `INPUT_TEST-COMMAND`).
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        state = parent.obj if parent is not None else None
        if isinstance(state, AppState):
            defaults: dict[str, Any] = {}
            for param in self.params:
                if isinstance(param, click.Option) and param.name:
                    raw = state.runtime.input(input_name(param))
                    if raw is not None:
                        defaults[param.name] = _input_value(param, raw)
            if defaults:
                extra.setdefault("default_map", defaults)
        return super().make_context(info_name, args, parent, **extra)


class ShipstepGroup(click.Group):
    command_class = ShipstepCommand

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            matches = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{matches[0]}'?" if matches else ""
            ctx.fail(f"No such command '{name}'.{hint}")
        return super().resolve_command(ctx, args)


def state_of(ctx: click.Context) -> AppState:
    state = ctx.find_object(AppState)
    if state is None:  # a command invoked outside the group, as in some tests
        state = AppState(runtime=detect())
        ctx.obj = state
    return state


def emit(ctx: click.Context, result: StepResult) -> None:
    """Print and export a step's result; exit 1 if its verdict is failure."""
    state = state_of(ctx)
    outputs = dict(result.outputs())
    state.runtime.write_outputs(
        {**outputs, "result": json.dumps(outputs, sort_keys=True)} if state.root_action else outputs
    )
    state.runtime.write_summary(result.summary_markdown())
    if state.output == "json":
        click.echo(json.dumps(outputs, sort_keys=True))
    else:
        click.echo(result.text())
    if not result.succeeded:
        ctx.exit(ExitCode.FAILURE)


def _report_error(state: AppState, error: ShipstepError) -> None:
    annotation = state.runtime.error_command(
        error.message, file=error.file, line=error.line, title=error.title
    )
    if annotation:
        stderr_line(annotation)
    prefix = click.style("error:", fg="red", bold=True) if sys.stderr.isatty() else "error:"
    stderr_line(f"{prefix} {error.diagnostic()}")
    if state.output == "json":
        click.echo(json.dumps({"error": error.message, "hint": error.hint}, sort_keys=True))


def _report_missing_input(state: AppState, error: click.MissingParameter) -> None:
    param = error.param
    if state.runtime.name == "github-actions" and param is not None and param.name:
        annotation = state.runtime.error_command(
            f"Input '{input_name(param)}' is required.",
            file=None,
            line=None,
            title="Missing input",
        )
        if annotation:
            stderr_line(annotation)


def root_action_argv(runtime: Runtime) -> list[str]:
    """The command line the root action.yml asks for: its `step` input, then
    one argument per line of `args`. Never through a shell."""
    argv = []
    if (runtime.input("output-format") or "text") == "json":
        argv += ["--output", "json"]
    argv.append(runtime.input("step") or "")
    argv += [line.strip() for line in (runtime.input("args") or "").splitlines() if line.strip()]
    return argv


def run_cli(
    group: click.Group, argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """Run the CLI and return the exit code; the only place errors are caught."""
    env = os.environ if environ is None else environ
    runtime = detect(env)
    mask_environment_secrets(runtime, env)
    state = AppState(runtime=runtime)
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and runtime.input("step"):
        args = root_action_argv(runtime)
        state.root_action = True
    try:
        # With standalone_mode off, click returns the code of `ctx.exit(n)`
        # (and of --help/--version) instead of calling sys.exit.
        code = group.main(args=args, prog_name="shipstep", obj=state, standalone_mode=False)
    except ShipstepError as error:
        _report_error(state, error)
        return int(error.exit_code)
    except click.MissingParameter as error:
        _report_missing_input(state, error)
        error.show()
        return ExitCode.USAGE
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except (click.Abort, KeyboardInterrupt):
        stderr_line("Interrupted.")
        return ExitCode.INTERRUPTED
    return code if isinstance(code, int) else ExitCode.OK


def cli_command(name: str, **attrs: Any) -> Callable[[Callable[..., Any]], ShipstepCommand]:
    """`click.command` for shipstep: options also read from the runtime's inputs."""
    return click.command(name, cls=ShipstepCommand, **attrs)
