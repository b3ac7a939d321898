"""`shipstep verify-signature`: Verify an image's signatures against keys, identities or a policy."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.cli._signing import registry_client, registry_options
from shipstep.errors import InputError

if TYPE_CHECKING:
    pass


@cli_command(
    "verify-signature",
)
@click.option(
    "--image", required=True, help="The image: REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST."
)
@click.option(
    "--key",
    "keys",
    multiple=True,
    help="A public key PEM path or awskms:// reference (repeatable).",
)
@click.option("--certificate-identity", help="Keyless: the exact certificate identity (SAN).")
@click.option(
    "--certificate-identity-regexp", help="Keyless: a regular expression the identity must match."
)
@click.option(
    "--certificate-oidc-issuer",
    help="Keyless: the OIDC issuer, e.g. https://token.actions.githubusercontent.com.",
)
@click.option(
    "--certificate-github-workflow-repository",
    help="Keyless: the GitHub repository (owner/name) that signed.",
)
@click.option(
    "--certificate-github-workflow-ref", help="Keyless: the git ref of the signing workflow run."
)
@click.option(
    "--trusted-root",
    type=click.Path(dir_okay=False),
    help="Sigstore trusted_root.json, for offline keyless verification.",
)
@click.option(
    "--policy",
    type=click.Path(dir_okay=False),
    help="A policy file (YAML); replaces --key and the identity flags.",
)
@registry_options
@click.pass_context
def command(
    ctx: click.Context,
    image: str,
    keys: tuple[str, ...],
    certificate_identity: str | None,
    certificate_identity_regexp: str | None,
    certificate_oidc_issuer: str | None,
    certificate_github_workflow_repository: str | None,
    certificate_github_workflow_ref: str | None,
    trusted_root: str | None,
    policy: str | None,
    registry_username: str | None,
    registry_password: str | None,
    docker_config: str | None,
    insecure_registries: tuple[str, ...],
) -> None:
    """Verify an image's signatures against keys, identities or a policy.

    Exits 1 when no signature satisfies the keys, identities or policy, and
    lists every signature found with the reason it does not count.
    """
    from shipstep.signing import awskms
    from shipstep.signing.bundle import KeylessIdentity, load_trusted_root
    from shipstep.signing.policy import Policy
    from shipstep.steps.verify_signature import verify_signature

    state = state_of(ctx)
    identity_flags = [
        certificate_identity,
        certificate_identity_regexp,
        certificate_github_workflow_repository,
        certificate_github_workflow_ref,
    ]
    wants_keyless = any(identity_flags) or certificate_oidc_issuer
    if policy:
        if keys or wants_keyless:
            raise InputError(
                "--policy replaces --key and the --certificate-* flags: pass one or the other."
            )
        chosen = Policy.load(policy)
    else:
        if not keys and not wants_keyless:
            raise InputError(
                "Nothing to verify against.",
                hint="Pass --key PUB (repeatable), keyless --certificate-identity[-regexp] with "
                "--certificate-oidc-issuer, or --policy FILE.",
            )
        identities = []
        if wants_keyless:
            if not certificate_oidc_issuer:
                raise InputError("Keyless verification needs --certificate-oidc-issuer.")
            identities.append(
                KeylessIdentity(
                    issuer=certificate_oidc_issuer,
                    subject=certificate_identity,
                    subject_regexp=certificate_identity_regexp,
                    github_workflow_repository=certificate_github_workflow_repository,
                    github_workflow_ref=certificate_github_workflow_ref,
                )
            )
        for key in keys:
            if not awskms.is_kms_ref(key) and not Path(key).is_file():
                raise InputError(
                    f"--key {key}: no such file.",
                    hint="Pass the public key (.pub) written by keygen.",
                )
        # Without --trusted-root, Sigstore's public root is fetched when a bundle needs it.
        root = load_trusted_root(trusted_root) if trusted_root else None
        chosen = Policy.single_rule(list(keys), identities, root)
    client = registry_client(
        state.reporter, registry_username, registry_password, docker_config, insecure_registries
    )
    emit(ctx, verify_signature(client, image, chosen, reporter=state.reporter))
