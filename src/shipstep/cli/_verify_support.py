"""What `shipstep verify` builds from its flags: the signature verifier (the
sign step's policy and registry client) and the revert-on-failure hook (the
bump step's forges)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from shipstep.cli._signing import registry_client
from shipstep.errors import ShipstepError
from shipstep.forges.factory import make_forge
from shipstep.progress import Reporter
from shipstep.signing.oci_source import OciSignatureSource
from shipstep.signing.policy import Policy, Verifier
from shipstep.steps.verify.gitrepo import ConfigRepo
from shipstep.steps.verify.report import VerifyReport
from shipstep.steps.verify.revert import RevertOptions, open_revert


def make_verifier(
    policy: Path,
    reporter: Reporter,
    username: str | None,
    password: str | None,
    docker_config: str | None = None,
    insecure_registries: tuple[str, ...] = (),
) -> Verifier:
    client = registry_client(reporter, username, password, docker_config, insecure_registries)
    return Verifier(Policy.load(policy), OciSignatureSource(client))


def revert_hook(
    *,
    forge: str,
    config_repo: str,
    forge_repository: str | None,
    token: str | None,
    api_url: str | None,
    region: str | None,
    options: RevertOptions,
    reporter: Reporter,
) -> Callable[[VerifyReport, ConfigRepo | None], None]:
    """Opens the revert PR when the report failed conclusively."""
    made = make_forge(
        forge,
        config_repo,
        forge_repository,
        token,
        api_url,
        region,
        ("shipstep", "shipstep@users.noreply.github.com"),
    )

    def hook(report: VerifyReport, repo: ConfigRepo | None) -> None:
        if report.succeeded:
            return
        if not report.conclusive:
            report.notes.append(
                "No revert: the cluster could not be read, so the rollout itself was not judged."
            )
            return
        if repo is None or not report.merge_commit:
            report.notes.append("No revert: --merge-commit and --config-repo are needed to revert.")
            return
        try:
            result = open_revert(repo, made, report.merge_commit, report, options, reporter)
        except ShipstepError as error:
            report.notes.append(f"Revert failed: {error.message}")
            return
        report.revert_pr_url = result.url
        report.revert_operation = result.operation
        report.notes.extend(result.notes)

    return hook
