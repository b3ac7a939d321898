"""ECR repositories: create with settings on first use, tag immutability,
image details and the scan gate (boto3, control plane only).

- `RepositorySettings`: tag immutability (with exclusion filters so that
  `sha256-*` signature tags stay writable), scan on push, KMS key, lifecycle
  policy text, resource tags.
- `ensure_repository(ecr, name, settings) -> RepositoryState`: creates the
  repository when absent (`operation == "created"`), else `"unchanged"`
  (settings of an existing repository are not modified; differences are
  listed in `differences`).
- `describe_image(ecr, name, digest) -> dict`: `DescribeImages` for a digest.
- `scan_gate(ecr, name, digest, severity, timeout)`: waits for the image scan
  and returns a `ScanOutcome`; unscannable artifacts (signatures) are
  reported as such, not as failures.
"""

from __future__ import annotations

import contextlib
import fnmatch
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shipstep.errors import InputError, ShipstepError
from shipstep.oci.ecr import aws_error, aws_error_code, aws_errors

SEVERITIES = ("INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class RepositorySettings:
    tag_immutability: bool = False
    immutable_exclusions: tuple[str, ...] = ("sha256-*",)
    scan_on_push: bool = False
    kms_key: str | None = None
    lifecycle_policy: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RepositoryState:
    name: str
    operation: str  # created | unchanged
    immutable: bool
    exclusions: tuple[str, ...]
    differences: list[str] = field(default_factory=list)

    def tag_is_immutable(self, tag: str) -> bool:
        return self.immutable and not any(fnmatch.fnmatchcase(tag, f) for f in self.exclusions)


def _code(error: Exception) -> str:
    return aws_error_code(error)


def _state_of(repo: dict[str, Any], operation: str) -> RepositoryState:
    mutability = str(repo.get("imageTagMutability", "MUTABLE"))
    filters = tuple(
        str(f.get("filter", "")) for f in repo.get("imageTagMutabilityExclusionFilters") or []
    )
    immutable = mutability.startswith("IMMUTABLE")
    return RepositoryState(
        repo["repositoryName"], operation, immutable, filters if immutable else ()
    )


def existing_repository(ecr: Any, name: str) -> RepositoryState:
    """The settings of an existing repository; `InputError` when it is absent."""
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except aws_errors() as error:
        if _code(error) == "RepositoryNotFoundException":
            raise InputError(
                f"ECR repository {name} does not exist and --no-create-repository was given.",
                hint="Create it, or drop --no-create-repository to let publish create it.",
            ) from None
        raise aws_error(error, f"look up ECR repository {name}") from None
    return _state_of(found, "unchanged")


def ensure_repository(ecr: Any, name: str, settings: RepositorySettings) -> RepositoryState:
    try:
        found = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except aws_errors() as error:
        if _code(error) != "RepositoryNotFoundException":
            raise aws_error(error, f"look up ECR repository {name}") from None
    else:
        state = _state_of(found, "unchanged")
        state.differences = _differences(found, settings)
        return state
    request: dict[str, Any] = {
        "repositoryName": name,
        "imageScanningConfiguration": {"scanOnPush": settings.scan_on_push},
        "encryptionConfiguration": (
            {"encryptionType": "KMS", "kmsKey": settings.kms_key}
            if settings.kms_key
            else {"encryptionType": "AES256"}
        ),
    }
    if settings.tag_immutability:
        if settings.immutable_exclusions:
            request["imageTagMutability"] = "IMMUTABLE_WITH_EXCLUSION"
            request["imageTagMutabilityExclusionFilters"] = [
                {"filterType": "WILDCARD", "filter": f} for f in settings.immutable_exclusions
            ]
        else:
            request["imageTagMutability"] = "IMMUTABLE"
    else:
        request["imageTagMutability"] = "MUTABLE"
    if settings.tags:
        request["tags"] = [{"Key": k, "Value": v} for k, v in sorted(settings.tags.items())]
    try:
        created = ecr.create_repository(**request)["repository"]
    except aws_errors() as error:
        if _code(error) == "RepositoryAlreadyExistsException":  # created concurrently
            return ensure_repository(ecr, name, settings)
        raise aws_error(error, f"create ECR repository {name}") from None
    if settings.lifecycle_policy:
        try:
            ecr.put_lifecycle_policy(
                repositoryName=name, lifecyclePolicyText=settings.lifecycle_policy
            )
        except aws_errors() as error:
            # Leave nothing half-configured behind: a repository without its
            # requested lifecycle policy would be reported "unchanged" next time.
            with contextlib.suppress(*aws_errors()):
                ecr.delete_repository(repositoryName=name, force=True)
            raise aws_error(error, f"set the lifecycle policy of ECR repository {name}") from None
    return _state_of(created, "created")


def _differences(repo: dict[str, Any], settings: RepositorySettings) -> list[str]:
    found: list[str] = []
    immutable = str(repo.get("imageTagMutability", "MUTABLE")).startswith("IMMUTABLE")
    if immutable != settings.tag_immutability:
        found.append(f"tag immutability is {'on' if immutable else 'off'}")
    scan = bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush"))
    if scan != settings.scan_on_push:
        found.append(f"scan on push is {'on' if scan else 'off'}")
    encryption = repo.get("encryptionConfiguration") or {}
    if settings.kms_key and encryption.get("kmsKey") not in (settings.kms_key, None):
        found.append("it is encrypted with a different KMS key")
    return found


def describe_image(ecr: Any, name: str, digest: str) -> dict[str, Any]:
    try:
        details = ecr.describe_images(repositoryName=name, imageIds=[{"imageDigest": digest}])
    except aws_errors() as error:
        raise aws_error(error, f"describe image {digest} in ECR repository {name}") from None
    images = details.get("imageDetails") or []
    if not images:
        raise ShipstepError(f"ECR does not list image {digest} in repository {name}.")
    return dict(images[0])


@dataclass
class ScanOutcome:
    status: str  # COMPLETE | NOT_SCANNABLE | FAILED
    counts: dict[str, int]
    threshold: str
    blocking: dict[str, int]

    @property
    def passed(self) -> bool:
        return not self.blocking

    def describe(self) -> str:
        if self.status == "NOT_SCANNABLE":
            return "not scannable (an artifact, not a container image)"
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(self.counts.items())) or "no findings"
        verdict = "passed" if self.passed else f"failed (findings at or above {self.threshold})"
        return f"scan {verdict}; {counts}"


