"""The validated configuration of `shipstep run`: what the loader
(`shipstep.config.loader`) returns, and the settings flags can override."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shipstep.config.schema import dotted
from shipstep.config.yamlsource import Path_

DEFAULT_FILE = "shipstep.yaml"
LOCAL_REGISTRY = "127.0.0.1:5000"
LOCAL_KEY = ".shipstep/cosign.key"
LOCAL_CONFIG_REPO = ".shipstep/config-repo.git"


@dataclass(frozen=True)
class Setting:
    """A setting that a flag of `shipstep run` can also provide."""

    key: Path_
    flag: str

    @property
    def dotted(self) -> str:
        return dotted(self.key)


SETTINGS: tuple[Setting, ...] = (
    Setting(("image", "name"), "--image"),
    Setting(("image", "context"), "--context"),
    Setting(("image", "dockerfile"), "--file"),
    Setting(("image", "tags"), "--tag"),
    Setting(("image", "build-args"), "--build-arg"),
    Setting(("image", "target"), "--target"),
    Setting(("image", "test", "command"), "--test-command"),
    Setting(("image", "test", "timeout"), "--test-timeout"),
    Setting(("image", "test", "report"), "--test-report"),
    Setting(("registry", "url"), "--registry"),
    Setting(("registry", "endpoint"), "--registry-endpoint"),
    Setting(("registry", "ecr", "account"), "--ecr-account"),
    Setting(("registry", "ecr", "region"), "--ecr-region"),
    Setting(("signing", "mode"), "--signing-mode"),
    Setting(("signing", "key"), "--key"),
    Setting(("config-repo", "url"), "--config-repo"),
    Setting(("config-repo", "paths"), "--path"),
    Setting(("config-repo", "forge"), "--forge"),
    Setting(("config-repo", "repository"), "--forge-repository"),
    Setting(("config-repo", "base-branch"), "--base"),
    Setting(("config-repo", "name"), "--name"),
)
BY_KEY = {setting.dotted: setting for setting in SETTINGS}


@dataclass(frozen=True)
class TestSettings:
    command: tuple[str, ...]
    timeout: int | None = None
    report: str | None = None


@dataclass(frozen=True)
class ImageSettings:
    name: str
    context: Path
    dockerfile: Path | None = None
    tags: tuple[str, ...] = ("latest",)
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    test: TestSettings | None = None


@dataclass(frozen=True)
class RepositorySettings:
    tag_immutability: bool = False
    scan_on_push: bool = False
    kms_key: str | None = None
    lifecycle_policy: Path | None = None
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    scan_gate: str | None = None


@dataclass(frozen=True)
class RegistrySettings:
    """`host` is the registry host[:port]; `prefix` an optional path before the image name."""

    host: str
    prefix: str = ""
    ecr_account: str | None = None
    ecr_region: str | None = None
    endpoint: str | None = None  # URL serving the registry API when not https://<host>
    repository_settings: RepositorySettings = field(default_factory=RepositorySettings)

    @property
    def is_ecr(self) -> bool:
        return self.ecr_account is not None

    def repository(self, image_name: str) -> str:
        """`host/prefix/name`: the repository the image is published to."""
        return "/".join(part for part in (self.host, self.prefix, image_name) if part)


@dataclass(frozen=True)
class SigningSettings:
    mode: str  # key | kms | keyless
    key: str | None = None  # a path (mode key) or an awskms:// reference


@dataclass(frozen=True)
class ConfigRepoSettings:
    url: str
    forge: str  # github | codecommit | local
    base_branch: str = "main"
    name: str = ""
    paths: tuple[str, ...] = ()
    repository: str | None = None  # OWNER/NAME on GitHub, the name on CodeCommit


@dataclass(frozen=True)
class RunConfig:
    file: Path | None
    image: ImageSettings
    registry: RegistrySettings
    signing: SigningSettings
    config_repo: ConfigRepoSettings
    # The local defaults that filled settings absent from file and flags.
    local_defaults: tuple[str, ...] = ()
