"""The verify step as one function: inputs in, a report out."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipstep.cluster.access import ClusterOptions, connect
from shipstep.cluster.client import Cluster, ClusterError
from shipstep.errors import InputError
from shipstep.forges.interface import Forge
from shipstep.oci.reference import Reference
from shipstep.progress import NullReporter, Reporter
from shipstep.steps.verify.agent_status import AgentStatusCheck
from shipstep.steps.verify.cloudwatch import run_alarm_checks
from shipstep.steps.verify.expected import images_added_by, parse_expected
from shipstep.steps.verify.forge_actions import (
    merge_commit_of,
    revert_on_failure,
    set_verdict_status,
)
from shipstep.steps.verify.gitrepo import ConfigRepo
from shipstep.steps.verify.prometheus import PromCheckSpec, run_prometheus_check
from shipstep.steps.verify.report import Check, Status, VerifyReport
from shipstep.steps.verify.revert import RevertOptions
from shipstep.steps.verify.rollout import Targets
from shipstep.steps.verify.signatures import ImageVerifier, signature_checks
from shipstep.steps.verify.smoke import SmokeSpec, run_smoke_check
from shipstep.steps.verify.wait import WaitOptions, wait_for_cluster


@dataclass(frozen=True)
class VerifyInputs:
    targets: Targets
    cluster: ClusterOptions
    images: tuple[str, ...] = ()
    merge_commit: str | None = None
    config_repo: str | None = None
    git_token: str | None = field(default=None, repr=False)
    agent_namespace: str = "shipstep-system"
    agent_name: str = "shipstep"
    smoke: tuple[str, ...] = ()
    smoke_attempts: int = 5
    prometheus_url: str | None = None
    prometheus_checks: tuple[str, ...] = ()
    alarms: tuple[str, ...] = ()
    region: str | None = None
    wait: WaitOptions = field(default_factory=WaitOptions)
    report_file: Path | None = None
    skip_signatures: bool = False
    # Through the config repository's forge (run_verify's `forge`):
    pull_request: int | None = None  # the bump PR whose merge commit to check
    revert: RevertOptions | None = None  # open a revert PR on a conclusive failure
    status_context: str | None = None  # set the verdict as a commit status
    report_url: str | None = None  # linked from the commit status


@dataclass(frozen=True)
class Parsed:
    smoke: list[SmokeSpec]
    prometheus: list[PromCheckSpec]


def validate(inputs: VerifyInputs, has_verifier: bool, has_forge: bool) -> Parsed:
    """Every input problem, before anything is contacted."""
    if inputs.merge_commit and inputs.pull_request is not None:
        raise InputError(
            "Both --merge-commit and --pr name the config commit.",
            hint="Pass one: --pr NUMBER reads the merge commit from the merged pull request.",
        )
    config_commit = inputs.merge_commit or inputs.pull_request is not None
    if config_commit and not inputs.config_repo:
        raise InputError(
            "--merge-commit and --pr need the config repository to check what the agent applied.",
            hint="Pass --config-repo URL_OR_PATH.",
        )
    if not inputs.images and not config_commit:
        raise InputError(
            "No expected image.",
            hint="Pass --image REPO@sha256:DIGEST (repeatable), or --merge-commit SHA (or --pr "
            "NUMBER) with --config-repo to read them from the bump's merge commit.",
        )
    if inputs.revert and not config_commit:
        raise InputError(
            "--revert-on-failure needs the merge commit to revert.",
            hint="Pass --merge-commit SHA or --pr NUMBER, and --config-repo URL_OR_PATH.",
        )
    if inputs.status_context is not None and not inputs.status_context.strip():
        raise InputError("--status-context is empty.", hint="Pass a name such as shipstep/verify.")
    if inputs.status_context is not None and not config_commit:
        raise InputError(
            "--commit-status needs the config commit to set the status on.",
            hint="Pass --merge-commit SHA or --pr NUMBER, and --config-repo URL_OR_PATH.",
        )
    if (
        inputs.pull_request is not None or inputs.revert or inputs.status_context
    ) and not has_forge:
        raise InputError(
            "--pr, --revert-on-failure and --commit-status need the config repository's forge.",
            hint="Pass --forge github, codecommit or local (and --forge-repository, --token).",
        )
    if not has_verifier and not inputs.skip_signatures:
        raise InputError(
            "No signature policy: verify checks signatures by default.",
            hint="Pass --policy FILE (the sign step's policy), or --skip-signatures to opt out.",
        )
    if inputs.prometheus_checks and not inputs.prometheus_url:
        raise InputError(
            "--prometheus-check needs --prometheus-url.",
            hint="Pass --prometheus-url http://prometheus:9090.",
        )
    if inputs.wait.timeout <= 0 or inputs.wait.poll_interval <= 0:
        raise InputError(
            "--timeout and --poll-interval must be positive.",
            hint="For example --timeout 300 --poll-interval 5.",
        )
    if inputs.smoke_attempts < 1:
        raise InputError("--smoke-attempts must be at least 1.")
    if inputs.images:
        parse_expected(inputs.images)
    return Parsed(
        [SmokeSpec.parse(s) for s in inputs.smoke],
        [PromCheckSpec.parse(p) for p in inputs.prometheus_checks],
    )


def run_verify(
    inputs: VerifyInputs,
    *,
    verifier: ImageVerifier | None = None,
    reporter: Reporter | None = None,
    connect_cluster: Callable[[ClusterOptions, Reporter], Cluster] = connect,
    forge: Forge | None = None,
) -> VerifyReport:
    """Run every check and return the report (written to `report_file`).
    `forge` hosts the config repository: it answers `pull_request`, and
    takes the revert pull request and the commit status."""
    reporter = reporter or NullReporter()
    parsed = validate(inputs, verifier is not None, forge is not None)
    started = time.monotonic()
    repo: ConfigRepo | None = None
    try:
        wanted = inputs.merge_commit
        if inputs.pull_request is not None:
            assert forge is not None
            wanted = merge_commit_of(forge, inputs.pull_request)
            reporter.log(f"pull request #{inputs.pull_request} merged as {wanted[:12]}")
        merge_commit = None
        if inputs.config_repo:
            with reporter.task("cloning the config repository"):
                repo = ConfigRepo(inputs.config_repo, token=inputs.git_token).clone()
        if wanted and repo is not None:
            merge_commit = repo.resolve(wanted)
            if merge_commit is None:
                repo.fetch()
                merge_commit = repo.resolve(wanted)
            if merge_commit is None:
                raise InputError(
                    f"Commit {wanted} is not in the config repository.",
                    hint="Pass the bump pull request's merge commit SHA.",
                )
        expected: list[Reference] = (
            parse_expected(inputs.images) if inputs.images else images_added_by(repo, merge_commit)  # type: ignore[arg-type]
        )
        report = VerifyReport(
            checks=[],
            namespace=inputs.targets.namespace,
            expected_images=[str(r) for r in expected],
            merge_commit=merge_commit,
        )
        checks: list[Check] = []
        if verifier is not None and not inputs.skip_signatures:
            with reporter.group("signatures"):
                checks += signature_checks(verifier, expected)
        else:
            checks.append(Check("signature", "policy", Status.SKIPPED, "--skip-signatures given"))
        agent = (
            AgentStatusCheck(
                repo, merge_commit, inputs.agent_namespace, f"{inputs.agent_name}-status"
            )
            if repo is not None and merge_commit
            else None
        )
        try:
            with reporter.group("cluster"), connect_cluster(inputs.cluster, reporter) as cluster:
                reporter.log(f"cluster: {cluster.where}")
                checks += wait_for_cluster(
                    cluster, inputs.targets, expected, agent, inputs.wait, reporter=reporter
                )
        except ClusterError as error:
            # Nothing is known about the rollout: failed, but inconclusive
            # (never a reason to revert).
            report.conclusive = False
            checks.append(
                Check(
                    "cluster",
                    "access",
                    Status.FAILED,
                    error.message,
                    (f"hint: {error.hint}",) if error.hint else (),
                )
            )
        with reporter.group("gates"):
            for spec in parsed.smoke:
                checks.append(
                    run_smoke_check(
                        spec, attempts=inputs.smoke_attempts, interval=inputs.wait.poll_interval
                    )
                )
            for prom in parsed.prometheus:
                assert inputs.prometheus_url
                checks.append(run_prometheus_check(inputs.prometheus_url, prom))
            checks += run_alarm_checks(inputs.alarms, inputs.region)
        report.checks = checks
        report.elapsed_seconds = time.monotonic() - started
        # Forge errors become notes in the report; they never change the verdict.
        if forge is not None and inputs.revert:
            revert_on_failure(report, repo, forge, inputs.revert, reporter)
        if forge is not None and inputs.status_context:
            set_verdict_status(report, forge, inputs.status_context, inputs.report_url)
        if inputs.report_file:
            report.write(inputs.report_file)
        return report
    finally:
        if repo is not None:
            repo.close()


def failed_names(checks: Sequence[Check]) -> list[str]:
    return [f"{c.kind}: {c.name}" for c in checks if c.status in (Status.FAILED, Status.PENDING)]
