"""Loading shipstep.yaml: parse, apply flags, validate, fill defaults.

Values come from three places, in this order of precedence: command-line
flags (or action inputs), `shipstep.yaml`, and, in a developer's shell only,
the local defaults (a registry on 127.0.0.1, a key pair under `.shipstep/`,
a local config repository with the local forge).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipstep.config.model import (
    BY_KEY,
    DEFAULT_FILE,
    LOCAL_CONFIG_REPO,
    LOCAL_KEY,
    LOCAL_REGISTRY,
    ConfigRepoSettings,
    ImageSettings,
    RegistrySettings,
    RepositorySettings,
    RunConfig,
    SigningSettings,
    TestSettings,
)
from shipstep.config.schema import validate
from shipstep.config.yamlsource import Document, Path_, parse
from shipstep.errors import InputError


def load_config(
    path: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    local_defaults: bool = False,
    revision: str | None = None,
    cwd: Path | None = None,
) -> RunConfig:
    """Load and validate shipstep.yaml (`path`, default ./shipstep.yaml).

    `overrides` maps dotted keys (`image.name`, see SETTINGS) to flag values;
    they win over the file. `local_defaults` fills absent registry, signing
    and config-repo settings with the local ones (a developer's shell).
    `revision` (the source commit) gives the default tag.
    """
    cwd = cwd or Path.cwd()
    explicit = path is not None
    file = (cwd / (path or DEFAULT_FILE)).resolve()
    if file.is_file():
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read {file}: {error}", hint="Check the path.") from None
        document = parse(text, _display(file, cwd))
        if not isinstance(document.data, dict):
            validate(document)  # reports the top-level type error with its line
    elif explicit:
        raise InputError(
            f"configuration file {path} not found",
            hint="Pass --config with the path of your shipstep.yaml, or run in its directory.",
        )
    else:
        document = Document(data={}, file=_display(file, cwd))
    flags = _apply_overrides(document, overrides or {})
    validate(document, flags)
    base = file.parent if file.is_file() else cwd
    return _build(document, base, flags, local_defaults, revision, file if file.is_file() else None)


def _display(file: Path, cwd: Path) -> str:
    try:
        return str(file.relative_to(cwd))
    except ValueError:
        return str(file)


def _apply_overrides(document: Document, overrides: Mapping[str, Any]) -> dict[Path_, str]:
    flags: dict[Path_, str] = {}
    for key, value in overrides.items():
        if value is None or value == () or value == []:
            continue
        setting = BY_KEY[key]
        target = document.data
        for part in setting.key[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[setting.key[-1]] = list(value) if isinstance(value, tuple) else value
        flags[setting.key] = setting.flag
    return flags


class _Builder:
    def __init__(self, document: Document, base: Path, flags: Mapping[Path_, str]) -> None:
        self.document = document
        self.base = base
        self.flags = flags

    def missing(self, key: str, what: str, extra: str = "") -> InputError:
        setting = BY_KEY[key]
        where = f" in {self.document.file}"
        return InputError(
            f"{what} is not set: pass {setting.flag} or set '{key}'{where}{extra}",
            file=self.document.file,
            title="Missing setting",
            hint=f"Add '{key}' to {self.document.file} or pass {setting.flag}; docs/run.md lists every setting.",
        )

    def invalid(self, path: Path_, message: str, hint: str) -> InputError:
        if path in self.flags:
            return InputError(f"{self.flags[path]}: {message}", hint=hint)
        return InputError(
            message,
            file=self.document.file,
            line=self.document.line_of(path),
            hint=hint,
            title="Invalid shipstep.yaml",
        )

    def path(self, value: str) -> Path:
        return (self.base / value).resolve()


def _build(
    document: Document,
    base: Path,
    flags: Mapping[Path_, str],
    local_defaults: bool,
    revision: str | None,
    file: Path | None,
) -> RunConfig:
    data: dict[str, Any] = document.data
    builder = _Builder(document, base, flags)
    local = data.get("local") or {}
    used: list[str] = []

    image = _image(builder, data, revision)

    registry_data = data.get("registry") or {}
    url, ecr = registry_data.get("url"), registry_data.get("ecr") or {}
    if url is not None and ecr:
        raise builder.invalid(
            ("registry", "ecr"),
            "set either 'registry.url' or 'registry.ecr', not both",
            "Keep registry.ecr for Amazon ECR, registry.url for any other registry.",
        )
    settings = _repository_settings(builder, registry_data.get("repository") or {})
    endpoint = registry_data.get("endpoint")
    if ecr:
        account, region = ecr.get("account"), ecr.get("region")
        if account is None:
            raise builder.missing("registry.ecr.account", "the ECR account")
        if region is None:
            raise builder.missing("registry.ecr.region", "the ECR region")
        registry = RegistrySettings(
            host=f"{account}.dkr.ecr.{region}.amazonaws.com",
            ecr_account=account,
            ecr_region=region,
            endpoint=endpoint,
            repository_settings=settings,
        )
    else:
        if url is None and local_defaults:
            url = local.get("registry", LOCAL_REGISTRY)
            used.append(f"registry {url}")
        if url is None:
            raise builder.missing(
                "registry.url",
                "the registry",
                " (or registry.ecr.account and registry.ecr.region for Amazon ECR)",
            )
        host, _, prefix = str(url).partition("/")
        registry = RegistrySettings(
            host=host, prefix=prefix, endpoint=endpoint, repository_settings=settings
        )

    signing = _signing(builder, data.get("signing") or {}, local, local_defaults, used)
    config_repo = _config_repo(builder, data.get("config-repo") or {}, local, local_defaults, used)
    if not config_repo.name:
        config_repo = ConfigRepoSettings(
            url=config_repo.url,
            forge=config_repo.forge,
            base_branch=config_repo.base_branch,
            name=image.name.rsplit("/", 1)[-1],
            paths=config_repo.paths,
            repository=config_repo.repository,
        )
    return RunConfig(
        file=file,
        image=image,
        registry=registry,
        signing=signing,
        config_repo=config_repo,
        local_defaults=tuple(used),
    )


def _image(builder: _Builder, data: Mapping[str, Any], revision: str | None) -> ImageSettings:
    section = data.get("image") or {}
    name = section.get("name")
    if name is None:
        raise builder.missing("image.name", "the image name")
    context = builder.path(section.get("context", "."))
    dockerfile = section.get("dockerfile")
    test = section.get("test") or {}
    command = test.get("command")
    test_settings = None
    if command is not None:
        try:
            argv = tuple(shlex.split(command)) if isinstance(command, str) else tuple(command)
        except ValueError as error:
            raise builder.invalid(
                ("image", "test", "command"),
                f"the test command cannot be split into arguments: {error}",
                "Close the quote, or write the command as a list of arguments.",
            ) from None
        test_settings = TestSettings(
            command=argv, timeout=test.get("timeout"), report=test.get("report")
        )
    elif test.get("timeout") is not None or test.get("report") is not None:
        raise builder.missing(
            "image.test.command", "the test command", " (test timeout and report need one)"
        )
    tags = section.get("tags") or [revision[:12] if revision else "latest"]
    return ImageSettings(
        name=name,
        context=context,
        dockerfile=builder.path(dockerfile) if dockerfile else None,
        tags=tuple(tags),
        build_args=dict(section.get("build-args") or {}),
        target=section.get("target"),
        test=test_settings,
    )


def _repository_settings(builder: _Builder, section: Mapping[str, Any]) -> RepositorySettings:
    policy = section.get("lifecycle-policy")
    return RepositorySettings(
        tag_immutability=bool(section.get("tag-immutability", False)),
        scan_on_push=bool(section.get("scan-on-push", False)),
        kms_key=section.get("kms-key"),
        lifecycle_policy=builder.path(policy) if policy else None,
        resource_tags=dict(section.get("resource-tags") or {}),
        scan_gate=section.get("scan-gate"),
    )


def _signing(
    builder: _Builder,
    section: Mapping[str, Any],
    local: Mapping[str, Any],
    local_defaults: bool,
    used: list[str],
) -> SigningSettings:
    mode, key = section.get("mode"), section.get("key")
    if mode is None and key is None and local_defaults:
        key = local.get("key", LOCAL_KEY)
        used.append(f"signing key {key}")
    if mode is None and key is not None:
        mode = "kms" if str(key).startswith("awskms://") else "key"
    if mode is None:
        raise builder.missing(
            "signing.key", "signing", " (or --signing-mode keyless / 'signing.mode: keyless')"
        )
    if mode == "keyless":
        if key is not None:
            raise builder.invalid(
                ("signing", "key"),
                "signing mode keyless takes no key",
                "Remove signing.key, or choose mode key or kms.",
            )
        return SigningSettings(mode="keyless")
    if key is None:
        raise builder.missing("signing.key", f"the key for signing mode {mode}")
    is_kms = str(key).startswith("awskms://")
    if mode == "kms" and not is_kms:
        raise builder.invalid(
            ("signing", "key"),
            f"signing mode kms needs a key reference awskms:///alias/NAME or awskms://ENDPOINT/KEY_ID, not '{key}'",
            "Use an awskms:// reference, or signing mode key for a key file.",
        )
    if mode == "key" and is_kms:
        raise builder.invalid(
            ("signing", "key"),
            f"signing mode key needs a key file, not the KMS reference '{key}'",
            "Use signing mode kms for awskms:// references.",
        )
    verbatim = is_kms or str(key).startswith("env://")  # env://VAR: the PEM in a variable
    return SigningSettings(mode=mode, key=key if verbatim else str(builder.path(key)))


_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/@\s]+@[^/:\s]+:")


def is_remote(url: str) -> bool:
    """A URL (`https://`, `ssh://`, `git@host:path`) rather than a local path."""
    return bool(_URL.match(url)) and not url.startswith("file://")


def _config_repo(
    builder: _Builder,
    section: Mapping[str, Any],
    local: Mapping[str, Any],
    local_defaults: bool,
    used: list[str],
) -> ConfigRepoSettings:
    url, forge = section.get("url"), section.get("forge")
    if url is None and local_defaults and forge in (None, "local"):
        url = local.get("config-repo", LOCAL_CONFIG_REPO)
        used.append(f"config repository {url} (local forge)")
    if url is None:
        raise builder.missing("config-repo.url", "the config repository")
    remote = is_remote(url)
    if forge is None:
        if not remote:
            forge = "local"
        elif "github.com" in url.split("/")[2:3] or url.startswith("git@github.com:"):
            forge = "github"
        elif "codecommit" in url:
            forge = "codecommit"
        else:
            raise builder.missing(
                "config-repo.forge", f"the forge of {url}", " (github, codecommit or local)"
            )
    if forge == "local" and remote:
        raise builder.invalid(
            ("config-repo", "url"),
            f"the local forge works on a repository path, not the URL '{url}'",
            "Use a path (for example .shipstep/config-repo.git), or forge github / codecommit.",
        )
    if not remote:
        url = str(builder.path(url.removeprefix("file://")))
    return ConfigRepoSettings(
        url=url,
        forge=forge,
        base_branch=section.get("base-branch", "main"),
        name=section.get("name", ""),
        paths=tuple(section.get("paths") or ()),
        repository=section.get("repository"),
    )
