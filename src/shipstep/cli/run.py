"""`shipstep run`: build -> test -> publish -> sign -> bump from shipstep.yaml.

Every setting of shipstep.yaml also has a flag (see `shipstep.config.SETTINGS`);
flags win over the file. In a developer's shell, settings absent from both
take the local defaults (registry 127.0.0.1:5000, key .shipstep/cosign.key,
config repository .shipstep/config-repo.git with the local forge).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.cli._signing import signer_for
from shipstep.config import RunConfig, load_config
from shipstep.errors import InputError
from shipstep.forges.factory import make_forge
from shipstep.forges.interface import Forge
from shipstep.progress import Reporter
from shipstep.signing import keyless as keyless_signing
from shipstep.steps.run import Signing, run_chain

# Option name -> dotted key of shipstep.yaml (shipstep.config.SETTINGS has the flags).
OPTION_KEYS = {
    "image": "image.name",
    "context": "image.context",
    "dockerfile": "image.dockerfile",
    "tags": "image.tags",
    "build_args": "image.build-args",
    "target": "image.target",
    "test_command": "image.test.command",
    "test_timeout": "image.test.timeout",
    "test_report": "image.test.report",
    "registry": "registry.url",
    "registry_endpoint": "registry.endpoint",
    "ecr_account": "registry.ecr.account",
    "ecr_region": "registry.ecr.region",
    "signing_mode": "signing.mode",
    "key": "signing.key",
    "config_repo": "config-repo.url",
    "paths": "config-repo.paths",
    "forge": "config-repo.forge",
    "forge_repository": "config-repo.repository",
    "base": "config-repo.base-branch",
    "name": "config-repo.name",
}


def _build_args(values: tuple[str, ...]) -> dict[str, str] | None:
    if not values:
        return None
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, item = value.partition("=")
        if not sep or not name.strip():
            raise InputError(
                f"--build-arg {value!r} is not NAME=VALUE.",
                hint="For example --build-arg BASE=x:1.",
            )
        pairs[name.strip()] = item
    return pairs


def overrides_from(options: dict[str, Any]) -> dict[str, Any]:
    """The flags given, as dotted keys of shipstep.yaml."""
    overrides = {key: options.get(option) for option, key in OPTION_KEYS.items()}
    overrides["image.build-args"] = _build_args(options.get("build_args") or ())
    return {key: value for key, value in overrides.items() if value not in (None, (), "")}


def signing_for(config: RunConfig, reporter: Reporter) -> Signing:
    if config.signing.mode == "keyless":
        return Signing(keyless=keyless_signing.sign_statement)
    assert config.signing.key is not None
    key = config.signing.key
    if config.signing.mode == "key" and not key.startswith("env://") and not Path(key).is_file():
        raise InputError(
            f"the signing key {key} does not exist",
            hint="Create a key pair with `shipstep keygen --output-prefix .shipstep/cosign` "
            "(scripts/demo does it for the local defaults), or set signing.key / --key.",
        )
    return Signing(signer=signer_for(key, reporter))


def forge_for(config: RunConfig, token: str | None, reporter: Reporter) -> Forge:
    if token:
        reporter.mask(token)
    region = config.registry.ecr_region or os.environ.get("AWS_REGION")
    repo = config.config_repo
    if repo.forge == "github" and not token:
        raise InputError(
            "the GitHub forge needs a token to open the pull request",
            hint="Set GITHUB_TOKEN (or pass --token) with contents and pull-requests write on "
            "the config repository.",
        )
    author = ("shipstep", "shipstep@users.noreply.github.com")
    return make_forge(repo.forge, repo.url, repo.repository, token, None, region, author)


@cli_command("run")
@click.option(
    "-c",
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The configuration file (default: ./shipstep.yaml; optional when flags give everything).",
)
@click.option("--image", help="Image name in the registry (image.name), e.g. team/app.")
@click.option("--context", help="Build context (image.context).")
@click.option("--file", "dockerfile", help="Dockerfile path (image.dockerfile).")
@click.option("--tag", "tags", multiple=True, help="Tag to publish (image.tags); repeatable.")
@click.option(
    "--build-arg", "build_args", multiple=True, help="NAME=VALUE (image.build-args); repeatable."
)
@click.option("--target", help="Build stage (image.target).")
@click.option("--test-command", help="Test command run in the image (image.test.command).")
@click.option("--test-timeout", type=int, help="Seconds (image.test.timeout).")
@click.option("--test-report", help="JUnit XML path in the container (image.test.report).")
@click.option("--registry", help="Registry host[:port][/prefix] (registry.url).")
@click.option("--registry-endpoint", help="URL serving the registry's API (registry.endpoint).")
@click.option(
    "--ecr-account", help="12-digit AWS account of the ECR registry (registry.ecr.account)."
)
@click.option("--ecr-region", help="AWS region of the ECR registry (registry.ecr.region).")
@click.option(
    "--signing-mode",
    type=click.Choice(["key", "kms", "keyless"]),
    help="How to sign (signing.mode).",
)
@click.option("--key", help="Key file, env://VAR or awskms:// reference (signing.key).")
@click.option("--config-repo", help="Config repository URL or path (config-repo.url).")
@click.option("--path", "paths", multiple=True, help="Glob in the config repo (config-repo.paths).")
@click.option(
    "--forge",
    type=click.Choice(["github", "codecommit", "local"]),
    help="Where the PR is opened (config-repo.forge).",
)
@click.option(
    "--forge-repository",
    help="OWNER/NAME on GitHub, the name on CodeCommit (config-repo.repository).",
)
@click.option("--base", help="Base branch of the PR (config-repo.base-branch).")
@click.option("--name", help="Bump name, for the branch shipstep/bump/<name> (config-repo.name).")
@click.option(
    "--token",
    envvar="GITHUB_TOKEN",
    help="Forge token for the GitHub forge (default: $GITHUB_TOKEN). Never printed.",
)
@click.pass_context
def command(
    ctx: click.Context, /, config_file: Path | None, token: str | None, **options: Any
) -> None:
    """Run build, test, publish, sign and bump in one go from shipstep.yaml.

    \b
    shipstep run                              # ./shipstep.yaml (+ local defaults in a shell)
    shipstep run -c app/shipstep.yaml --tag 1.4.2 --key awskms:///alias/release

    The digest publish reads back is what sign signs and bump pins. Failing
    tests stop the chain before publish. Running it again after a failure
    continues safely: finished steps report unchanged.
    """
    state = state_of(ctx)
    provenance = state.runtime.provenance()
    config = load_config(
        config_file,
        overrides=overrides_from(options),
        local_defaults=state.runtime.name == "local",
        revision=provenance.revision,
    )
    for default in config.local_defaults:
        state.reporter.log(f"local default: {default}")
    signing = signing_for(config, state.reporter)
    forge = forge_for(config, token, state.reporter)
    emit(ctx, run_chain(config, signing, forge, provenance=provenance, reporter=state.reporter))
