"""`shipstep verify`: Prove the cluster runs exactly the signed digest; open a revert PR if not."""

from __future__ import annotations

from pathlib import Path

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.cli._signing import registry_options
from shipstep.cli._verify_support import REVERT_AUTHOR, make_verifier
from shipstep.cluster.access import ClusterOptions
from shipstep.forges.factory import make_forge
from shipstep.steps.verify.revert import RevertOptions
from shipstep.steps.verify.rollout import Targets
from shipstep.steps.verify.run import VerifyInputs, run_verify, validate
from shipstep.steps.verify.wait import WaitOptions


@cli_command(
    "verify",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="REPO@sha256:DIGEST",
    help="An expected image, pinned by digest (repeatable).",
)
@click.option(
    "--merge-commit",
    metavar="SHA",
    help="The bump's merge commit in the config repo: the agent must report it (or a later commit containing it) applied; without --image, the images are read from its diff.",
)
@click.option(
    "--pr",
    "pull_request",
    type=click.IntRange(min=1),
    metavar="NUMBER",
    help="The bump pull request, merged: its merge commit is read from the forge (instead of --merge-commit).",
)
@click.option(
    "--config-repo",
    metavar="URL_OR_PATH",
    help="The GitOps config repository (cloned to check commits and to revert).",
)
@click.option(
    "--token",
    envvar="GITHUB_TOKEN",
    help="Token for the config repo and its forge (default: $GITHUB_TOKEN). Never printed.",
)
@click.option("--namespace", "-n", required=True, help="Namespace of the workloads.")
@click.option(
    "--workload",
    "workloads",
    multiple=True,
    metavar="[KIND/]NAME",
    help="A workload to check: NAME (a Deployment), deployment/NAME, statefulset/NAME or daemonset/NAME (repeatable).",
)
@click.option(
    "--selector",
    "-l",
    metavar="LABELS",
    help="Check the Deployments, StatefulSets and DaemonSets matching this label selector instead.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).",
)
@click.option("--context", help="Kubeconfig context.")
@click.option("--in-cluster", is_flag=True, help="Use the pod's service account.")
@click.option(
    "--eks-cluster",
    metavar="NAME",
    help="Amazon EKS cluster: endpoint, CA and token from AWS (no aws CLI needed).",
)
@click.option("--region", help="AWS region of the EKS cluster and CloudWatch alarms.")
@click.option(
    "--agent-namespace",
    default="shipstep-system",
    show_default=True,
    help="Namespace of the shipstep agent's status ConfigMap.",
)
@click.option(
    "--agent-name",
    default="shipstep",
    show_default=True,
    help="The agent's instance name (ConfigMap NAME-status).",
)
@click.option(
    "--policy",
    type=click.Path(path_type=Path),
    help="Signature policy file (the sign step's); required unless --skip-signatures.",
)
@click.option("--skip-signatures", is_flag=True, help="Do not check signatures (not recommended).")
@click.option(
    "--smoke",
    multiple=True,
    metavar="'URL [status=CODE] [body=REGEX]'",
    help="HTTP smoke check (repeatable).",
)
@click.option(
    "--smoke-attempts",
    type=int,
    default=5,
    show_default=True,
    help="Attempts per smoke check, --poll-interval apart.",
)
@click.option("--prometheus-url", help="Prometheus base URL for --prometheus-check.")
@click.option(
    "--prometheus-check",
    "prometheus_checks",
    multiple=True,
    metavar="'QUERY OP NUMBER'",
    help="Instant query whose every sample must satisfy the comparison, e.g. 'job:errors:ratio5m < 0.01'.",
)
@click.option(
    "--cloudwatch-alarm",
    "alarms",
    multiple=True,
    metavar="NAME",
    help="A CloudWatch alarm that must not be in ALARM (repeatable).",
)
@click.option(
    "--timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to wait for the rollout.",
)
@click.option(
    "--poll-interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between reads of what cannot be watched (agent status, smoke retries).",
)
@click.option(
    "--no-watch",
    is_flag=True,
    help="List every poll interval instead of watching (for API servers or RBAC without watch).",
)
@click.option(
    "--report-file",
    type=click.Path(path_type=Path),
    default=Path("shipstep-verify-report.json"),
    show_default=True,
    help="Where to write the JSON report.",
)
@click.option(
    "--revert-on-failure",
    is_flag=True,
    help="When the rollout fails, open a revert PR of the merge commit on the config repo.",
)
@click.option(
    "--commit-status/--no-commit-status",
    default=None,
    help="Set the verdict as a commit status on the config commit "
    "(default: on when the forge is used for --pr or --revert-on-failure).",
)
@click.option(
    "--status-context",
    default="shipstep/verify",
    show_default=True,
    help="Context (name) of the commit status.",
)
@click.option(
    "--forge",
    type=click.Choice(["auto", "github", "codecommit", "local"]),
    default="auto",
    show_default=True,
    help="Where the config repo's pull requests live.",
)
@click.option(
    "--forge-repository",
    metavar="OWNER/NAME",
    help="The config repo on the forge (GitHub OWNER/NAME, CodeCommit repository name).",
)
@click.option(
    "--api-url", help="GitHub API URL (default: $GITHUB_API_URL or https://api.github.com)."
)
@click.option("--base", default="main", show_default=True, help="Branch the revert PR targets.")
@click.option(
    "--revert-label",
    "revert_labels",
    multiple=True,
    default=("shipstep/revert",),
    show_default=True,
    help="Labels of the revert PR (repeatable).",
)
@click.option(
    "--auto-merge",
    is_flag=True,
    help="Enable auto-merge on the revert PR where the forge supports it.",
)
@click.option(
    "--report-url",
    help="Link to the report for the revert PR body and the commit status (default: the CI run URL).",
)
@registry_options
@click.pass_context
def command(
    ctx: click.Context,
    images: tuple[str, ...],
    merge_commit: str | None,
    pull_request: int | None,
    config_repo: str | None,
    token: str | None,
    namespace: str,
    workloads: tuple[str, ...],
    selector: str | None,
    kubeconfig: Path | None,
    context: str | None,
    in_cluster: bool,
    eks_cluster: str | None,
    region: str | None,
    agent_namespace: str,
    agent_name: str,
    policy: Path | None,
    skip_signatures: bool,
    smoke: tuple[str, ...],
    smoke_attempts: int,
    prometheus_url: str | None,
    prometheus_checks: tuple[str, ...],
    alarms: tuple[str, ...],
    timeout: float,
    poll_interval: float,
    no_watch: bool,
    report_file: Path,
    revert_on_failure: bool,
    commit_status: bool | None,
    status_context: str,
    forge: str,
    forge_repository: str | None,
    api_url: str | None,
    base: str,
    revert_labels: tuple[str, ...],
    auto_merge: bool,
    report_url: str | None,
    registry_username: str | None,
    registry_password: str | None,
    docker_config: str | None,
    insecure_registries: tuple[str, ...],
) -> None:
    """Prove the cluster runs exactly the signed digest; open a revert PR if not.

    Checks, each reported separately: the agent applied the merge commit;
    every workload is healthy (kstatus); every running pod reports the
    expected digest and no older pod remains; every digest's signature
    verifies against the policy; optional HTTP, Prometheus and CloudWatch
    gates. Exit 0 when all pass, 1 when any fails, 2 for bad input.
    """
    state = state_of(ctx)
    if token:
        state.reporter.mask(token)
    report_url = report_url or state.runtime.provenance().run_url
    uses_forge = pull_request is not None or revert_on_failure or bool(commit_status)
    if commit_status is None:
        commit_status = uses_forge
    inputs = VerifyInputs(
        targets=Targets.of(namespace, list(workloads), selector or None),
        cluster=ClusterOptions(
            kubeconfig=kubeconfig,
            context=context or None,
            in_cluster=in_cluster,
            eks_cluster=eks_cluster or None,
            region=region or None,
        ),
        images=images,
        merge_commit=merge_commit or None,
        config_repo=config_repo or None,
        git_token=token or None,
        agent_namespace=agent_namespace,
        agent_name=agent_name,
        smoke=smoke,
        smoke_attempts=smoke_attempts,
        prometheus_url=prometheus_url or None,
        prometheus_checks=prometheus_checks,
        alarms=alarms,
        region=region or None,
        wait=WaitOptions(timeout=timeout, poll_interval=poll_interval, watch=not no_watch),
        report_file=report_file,
        skip_signatures=skip_signatures,
        pull_request=pull_request,
        revert=RevertOptions(
            base=base,
            labels=tuple(label for label in revert_labels if label.strip()),
            auto_merge=auto_merge,
            report_url=report_url,
        )
        if revert_on_failure
        else None,
        status_context=status_context if commit_status else None,
        report_url=report_url,
    )
    # Every input problem before a forge, registry or cluster is contacted.
    validate(inputs, has_verifier=bool(policy), has_forge=uses_forge and bool(config_repo))
    verifier = None
    if policy and not skip_signatures:
        verifier = make_verifier(
            policy,
            state.reporter,
            registry_username,
            registry_password,
            docker_config,
            insecure_registries,
        )
    made = None
    if uses_forge and config_repo:
        made = make_forge(
            forge,
            config_repo,
            forge_repository or None,
            token or None,
            api_url or None,
            region or None,
            REVERT_AUTHOR,
        )
    report = run_verify(inputs, verifier=verifier, reporter=state.reporter, forge=made)
    emit(ctx, report)
