"""The publish step: push an image from the Docker engine, or copy one from
a registry, to Amazon ECR or any OCI registry, and hand on its digest.

`publish(inputs, reporter=...) -> PublishResult`. For an ECR destination
(`<acct>.dkr.ecr.<region>.amazonaws.com`) the repository is created on first
use with the requested settings, the registry login comes from
`GetAuthorizationToken`, the pushed image is looked up with `DescribeImages`,
and `scan_gate` waits for the scan. Tags that already point to the digest
are left alone (`unchanged`); an immutable tag pointing elsewhere is an error
raised before anything is uploaded.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from shipstep.errors import InputError, ShipstepError
from shipstep.oci.auth import ChainCredentials, CredentialProvider, DockerConfig, StaticCredentials
from shipstep.oci.client import DigestMismatch, RegistryClient, RegistryError
from shipstep.oci.copy import CopyStats, copy_manifest, copy_signatures, run_parallel
from shipstep.oci.ecr import EcrCredentials, ecr_client, parse_ecr_host
from shipstep.oci.ecr_repository import (
    RepositorySettings,
    RepositoryState,
    ScanOutcome,
    describe_image,
    ensure_repository,
    existing_repository,
    scan_gate,
)
from shipstep.oci.manifest import Manifest
from shipstep.oci.reference import Reference, parse_reference
from shipstep.progress import NullReporter, Reporter
from shipstep.result import OutputValue

_EXCLUSION = re.compile(r"[0-9a-zA-Z._*-]{1,128}")


class ImmutableTagError(ShipstepError):
    """An immutable tag already points to a different digest."""


@dataclass
class PublishInputs:
    to: str
    image: str | None = None
    source: str | None = None
    tags: Sequence[str] = ()
    with_signatures: bool = False
    insecure_registries: Sequence[str] = ()
    registry_endpoints: Mapping[str, str] = field(default_factory=dict)
    aws_endpoint_url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    docker_config: Path | None = None
    create_repository: bool = True
    repository: RepositorySettings = field(default_factory=RepositorySettings)
    scan_gate: str | None = None
    scan_timeout: float = 600.0
    compression_level: int = 1
    retries: int = 5


@dataclass
class PublishResult:
    registry: str
    repository: str
    digest: str
    tags: list[str]
    operation: str  # pushed | unchanged
    source: str
    tag_operations: dict[str, str] = field(default_factory=dict)
    repository_operation: str | None = None
    repository_notes: list[str] = field(default_factory=list)
    stats: CopyStats = field(default_factory=CopyStats)
    requests: int = 0
    bytes_uploaded: int = 0
    scan: ScanOutcome | None = None
    signatures: list[str] = field(default_factory=list)
    ecr_image: dict[str, Any] | None = None

    @property
    def image(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def succeeded(self) -> bool:
        return self.scan is None or self.scan.passed

    def outputs(self) -> Mapping[str, OutputValue]:
        return {
            "registry": self.registry,
            "repository": self.repository,
            "digest": self.digest,
            "image": self.image,
            "tags": list(self.tags),
            "operation": self.operation,
            "repository-operation": self.repository_operation or "",
        }

    def _lines(self) -> list[str]:
        lines = [f"{self.operation}: {self.image}", f"from {self.source}"]
        for tag, what in self.tag_operations.items():
            lines.append(f"tag {tag}: {what}")
        s = self.stats
        lines.append(
            f"blobs: {s.blobs_uploaded} uploaded, {s.blobs_mounted} mounted, {s.blobs_present} already present; "
            f"{self.bytes_uploaded} bytes sent in {self.requests} requests"
        )
        if self.repository_operation:
            lines.append(f"ECR repository {self.repository}: {self.repository_operation}")
        lines += [f"note: {n}" for n in self.repository_notes]
        lines += [f"copied {ref}" for ref in self.signatures]
        if self.scan is not None:
            lines.append(self.scan.describe())
        return lines

    def text(self) -> str:
        return "\n".join(self._lines())

    def summary_markdown(self) -> str:
        body = "\n".join(f"- {line}" for line in self._lines()[1:])
        return f"### publish: {self.operation}\n\n`{self.image}`\n\n{body}\n"


def _credentials(inputs: PublishInputs, ecr_endpoint: str | None) -> CredentialProvider:
    providers: list[CredentialProvider] = []
    if inputs.username or inputs.password:
        if not (inputs.username and inputs.password):
            raise InputError(
                "--username and --password go together.",
                hint="Pass both, or neither to use ECR tokens or the Docker config.",
            )
        providers.append(StaticCredentials(inputs.username, inputs.password))
    providers.append(EcrCredentials(ecr_endpoint))
    providers.append(DockerConfig(inputs.docker_config))
    return ChainCredentials(providers)


def _destination(inputs: PublishInputs) -> tuple[Reference, list[str]]:
    dest = parse_reference(inputs.to, what="destination (--to)")
    if dest.digest:
        raise InputError(
            f"The destination {inputs.to!r} has a digest: --to names a repository and tag.",
            hint="Drop the @sha256:... part; the digest is what publish reports.",
        )
    tags: list[str] = []
    for tag in [*([dest.tag] if dest.tag else []), *inputs.tags]:
        tag = tag.strip()
        if tag and tag not in tags:
            dest.with_tag(tag)  # validates
            tags.append(tag)
    return dest.without_tag(), tags


def _check_settings(inputs: PublishInputs) -> None:
    if bool(inputs.image) == bool(inputs.source):
        raise InputError(
            "Pass exactly one of --image (a local image) and --from (an image in a registry).",
            hint="shipstep publish --image app:1 --to REGISTRY/REPO:TAG",
        )
    if (
        inputs.scan_gate
        and parse_ecr_host(parse_reference(inputs.to, what="destination (--to)").registry) is None
    ):
        raise InputError(
            "--scan-gate needs an Amazon ECR destination (<account>.dkr.ecr.<region>.amazonaws.com).",
            hint="Drop --scan-gate for other registries.",
        )
    exclusions = inputs.repository.immutable_exclusions
    if len(exclusions) > 5 or any(not _EXCLUSION.fullmatch(e) for e in exclusions):
        raise InputError(
            f"Invalid --immutable-exclusion {', '.join(exclusions)!r}: ECR takes up to 5 wildcard "
            "patterns of 1-128 letters, digits, '.', '_', '-' and '*'.",
            hint="For example sha256-* (cosign signatures) or dev-*.",
        )
    if not 0 <= inputs.compression_level <= 9:
        raise InputError("--compression-level must be between 0 and 9.")


class _Publisher:
    def __init__(
        self, inputs: PublishInputs, reporter: Reporter, docker_factory: Callable[[], Any] | None
    ) -> None:
        self.inputs = inputs
        self.reporter = reporter
        self.docker_factory = docker_factory
        self.dest, self.tags = _destination(inputs)
        self.ecr_info = parse_ecr_host(self.dest.registry)
        self.ecr: Any = None
        self.repo_state: RepositoryState | None = None
        self.client = RegistryClient(
            _credentials(inputs, inputs.aws_endpoint_url),
            endpoints=inputs.registry_endpoints,
            insecure_registries=inputs.insecure_registries,
            reporter=reporter,
            retries=inputs.retries,
        )
        self.stats = CopyStats()
        self.tag_operations: dict[str, str] = {}
        self.engine: Any = None
        self.image_id = ""
        self.src: Reference | None = None
        self.src_digest = ""

    # -- ECR -------------------------------------------------------------

    def prepare_repository(self) -> None:
        if self.ecr_info is None:
            return
        self.ecr = ecr_client(self.ecr_info.region, self.inputs.aws_endpoint_url)
        if self.inputs.create_repository:
            self.repo_state = ensure_repository(
                self.ecr, self.dest.repository, self.inputs.repository
            )
            self.reporter.log(f"ECR repository {self.dest.repository}: {self.repo_state.operation}")
        else:
            self.repo_state = existing_repository(self.ecr, self.dest.repository)

    def tag_is_immutable(self, tag: str) -> bool:
        return self.repo_state is not None and self.repo_state.tag_is_immutable(tag)

    # -- tags ------------------------------------------------------------

    def current_tags(self) -> dict[str, str | None]:
        return {tag: self.client.manifest_digest(self.dest.with_tag(tag)) for tag in self.tags}

    def refuse_immutable(self, current: Mapping[str, str | None], digest: str | None) -> None:
        for tag, found in current.items():
            if found is not None and found != digest and self.tag_is_immutable(tag):
                raise ImmutableTagError(
                    f"Tag {tag!r} of {self.dest.name} is immutable and already points to {found}"
                    + (f", not {digest}." if digest else "."),
                    hint="Publish under a new tag (for example the commit SHA); immutable tags cannot move.",
                    title="Immutable tag",
                )

    def write_tags(
        self, data: bytes, media_type: str, digest: str, current: Mapping[str, str | None]
    ) -> None:
        self.refuse_immutable(current, digest)
        for tag in self.tags:
            if current.get(tag) == digest:
                self.tag_operations[tag] = "unchanged"
                continue
            try:
                self.client.put_manifest(self.dest.with_tag(tag), data, media_type)
            except RegistryError as error:
                if "immutable" in error.message.lower():
                    raise ImmutableTagError(
                        f"Registry {self.dest.registry} refused to move tag {tag!r} of {self.dest.repository}: "
                        "the tag is immutable and points to another image.",
                        hint="Publish under a new tag; immutable tags cannot move.",
                        title="Immutable tag",
                    ) from None
                raise
            self.stats.add("manifests_written")
            self.tag_operations[tag] = "created" if current.get(tag) is None else "moved"
        if not self.tags and self.client.manifest_digest(self.dest.with_digest(digest)) is None:
            self.client.put_manifest(self.dest.with_digest(digest), data, media_type)
            self.stats.add("manifests_written")

    def read_back(self, digest: str) -> None:
        where = self.dest.with_tag(self.tags[0]) if self.tags else self.dest.with_digest(digest)
        found = self.client.manifest_digest(where)
        if found != digest:
            raise DigestMismatch(
                f"Read-back of {where} from the registry gave digest {found}, but {digest} was pushed.",
                hint="Another publish may have moved the tag concurrently, or the registry rewrote the manifest; retry.",
                title="Digest mismatch",
            )

    # -- engine ----------------------------------------------------------

    def check_source(self) -> None:
        """Find the local image or resolve the source before anything is created."""
        if self.inputs.image:
            self.engine, self.image_id = self._open_engine(self.inputs.image)
        else:
            assert self.inputs.source
            self.src = parse_reference(self.inputs.source, what="source (--from)")
            self.src_digest = self.client.resolve(self.src)

    def _open_engine(self, image: str) -> tuple[Any, str]:
        from shipstep.steps.publish_engine import local_image_id

        if self.docker_factory is None:
            import docker

            self.docker_factory = docker.from_env
        try:
            engine = self.docker_factory()
        except Exception as error:  # docker.from_env raises DockerException on a missing engine
            raise ShipstepError(
                f"Cannot reach the Docker engine: {error.__class__.__name__}.",
                hint="Check DOCKER_HOST and that the engine is running.",
            ) from None
        return engine, local_image_id(engine, image)

    def from_engine(self) -> tuple[str, str]:
        from shipstep.steps.publish_engine import LocalBlob, export_image

        assert self.inputs.image
        engine, image_id = self.engine, self.image_id
        source = f"local image {self.inputs.image} ({image_id[:19]})"
        current = self.current_tags() if len(self.tags) > 1 else {}
        if self.tags:
            first = self.dest.with_tag(self.tags[0])
            existing = self._existing_image(first, image_id)
            if existing is not None:
                data, media_type, digest = existing
                current[self.tags[0]] = digest
                self.write_tags(data, media_type, digest, current)
                return digest, source
            if self.tags[0] not in current:
                current[self.tags[0]] = self.client.manifest_digest(first)
        # Refuse before exporting anything; an immutable tag that already holds
        # this very image (same config) is not a conflict.
        conflicting = {
            tag: found
            for tag, found in current.items()
            if found is not None
            and self.tag_is_immutable(tag)
            and self._existing_image(self.dest.with_tag(tag), image_id) is None
        }
        self.refuse_immutable(conflicting, None)
        with tempfile.TemporaryDirectory(prefix="shipstep-publish-") as workdir:
            with self.reporter.group(f"export {self.inputs.image} from the Docker engine"):
                exported = export_image(
                    engine,
                    image_id,
                    Path(workdir),
                    compresslevel=self.inputs.compression_level,
                    reporter=self.reporter,
                )
            with self.reporter.group(f"upload to {self.dest.name}"):

                def upload(blob: LocalBlob) -> None:
                    with self.reporter.task(f"push {blob.digest[7:19]}", total=blob.size) as task:
                        outcome = self.client.upload_blob(
                            self.dest, blob.source(), blob.digest, blob.size, progress=task.advance
                        )
                    self.stats.add("blobs_present" if outcome == "exists" else "blobs_uploaded")
                    self.reporter.log(f"{blob.digest[:19]} {blob.size} bytes: {outcome}")

                # In parallel, as docker push does; the manifest only after all of them.
                run_parallel([partial(upload, blob) for blob in _unique_blobs(exported.blobs)])
            self.write_tags(exported.manifest, exported.media_type, exported.digest, current)
            return exported.digest, source

    def _existing_image(self, ref: Reference, image_id: str) -> tuple[bytes, str, str] | None:
        """The manifest at `ref` when it already holds the local image (same config)."""
        try:
            data, media_type, digest = self.client.get_manifest(ref)
        except RegistryError as error:
            if error.status == 404:
                return None
            raise
        manifest = Manifest.parse(data, media_type)
        if manifest.config is not None and manifest.config.digest == image_id:
            return data, media_type, digest
        return None

    # -- registry --------------------------------------------------------

    def from_registry(self) -> tuple[str, str]:
        src, digest = self.src, self.src_digest
        assert src is not None
        if not self.tags and src.tag:
            self.tags = [src.tag]
        current = self.current_tags()
        self.refuse_immutable(current, digest)
        pinned = src.with_digest(digest)
        with self.reporter.group(f"copy {pinned} to {self.dest.name}"):
            data, media_type, _ = copy_manifest(
                self.client, pinned, self.dest, self.stats, self.reporter, put=not self.tags
            )
            self.write_tags(data, media_type, digest, current)
            if self.inputs.with_signatures:
                copy_signatures(
                    self.client, src.without_tag(), self.dest, digest, self.stats, self.reporter
                )
        return digest, str(pinned)


def _unique_blobs(blobs: list[Any]) -> list[Any]:
    """Blobs without repeats (two identical layers are uploaded once)."""
    unique: dict[str, Any] = {}
    for blob in blobs:
        unique.setdefault(blob.digest, blob)
    return list(unique.values())


def publish(
    inputs: PublishInputs,
    *,
    reporter: Reporter | None = None,
    docker_factory: Callable[[], Any] | None = None,
) -> PublishResult:
    reporter = reporter or NullReporter()
    _check_settings(inputs)
    if inputs.password:
        reporter.mask(inputs.password)
    publisher = _Publisher(inputs, reporter, docker_factory)
    publisher.check_source()
    publisher.prepare_repository()
    if inputs.image:
        digest, source = publisher.from_engine()
    else:
        digest, source = publisher.from_registry()
    publisher.read_back(digest)
    wrote = publisher.stats.wrote_anything
    result = PublishResult(
        registry=publisher.dest.registry,
        repository=publisher.dest.repository,
        digest=digest,
        tags=list(publisher.tags),
        operation="pushed" if wrote else "unchanged",
        source=source,
        tag_operations=publisher.tag_operations,
        stats=publisher.stats,
        signatures=list(publisher.stats.copied),
    )
    if publisher.repo_state is not None:
        result.repository_operation = publisher.repo_state.operation
        result.repository_notes = [
            f"the existing repository differs from the requested settings ({d}); publish does not change it"
            for d in publisher.repo_state.differences
        ]
    if publisher.ecr is not None:
        result.ecr_image = describe_image(publisher.ecr, publisher.dest.repository, digest)
        if inputs.scan_gate:
            result.scan = scan_gate(
                publisher.ecr,
                publisher.dest.repository,
                digest,
                inputs.scan_gate,
                timeout=inputs.scan_timeout,
            )
    result.requests = publisher.client.stats.requests
    result.bytes_uploaded = publisher.client.stats.bytes_uploaded
    return result