def parse_severity(text: str) -> str:
    value = text.strip().upper()
    if value not in SEVERITIES:
        raise InputError(
            f"Invalid scan-gate severity {text!r}.",
            hint=f"Use one of {', '.join(SEVERITIES)}.",
        )
    return value


def scan_gate(
    ecr: Any,
    name: str,
    digest: str,
    threshold: str,
    *,
    timeout: float = 600.0,
    interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ScanOutcome:
    image_id = {"imageDigest": digest}
    deadline = clock() + timeout
    started = False
    while True:
        try:
            answer = ecr.describe_image_scan_findings(repositoryName=name, imageId=image_id)
        except aws_errors() as error:
            code = _code(error)
            if code == "ScanNotFoundException" and not started:
                _start_scan(ecr, name, image_id)
                started = True
                continue
            if code == "UnsupportedImageTypeException":
                return ScanOutcome("NOT_SCANNABLE", {}, threshold, {})
            raise aws_error(error, f"read the scan findings of {digest}") from None
        status = str((answer.get("imageScanStatus") or {}).get("status", ""))
        if status == "COMPLETE":
            counts = {
                str(k): int(v)
                for k, v in (
                    (answer.get("imageScanFindings") or {}).get("findingSeverityCounts") or {}
                ).items()
            }
            floor = SEVERITIES.index(threshold)
            blocking = {
                k: v
                for k, v in counts.items()
                if k in SEVERITIES and SEVERITIES.index(k) >= floor and v
            }
            return ScanOutcome("COMPLETE", counts, threshold, blocking)
        if status in ("UNSUPPORTED_IMAGE",):
            return ScanOutcome("NOT_SCANNABLE", {}, threshold, {})
        if status == "FAILED":
            description = (answer.get("imageScanStatus") or {}).get("description", "")
            raise ShipstepError(
                f"The ECR scan of {digest} failed: {description}",
                hint="Rerun with the scan gate off to publish anyway, or investigate in the ECR console.",
            )
        if clock() > deadline:
            raise ShipstepError(
                f"The ECR scan of {digest} did not complete within {timeout:.0f}s (status {status or 'unknown'}).",
                hint="Raise --scan-timeout, or check the repository's scanning configuration.",
            )
        sleep(interval)


def _start_scan(ecr: Any, name: str, image_id: dict[str, str]) -> None:
    try:
        ecr.start_image_scan(repositoryName=name, imageId=image_id)
    except aws_errors() as error:
        if _code(error) in ("LimitExceededException",):
            return  # already scanned today: the findings will appear
        if _code(error) == "UnsupportedImageTypeException":
            return
        raise aws_error(error, f"start a scan of {image_id['imageDigest']}") from None
