"""shipstep.yaml: schema, loader, flags over file, local defaults, bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from shipstep.config import SETTINGS, load_config
from shipstep.config.schema import schema
from shipstep.errors import ExitCode, InputError

pytestmark = pytest.mark.timeout(30)

FULL = """\
# yaml-language-server: $schema=https://example.invalid/shipstep.schema.json
version: 1
image:
  name: team/hello
  context: app
  dockerfile: app/Dockerfile.prod
  tags: [v1, stable]
  build-args:
    BASE_IMAGE: base:1
  target: runtime
  test:
    command: sh /app/test.sh --out '/tmp/a report.xml'
    timeout: 60
    report: /tmp/report.xml
registry:
  ecr:
    account: "123456789012"
    region: eu-west-1
  repository:
    tag-immutability: true
    scan-on-push: true
    kms-key: alias/ecr
    resource-tags: {team: web}
    lifecycle-policy: policy.json
signing:
  key: awskms:///alias/release
config-repo:
  url: https://github.com/acme/config.git
  paths: [apps/hello/**]
  base-branch: trunk
  name: hello-prod
"""


def write(tmp_path: Path, text: str, name: str = "shipstep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, **kwargs: Any) -> Any:
    return load_config(write(tmp_path, text), cwd=tmp_path, **kwargs)


def error_of(tmp_path: Path, text: str, **kwargs: Any) -> InputError:
    with pytest.raises(InputError) as caught:
        load(tmp_path, text, **kwargs)
    assert caught.value.exit_code == ExitCode.USAGE
    return caught.value


MINIMAL = """\
image: {name: hello}
registry: {url: 127.0.0.1:5000}
signing: {key: cosign.key}
config-repo: {url: ../config.git}
"""


def test_schema_is_valid_draft_2020_12_and_packaged() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_flag_setting_is_a_key_of_the_schema() -> None:
    for setting in SETTINGS:
        node: Any = schema()
        for part in setting.key:
            node = node["properties"][part]
        assert node.get("description"), setting


def test_full_file_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, FULL)
    assert config.image.name == "team/hello"
    assert config.image.context == tmp_path / "app"
    assert config.image.dockerfile == tmp_path / "app" / "Dockerfile.prod"
    assert config.image.tags == ("v1", "stable")
    assert config.image.build_args == {"BASE_IMAGE": "base:1"}
    assert config.image.test is not None
    assert config.image.test.command == ("sh", "/app/test.sh", "--out", "/tmp/a report.xml")
    assert config.image.test.timeout == 60
    assert config.registry.host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert config.registry.is_ecr
    assert config.registry.repository("team/hello").endswith(".amazonaws.com/team/hello")
    assert config.registry.repository_settings.lifecycle_policy == tmp_path / "policy.json"
    assert config.registry.repository_settings.resource_tags == {"team": "web"}
    assert config.registry.repository_settings.tag_immutability is True
    assert config.signing.mode == "kms"
    assert config.signing.key == "awskms:///alias/release"
    assert config.config_repo.forge == "github"
    assert config.config_repo.base_branch == "trunk"
    assert config.config_repo.paths == ("apps/hello/**",)
    assert config.local_defaults == ()


def test_defaults_tag_from_revision_and_name_from_image(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL, revision="0123456789abcdef0123")
    assert config.image.tags == ("0123456789ab",)
    assert config.image.context == tmp_path
    assert config.image.test is None
    assert config.signing.mode == "key"
    assert config.signing.key == str(tmp_path / "cosign.key")
    assert config.config_repo.forge == "local"
    assert config.config_repo.url == str((tmp_path / "../config.git").resolve())
    assert config.config_repo.name == "hello"
    assert config.config_repo.base_branch == "main"
    assert load(tmp_path, MINIMAL).image.tags == ("latest",)


def test_registry_url_with_prefix(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL.replace("127.0.0.1:5000", "ghcr.io/acme"))
    assert config.registry.host == "ghcr.io"
    assert config.registry.repository("hello") == "ghcr.io/acme/hello"


def test_flags_override_file_values(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        FULL,
        overrides={
            "image.name": "other",
            "image.tags": ("v2",),
            "image.test.timeout": 5,
            "signing.key": "awskms:///alias/other",
            "config-repo.url": None,  # an absent flag leaves the file value alone
            "config-repo.base-branch": "main",
        },
    )
    assert config.image.name == "other"
    assert config.image.tags == ("v2",)
    assert config.image.test is not None and config.image.test.timeout == 5
    assert config.config_repo.base_branch == "main"
    assert config.signing.key == "awskms:///alias/other"
    assert config.config_repo.url == "https://github.com/acme/config.git"


def test_keyless_rejects_a_key_from_the_file(tmp_path: Path) -> None:
    error = error_of(tmp_path, FULL, overrides={"signing.mode": "keyless"})
    assert "keyless takes no key" in error.message
    assert error.line == FULL.splitlines().index("  key: awskms:///alias/release") + 1


def test_flags_alone_without_a_file(tmp_path: Path) -> None:
    config = load_config(
        cwd=tmp_path,
        overrides={
            "image.name": "hello",
            "registry.url": "127.0.0.1:5000",
            "signing.mode": "keyless",
            "config-repo.url": "https://github.com/acme/config",
        },
    )
    assert config.file is None
    assert config.signing.mode == "keyless"


def test_explicit_config_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_config(Path("nope.yaml"), cwd=tmp_path)


# --- unknown keys ---------------------------------------------------------


def test_unknown_top_level_key_names_line_and_suggests(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL + "registy: {}\n")
    assert error.file == "shipstep.yaml"
    assert error.line == 5
    assert "unknown key 'registy'" in error.message
    assert "did you mean 'registry'" in error.message
    assert "shipstep.yaml:5: " in error.diagnostic()


def test_unknown_nested_key_names_its_line_and_the_allowed_keys(tmp_path: Path) -> None:
    text = 'image:\n  name: hello\n  test:\n    command: ["true"]\n    retries: 3\n'
    error = error_of(tmp_path, text)
    assert error.line == 5
    assert "unknown key 'retries' in 'image.test'" in error.message
    assert "allowed: command, report, timeout" in error.message


# --- wrong types ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "expected"),
    [
        (
            "image:\n  name: hello\n  test:\n    command: [x]\n    timeout: 2m\n",
            5,
            "'image.test.timeout' must be an integer, not a string (\"2m\")",
        ),
        ("image:\n  name: hello\n  tags: v1\n", 3, "'image.tags' must be a list, not a string"),
        ("image:\n  name: 42\n", 2, "'image.name' must be a string, not a number (42)"),
        (
            "registry:\n  repository:\n    scan-on-push: maybe\n",
            3,
            "'registry.repository.scan-on-push' must be a boolean (true or false)",
        ),
        (
            "image:\n  tags:\n    - ok\n    - [no]\n",
            4,
            "'image.tags[1]' must be a string, not a list",
        ),
        ("signing: keyless\n", 1, "'signing' must be a mapping, not a string"),
        ("image:\n  build-args:\n    A: 1\n", 3, "'image.build-args.A' must be a string"),
        ("version: 2\n", 1, "'version' must be one of 1, not a number (2)"),
        ("config-repo:\n  forge: gitlab\n", 2, "'config-repo.forge' must be one of \"github\""),
        (
            "registry:\n  ecr:\n    account: '1234'\n",
            3,
            "'registry.ecr.account' has an invalid value a string (\"1234\"); expected: 12-digit",
        ),
        ("image:\n  name: Hello_App\n", 2, "'image.name' has an invalid value"),
    ],
)
def test_wrong_type_names_file_line_and_expected_type(
    tmp_path: Path, text: str, line: int, expected: str
) -> None:
    error = error_of(tmp_path, text)
    assert error.file == "shipstep.yaml"
    assert error.line == line
    assert expected in error.message
    assert error.hint and "docs/run.md" in error.hint


def test_every_problem_is_listed_the_first_one_located(tmp_path: Path) -> None:
    error = error_of(tmp_path, "image:\n  name: 1\n  colour: red\nextra: 1\n")
    assert error.line == 2
    assert "also shipstep.yaml:3: unknown key 'colour'" in error.message
    assert "also shipstep.yaml:4: unknown key 'extra'" in error.message


def test_top_level_that_is_not_a_mapping(tmp_path: Path) -> None:
    error = error_of(tmp_path, "- image\n")
    assert error.line == 1
    assert "must be a mapping, not a list" in error.message


def test_wrong_type_from_a_flag_names_the_flag(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, MINIMAL, overrides={"image.test.command": "x", "image.tags": ["a b"]}
    )
    assert error.file is None
    assert error.message.startswith("--tag: 'image.tags[0]' has an invalid value")


# --- missing required settings -------------------------------------------------


@pytest.mark.parametrize(
    ("remove", "flag", "key"),
    [
        ("image: {name: hello}\n", "--image", "image.name"),
        ("registry: {url: 127.0.0.1:5000}\n", "--registry", "registry.url"),
        ("signing: {key: cosign.key}\n", "--key", "signing.key"),
        ("config-repo: {url: ../config.git}\n", "--config-repo", "config-repo.url"),
    ],
)
def test_missing_required_setting_names_flag_and_key(
    tmp_path: Path, remove: str, flag: str, key: str
) -> None:
    error = error_of(tmp_path, MINIMAL.replace(remove, ""))
    assert flag in error.message
    assert f"'{key}'" in error.message
    assert "shipstep.yaml" in error.message
    assert error.title == "Missing setting"


@pytest.mark.parametrize(
    ("text", "flag", "key"),
    [
        ("registry: {ecr: {account: '123456789012'}}\n", "--ecr-region", "registry.ecr.region"),
        ("registry: {ecr: {region: eu-west-1}}\n", "--ecr-account", "registry.ecr.account"),
        ("signing: {mode: kms}\n", "--key", "signing.key"),
        (
            "config-repo: {url: 'ssh://git.example.com/config.git'}\n",
            "--forge",
            "config-repo.forge",
        ),
        ("image: {name: hello, test: {timeout: 5}}\n", "--test-command", "image.test.command"),
    ],
)
def test_missing_dependent_setting_names_flag_and_key(
    tmp_path: Path, text: str, flag: str, key: str
) -> None:
    base = MINIMAL
    section = text.split(":", 1)[0]
    base = "\n".join(line for line in base.splitlines() if not line.startswith(section)) + "\n"
    error = error_of(tmp_path, base + text)
    assert flag in error.message and f"'{key}'" in error.message


def test_missing_settings_in_ci_even_without_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_config(cwd=tmp_path, overrides={"image.name": "hello"})
    assert "--registry" in caught.value.message
    assert "'registry.url'" in caught.value.message


# --- conflicting settings --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("registry: {url: a.io, ecr: {account: '123456789012'}}\n", "not both"),
        ("signing: {mode: key, key: 'awskms:///alias/x'}\n", "needs a key file"),
        ("signing: {mode: kms, key: cosign.key}\n", "needs a key reference awskms://"),
        (
            "config-repo: {url: 'https://github.com/a/b', forge: local}\n",
            "works on a repository path",
        ),
        ("registry: {url: a.io, endpoint: 'ftp://x'}\n", "'registry.endpoint' has an invalid"),
        ('image: {name: hello, test: {command: "sh -c \'oops"}}\n', "cannot be split"),
    ],
)
def test_conflicting_settings_are_located(tmp_path: Path, text: str, message: str) -> None:
    section = text.split(":", 1)[0]
    base = "\n".join(line for line in MINIMAL.splitlines() if not line.startswith(section)) + "\n"
    error = error_of(tmp_path, base + text)
    assert message in error.message
    assert error.line == 4


# --- local defaults --------------------------------------------------------------


def test_local_defaults_fill_registry_key_and_config_repo(tmp_path: Path) -> None:
    config = load(tmp_path, "image: {name: hello}\n", local_defaults=True)
    assert config.registry.host == "127.0.0.1:5000"
    assert config.signing == type(config.signing)(
        mode="key", key=str(tmp_path / ".shipstep" / "cosign.key")
    )
    assert config.config_repo.url == str(tmp_path / ".shipstep" / "config-repo.git")
    assert config.config_repo.forge == "local"
    assert len(config.local_defaults) == 3


def test_local_section_changes_the_local_defaults(tmp_path: Path) -> None:
    text = "image: {name: hello}\nlocal: {registry: '127.0.0.1:5999', key: k/x.key, config-repo: repo.git}\n"
    config = load(tmp_path, text, local_defaults=True)
    assert config.registry.host == "127.0.0.1:5999"
    assert config.signing.key == str(tmp_path / "k" / "x.key")
    assert config.config_repo.url == str(tmp_path / "repo.git")


def test_local_defaults_never_replace_configured_values(tmp_path: Path) -> None:
    config = load(tmp_path, FULL, local_defaults=True)
    assert config.local_defaults == ()
    assert config.registry.is_ecr


# --- unsafe or broken YAML ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("image:\n  name: hello\n   tags: [a]\n", 3, "not valid YAML"),
        ("image: &img {name: hello}\nother: *img\n", 1, "anchors (&img) are not allowed"),
        ("image:\n  name: a\n  name: b\n", 3, "key 'name' appears twice"),
        ("image:\n  1: a\n", 2, "keys must be strings"),
        ("image: {name: 'unterminated}\n", 2, "not valid YAML"),
    ],
)
def test_unsafe_or_broken_yaml_is_refused_with_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    error = error_of(tmp_path, text)
    assert message in error.message
    assert error.line == line


def test_python_tags_are_refused_by_the_safe_loader(tmp_path: Path) -> None:
    error = error_of(tmp_path, "image: !!python/object/apply:os.system ['true']\n")
    assert "tag:yaml.org,2002:python/object/apply:os.system is not allowed" in error.message
    assert error.line == 1
    error = error_of(tmp_path, "image: {name: !!python/name:os.system ''}\n")
    assert "not valid YAML" in error.message


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, "# " + "x" * (1024 * 1024) + "\n")
    assert "larger than" in error.message


def test_the_example_app_configuration_is_valid() -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "hello-app" / "shipstep.yaml"
    assert example.read_text().startswith("# yaml-language-server: $schema=")
    config = load_config(example, local_defaults=True, cwd=example.parent)
    assert config.image.name == "hello-app"
    assert config.image.test is not None and config.image.test.report == "/tmp/report.xml"
    assert config.config_repo.forge == "local" and config.config_repo.name == "hello-app-local"
    # The modeline points at the schema shipped in the package.
    modeline = example.read_text().splitlines()[0].split("$schema=", 1)[1]
    assert (example.parent / modeline).resolve() == (
        Path(__file__).resolve().parents[3] / "src" / "shipstep" / "config" / "shipstep.schema.json"
    )
