"""`shipstep publish`: Push an image to Amazon ECR or any OCI registry, or copy one between registries."""

from __future__ import annotations

import json
from pathlib import Path

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.errors import InputError

MAX_POLICY_BYTES = 30 * 1024  # ECR's limit for lifecycle policy text


def _pairs(values: tuple[str, ...], option: str, example: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, item = value.partition("=")
        if not sep or not key.strip() or not item.strip():
            raise InputError(f"Invalid {option} {value!r}: expected {example}.")
        pairs[key.strip()] = item.strip()
    return pairs


def _lifecycle_policy(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        text = path.read_text()
    except OSError as error:
        raise InputError(
            f"Cannot read the lifecycle policy {path}: {error.strerror}.", file=str(path)
        ) from None
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise InputError(
            f"The lifecycle policy {path} is larger than ECR's 30 KiB limit.", file=str(path)
        )
    try:
        policy = json.loads(text)
    except ValueError as error:
        line = getattr(error, "lineno", None)
        raise InputError(
            f"The lifecycle policy {path} is not valid JSON: {error}.", file=str(path), line=line
        ) from None
    if not isinstance(policy, dict) or not isinstance(policy.get("rules"), list):
        raise InputError(
            f"The lifecycle policy {path} has no 'rules' list.",
            file=str(path),
            hint='See the ECR lifecycle policy format: {"rules": [{"rulePriority": 1, ...}]}.',
        )
    return text


@cli_command(
    "publish",
)
@click.option("--image", metavar="LOCAL_REF", help="A local image in the Docker engine to push.")
@click.option(
    "--from", "source", metavar="SRC_REF", help="An image in a registry to copy (by digest)."
)
@click.option("--to", required=True, metavar="REGISTRY/REPO[:TAG]", help="Where to publish.")
@click.option(
    "--tag", "tags", multiple=True, help="More tags for the published digest (repeatable)."
)
@click.option(
    "--with-signatures",
    is_flag=True,
    help="With --from: also copy cosign signatures and OCI referrers.",
)
@click.option(
    "--insecure-registry",
    "insecure",
    multiple=True,
    metavar="HOST",
    help="Allow HTTP or unverified TLS for HOST.",
)
@click.option(
    "--registry-endpoint",
    "endpoints",
    multiple=True,
    metavar="HOST=URL",
    help="Send HOST's registry API to URL (a proxy, a VPC endpoint, a local registry in tests).",
)
@click.option(
    "--aws-endpoint-url",
    metavar="URL",
    help="ECR control-plane endpoint (else AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL).",
)
# --registry-username/--registry-password: the spelling sign, verify and bump use.
@click.option(
    "--username",
    "--registry-username",
    "username",
    help="Registry user name (else ECR tokens, then the Docker config).",
)
@click.option(
    "--password",
    "--registry-password",
    "password",
    envvar="SHIPSTEP_REGISTRY_PASSWORD",
    help="Registry password (prefer env SHIPSTEP_REGISTRY_PASSWORD).",
)
@click.option(
    "--docker-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A Docker config.json for credentials.",
)
@click.option(
    "--create-repository/--no-create-repository",
    default=True,
    show_default=True,
    help="ECR: create the repository when absent.",
)
@click.option(
    "--tag-immutability/--no-tag-immutability",
    default=False,
    show_default=True,
    help="ECR: create the repository with immutable tags.",
)
@click.option(
    "--immutable-exclusion",
    "exclusions",
    multiple=True,
    default=("sha256-*",),
    show_default=True,
    help="ECR: tag patterns that stay mutable (signature tags).",
)
@click.option("--scan-on-push", is_flag=True, help="ECR: create the repository with scan on push.")
@click.option(
    "--kms-key", metavar="ARN|ALIAS", help="ECR: encrypt a new repository with this KMS key."
)
@click.option(
    "--lifecycle-policy",
    type=click.Path(path_type=Path, dir_okay=False),
    help="ECR: lifecycle policy JSON file for a new repository.",
)
@click.option(
    "--repository-tag",
    "repository_tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="ECR: resource tags for a new repository.",
)
@click.option(
    "--scan-gate",
    metavar="SEVERITY",
    help="ECR: wait for the scan; fail on findings at or above SEVERITY.",
)
@click.option(
    "--scan-timeout",
    type=float,
    default=600.0,
    show_default=True,
    help="Seconds to wait for the scan.",
)
@click.option(
    "--compression-level",
    type=click.IntRange(0, 9),
    default=1,
    show_default=True,
    help="gzip level for layers pushed from the engine.",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 20),
    default=5,
    show_default=True,
    help="Retries on 429/5xx and connection failures.",
)
@click.pass_context
def command(
    ctx: click.Context,
    image: str | None,
    source: str | None,
    to: str,
    tags: tuple[str, ...],
    with_signatures: bool,
    insecure: tuple[str, ...],
    endpoints: tuple[str, ...],
    aws_endpoint_url: str | None,
    username: str | None,
    password: str | None,
    docker_config: Path | None,
    create_repository: bool,
    tag_immutability: bool,
    exclusions: tuple[str, ...],
    scan_on_push: bool,
    kms_key: str | None,
    lifecycle_policy: Path | None,
    repository_tags: tuple[str, ...],
    scan_gate: str | None,
    scan_timeout: float,
    compression_level: int,
    retries: int,
) -> None:
    """Push an image to Amazon ECR or any OCI registry, or copy one between registries.

    \b
    shipstep publish --image app:build --to 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1.2.3
    shipstep publish --from REG/app@sha256:... --to OTHER/app:prod --with-signatures

    Outputs registry, repository, digest, image (registry/repo@sha256:...),
    tags and operation (pushed / unchanged).
    """
    # Imported here: `shipstep --help` and the other commands stay fast.
    from shipstep.oci.ecr_repository import RepositorySettings, parse_severity
    from shipstep.steps.publish import PublishInputs, publish

    state = state_of(ctx)
    if with_signatures and not source:
        raise InputError("--with-signatures applies to --from copies only.")
    inputs = PublishInputs(
        to=to,
        image=image or None,
        source=source or None,
        tags=[t for t in tags if t.strip()],
        with_signatures=with_signatures,
        insecure_registries=list(insecure),
        registry_endpoints=_pairs(endpoints, "--registry-endpoint", "HOST=URL"),
        aws_endpoint_url=aws_endpoint_url or None,
        username=username or None,
        password=password or None,
        docker_config=docker_config,
        create_repository=create_repository,
        repository=RepositorySettings(
            tag_immutability=tag_immutability,
            immutable_exclusions=tuple(e for e in exclusions if e.strip()),
            scan_on_push=scan_on_push,
            kms_key=kms_key or None,
            lifecycle_policy=_lifecycle_policy(lifecycle_policy),
            tags=_pairs(repository_tags, "--repository-tag", "KEY=VALUE"),
        ),
        scan_gate=parse_severity(scan_gate) if scan_gate else None,
        scan_timeout=scan_timeout,
        compression_level=compression_level,
        retries=retries,
    )
    for url in inputs.registry_endpoints.values():
        if not url.startswith(("http://", "https://")):
            raise InputError(
                f"Invalid --registry-endpoint URL {url!r}: expected http:// or https://."
            )
    emit(ctx, publish(inputs, reporter=state.reporter))
