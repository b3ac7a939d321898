"""`shipstep sign`: Sign an image digest: cosign key file, AWS KMS, or keyless Sigstore."""

from __future__ import annotations

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.cli._signing import registry_client, registry_options, signer_for
from shipstep.errors import InputError


def parse_annotations(values: tuple[str, ...]) -> dict[str, str]:
    annotations: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise InputError(
                f"Invalid annotation {value!r}: expected KEY=VALUE.",
                hint="For example -a run=1234.",
            )
        annotations[key.strip()] = text
    return annotations


@cli_command("sign")
@click.option(
    "--image", required=True, help="The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST."
)
@click.option(
    "--key",
    help="Private key: a cosign key file path (password in COSIGN_PASSWORD), env://VAR holding "
    "the PEM, or awskms:///alias/NAME / awskms://ENDPOINT/KEY_ID.",
)
@click.option("--keyless", is_flag=True, help="Sign keylessly with Sigstore (GitHub Actions OIDC).")
@click.option(
    "-a",
    "--annotation",
    "annotations",
    multiple=True,
    help="KEY=VALUE added to the signed payload's 'optional' map (repeatable).",
)
@registry_options
@click.pass_context
def command(
    ctx: click.Context,
    image: str,
    key: str | None,
    keyless: bool,
    annotations: tuple[str, ...],
    registry_username: str | None,
    registry_password: str | None,
    docker_config: str | None,
    insecure_registries: tuple[str, ...],
) -> None:
    """Sign an image digest: cosign key file, AWS KMS, or keyless Sigstore.

    A tag is resolved to its digest first; the signature names the digest.
    Key and KMS signatures are cosign classic signatures (the sha256-<hex>.sig
    tag); keyless signatures are Sigstore bundles attached as OCI referrers.
    Signing again with the same key and annotations changes nothing.
    """
    state = state_of(ctx)
    if bool(key) == keyless:
        raise InputError(
            "Pass exactly one of --key and --keyless.",
            hint="--key cosign.key (or awskms:///alias/NAME) for a key, --keyless on GitHub Actions.",
        )
    extra = parse_annotations(annotations)
    if keyless and extra:
        raise InputError("-a/--annotation applies to key signatures (classic format) only.")
    from shipstep.signing import keyless as keyless_signing
    from shipstep.steps.sign import sign_classic, sign_keyless

    client = registry_client(
        state.reporter, registry_username, registry_password, docker_config, insecure_registries
    )
    if key:
        signer = signer_for(key, state.reporter)
        result = sign_classic(client, image, signer, extra, reporter=state.reporter)
    else:
        result = sign_keyless(
            client, image, keyless_signing.sign_statement, reporter=state.reporter
        )
    emit(ctx, result)
