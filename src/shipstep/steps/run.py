"""The whole chain from shipstep.yaml: build -> test -> publish -> sign -> bump.

`run_chain(config, signing, forge, ...)` calls the step functions in order and
hands each one what the previous one produced. The digest is the thread:
publish reads it back from the registry, sign signs exactly that digest (and
the chain stops if the signature names another), bump pins
`repository:tag@digest` in the config repository. Failing tests stop the
chain before anything is published.

Every step is idempotent, so running the chain again after a failure
continues safely: completed steps report `unchanged` and the chain goes on
from where it stopped. The CLI builds the adapters that depend on secrets
and the environment (the signer, the forge) and passes them in.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from shipstep.config import RunConfig
from shipstep.errors import ShipstepError
from shipstep.forges.interface import Forge
from shipstep.oci.auth import ChainCredentials, DockerConfig
from shipstep.oci.client import RegistryClient
from shipstep.oci.ecr import EcrCredentials
from shipstep.oci.ecr_repository import RepositorySettings
from shipstep.progress import NullReporter, Reporter
from shipstep.result import OutputValue, StepResult
from shipstep.runtime.interface import Provenance
from shipstep.signing.interface import Signer
from shipstep.steps.build import BuildInputs, BuildResult, build
from shipstep.steps.bump import BumpInputs, BumpResult, bump
from shipstep.steps.imagebuild.testrun import ImageTests
from shipstep.steps.publish import PublishInputs, PublishResult, publish
from shipstep.steps.sign import KeylessSign, SignResult, sign_classic, sign_keyless

STEPS = ("build", "publish", "sign", "bump")
TITLES = {
    "build": "build and test",
    "publish": "publish",
    "sign": "sign",
    "bump": "bump the config repository",
}
DEFAULT_TEST_TIMEOUT = 1800.0
REPORT_FILE = Path(".shipstep") / "test-report.xml"


@dataclass(frozen=True)
class Signing:
    """How the digest is signed: a key or KMS signer, or keyless Sigstore."""

    signer: Signer | None = None
    keyless: KeylessSign | None = None

    def __post_init__(self) -> None:
        if (self.signer is None) == (self.keyless is None):
            raise ValueError("Signing takes exactly one of signer and keyless")


@dataclass
class StepOutcome:
    name: str
    status: str  # done | failed | not run
    seconds: float = 0.0
    result: StepResult | None = None


@dataclass
class RunResult:
    """What `shipstep run` returns: every step's outcome and the chain's outputs."""

    steps: list[StepOutcome] = field(default_factory=list)
    build: BuildResult | None = None
    publish: PublishResult | None = None
    sign: SignResult | None = None
    bump: BumpResult | None = None

    @property
    def stopped_at(self) -> str | None:
        failed = [step.name for step in self.steps if step.status == "failed"]
        return failed[0] if failed else None

    @property
    def succeeded(self) -> bool:
        return self.stopped_at is None and self.bump is not None

    def outputs(self) -> Mapping[str, OutputValue]:
        outputs: dict[str, OutputValue] = {"result": "passed" if self.succeeded else "failed"}
        outputs["stopped-at"] = self.stopped_at or ""
        if self.build is not None:
            build_outputs = self.build.outputs()
            for name in ("image-id", "test-result", "tests-passed", "tests-failed"):
                outputs[name] = build_outputs.get(name)
        if self.publish is not None:
            outputs.update(
                registry=self.publish.registry,
                repository=self.publish.repository,
                digest=self.publish.digest,
                image=self.publish.image,
                tags=list(self.publish.tags),
            )
        if self.sign is not None:
            outputs["signature-ref"] = self.sign.signature_ref
            outputs["signature-format"] = self.sign.format
        if self.bump is not None:
            bump_outputs = self.bump.outputs()
            outputs["pr-url"] = bump_outputs["pr-url"]
            outputs["pr-number"] = bump_outputs["pr-number"]
            outputs["bump-operation"] = bump_outputs["operation"]
            outputs["branch"] = bump_outputs["branch"]
        return outputs

    def _facts(self) -> list[tuple[str, str]]:
        facts: list[tuple[str, str]] = []
        if self.build is not None:
            tests = self.build.test_result
            report = self.build.tests.report if self.build.tests else None
            if report is not None:
                tests += (
                    f" ({report.passed} passed, {report.failed} failed, {report.skipped} skipped)"
                )
            facts.append(("tests", tests))
        if self.publish is not None:
            facts.append(("image", self.publish.image))
            facts.append(("tags", ", ".join(self.publish.tags)))
            facts.append(("digest", self.publish.digest))
        if self.sign is not None:
            facts.append(("signature", f"{self.sign.signature_ref} ({self.sign.operation})"))
        if self.bump is not None:
            pr = self.bump.pull_request
            what = f"#{pr.number} {pr.url}" if pr else "none (nothing to change)"
            facts.append(("pull request", f"{what} ({self.bump.operation})"))
        return facts

    def _verdict(self) -> str:
        if self.succeeded:
            if self.bump is not None and self.bump.pull_request is None:
                return "the chain is complete: the config repository already pins this digest"
            return "the chain is complete: review and merge the pull request to deploy"
        stopped = self.stopped_at or "?"
        if stopped == "build" and self.build is not None and not self.build.succeeded:
            return "the tests failed: nothing was published"
        return f"stopped at {TITLES.get(stopped, stopped)}"

    def text(self) -> str:
        lines = [f"shipstep run: {self._verdict()}"]
        for step in self.steps:
            mark = {"done": "✓", "failed": "✗"}.get(step.status, "-")
            lines.append(f"  {mark} {TITLES[step.name]:28} {step.status} ({step.seconds:.1f}s)")
        width = max((len(name) for name, _ in self._facts()), default=0)
        lines += [f"  {name:{width}}  {value}" for name, value in self._facts()]
        if self.build is not None and not self.build.succeeded:
            lines += ["", self.build.text()]
        return "\n".join(lines)

    def summary_markdown(self) -> str:
        rows = ["### shipstep run", "", f"**{self._verdict()}**", "", "| step | status | time |"]
        rows.append("|---|---|---|")
        for step in self.steps:
            rows.append(f"| {TITLES[step.name]} | {step.status} | {step.seconds:.1f}s |")
        rows += ["", "| | |", "|---|---|"]
        rows += [f"| {name} | `{value}` |" for name, value in self._facts()]
        text = "\n".join(rows) + "\n"
        for step in self.steps:
            if step.result is not None:
                text += "\n" + step.result.summary_markdown()
        return text


T = TypeVar("T", bound=StepResult)


class _Chain:
    def __init__(self, reporter: Reporter) -> None:
        self.reporter = reporter
        self.result = RunResult(steps=[StepOutcome(name, "not run") for name in STEPS])

    def step(self, name: str, call: Callable[[], T]) -> T:
        index = STEPS.index(name)
        outcome = self.result.steps[index]
        title = TITLES[name]
        self.reporter.log(f"[{index + 1}/{len(STEPS)}] {title}")
        start = time.monotonic()
        try:
            with self.reporter.group(title):
                result = call()
        except ShipstepError as error:
            outcome.status, outcome.seconds = "failed", time.monotonic() - start
            done = [TITLES[s.name] for s in self.result.steps if s.status == "done"]
            error.message = f"{title} failed: {error.message}"
            resume = (
                (f"Completed before it: {', '.join(done)}. " if done else "")
                + "Fix the cause and run `shipstep run` again: finished steps are idempotent and the chain continues."
            )
            error.hint = f"{error.hint}\n{resume}" if error.hint else resume
            raise
        outcome.seconds = time.monotonic() - start
        outcome.result = result
        outcome.status = "done" if result.succeeded else "failed"
        first_line = result.text().splitlines()[0] if result.text() else ""
        self.reporter.log(f"{'✓' if result.succeeded else '✗'} {title}: {first_line}")
        return result


def build_inputs(config: RunConfig, provenance: Provenance) -> BuildInputs:
    image = config.image
    repository = config.registry.repository(image.name)
    tests = None
    if image.test is not None:
        base = config.file.parent if config.file else image.context
        tests = ImageTests(
            command=image.test.command,
            timeout=float(image.test.timeout or DEFAULT_TEST_TIMEOUT),
            report_path=image.test.report,
            report_to=base / REPORT_FILE if image.test.report else None,
        )
    return BuildInputs(
        context=image.context,
        tags=tuple(f"{repository}:{tag}" for tag in image.tags),
        dockerfile=image.dockerfile,
        build_args=dict(image.build_args),
        target=image.target,
        source_url=provenance.source_url,
        revision=provenance.revision,
        tests=tests,
    )


def _endpoints(config: RunConfig) -> dict[str, str]:
    endpoint = config.registry.endpoint
    return {config.registry.host: endpoint} if endpoint else {}


def publish_inputs(config: RunConfig, built: BuildResult) -> PublishInputs:
    settings = config.registry.repository_settings
    policy = settings.lifecycle_policy
    try:
        policy_text = policy.read_text(encoding="utf-8") if policy else None
    except OSError as error:
        raise ShipstepError(
            f"cannot read the lifecycle policy {policy}: {error.strerror}",
            hint="Fix registry.repository.lifecycle-policy in shipstep.yaml.",
        ) from None
    first, *more = built.tags
    return PublishInputs(
        to=first,
        image=first,
        tags=[tag.rsplit(":", 1)[1] for tag in more],
        registry_endpoints=_endpoints(config),
        repository=RepositorySettings(
            tag_immutability=settings.tag_immutability,
            scan_on_push=settings.scan_on_push,
            kms_key=settings.kms_key,
            lifecycle_policy=policy_text,
            tags=dict(settings.resource_tags),
        ),
        scan_gate=settings.scan_gate,
    )


def registry_client(config: RunConfig, reporter: Reporter) -> RegistryClient:
    """A client for the signature: ECR tokens, then the Docker config, as publish."""
    credentials = ChainCredentials([EcrCredentials(), DockerConfig()])
    return RegistryClient(credentials, endpoints=_endpoints(config), reporter=reporter)


def _signature_status(signed: SignResult) -> str:
    kind = "Sigstore bundle" if signed.format == "bundle" else "cosign signature"
    return f"{kind} by `{signed.signer}` ({signed.signature_ref})"


def bump_inputs(
    config: RunConfig, published: PublishResult, signed: SignResult, provenance: Provenance
) -> BumpInputs:
    repository = f"{published.registry}/{published.repository}"
    source = provenance.revision
    if provenance.source_url and provenance.revision:
        source = f"{provenance.source_url.removesuffix('.git')}/commit/{provenance.revision}"
    return BumpInputs(
        repo=config.config_repo.url,
        image=repository,
        to=f"{repository}:{published.tags[0]}@{published.digest}",
        paths=config.config_repo.paths,
        base=config.config_repo.base_branch,
        name=config.config_repo.name,
        source=source,
        run=provenance.run_url,
        signature=_signature_status(signed),
    )


def commit_time(directory: Path, revision: str) -> str | None:
    """Seconds since 1970 of `revision`'s commit, for SOURCE_DATE_EPOCH."""
    try:
        completed = subprocess.run(
            ["git", "show", "-s", "--format=%ct", revision, "--"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = completed.stdout.strip()
    return value if completed.returncode == 0 and value.isdigit() else None


def reproducible_environment(
    config: RunConfig, provenance: Provenance, environ: Mapping[str, str]
) -> Mapping[str, str]:
    """The build's `created` label from the commit time rather than the clock,
    so that running the chain again on the same commit builds the same image
    (and publish, sign and bump find nothing to do)."""
    if environ.get("SOURCE_DATE_EPOCH") or not provenance.revision:
        return environ
    epoch = commit_time(config.image.context, provenance.revision)
    return {**environ, "SOURCE_DATE_EPOCH": epoch} if epoch else environ


def run_chain(
    config: RunConfig,
    signing: Signing,
    forge: Forge,
    *,
    provenance: Provenance | None = None,
    reporter: Reporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunResult:
    """Build, test, publish, sign and bump; the result says how far it got.

    Failing tests end the chain with an unsuccessful result (nothing is
    published); any other failure raises the step's `ShipstepError`, its
    message naming the step and its hint how to continue.
    """
    reporter = reporter or NullReporter()
    provenance = provenance or Provenance()
    env = reproducible_environment(config, provenance, os.environ if environ is None else environ)
    chain = _Chain(reporter)
    result = chain.result

    result.build = chain.step(
        "build", lambda: build(build_inputs(config, provenance), reporter, env)
    )
    if not result.build.succeeded:
        return result
    built = result.build

    result.publish = chain.step(
        "publish", lambda: publish(publish_inputs(config, built), reporter=reporter)
    )
    published = result.publish
    if not published.succeeded:  # the scan gate found vulnerabilities
        return result

    def sign() -> SignResult:
        client = registry_client(config, reporter)
        if signing.signer is not None:
            return sign_classic(client, published.image, signing.signer, reporter=reporter)
        assert signing.keyless is not None
        return sign_keyless(client, published.image, signing.keyless, reporter=reporter)

    result.sign = chain.step("sign", sign)
    signed = result.sign
    if signed.digest != published.digest:
        chain.result.steps[STEPS.index("sign")].status = "failed"
        raise ShipstepError(
            f"the signature names {signed.digest}, but publish pushed {published.digest}",
            hint="Another publish moved the image meanwhile; run the chain again.",
        )

    result.bump = chain.step(
        "bump", lambda: bump(bump_inputs(config, published, signed, provenance), forge, reporter)
    )
    if published.digest not in result.bump.reference:
        chain.result.steps[STEPS.index("bump")].status = "failed"
        raise ShipstepError(
            f"the config repository was bumped to {result.bump.reference}, "
            f"not to the signed digest {published.digest}",
            hint="Check the bump's --format; shipstep run pins digests.",
        )
    return result
