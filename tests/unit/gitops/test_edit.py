"""Finding and editing image references in files (no git)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipstep.errors import InputError, ShipstepError
from shipstep.gitops.finders import SearchOptions, Target, ValuesKeys
from shipstep.gitops.images import ImageSpec
from shipstep.gitops.paths import make_globs, sparse_directories
from shipstep.gitops.search import search, write_edits
from tests.fixtures.config_repo import APP, NEW_DIGEST, NEW_REF

pytestmark = pytest.mark.timeout(30)
SPEC = ImageSpec.create(APP, NEW_REF)


def repo(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return tmp_path


def bump_files(
    tmp_path: Path,
    files: dict[str, str | bytes],
    spec: ImageSpec = SPEC,
    options: SearchOptions | None = None,
    paths: tuple[str, ...] = (),
) -> dict[str, bytes]:
    root = repo(tmp_path, files)
    result = search(root, spec, make_globs(paths), options)
    write_edits(root, result)
    return {name: (root / name).read_bytes() for name in files}


def test_matching_is_by_repository_not_substring(tmp_path: Path) -> None:
    text = "\n".join(
        f"- {{name: c{i}, image: '{image}'}}"
        for i, image in enumerate(
            [
                f"{APP}-worker:1",
                f"{APP}x:1",
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/other/team/app:1",
                "team/app:1",
            ]
        )
    )
    files = {
        "p.yaml": f"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n{text}\n".replace(
            "\n- ", "\n  - "
        )
    }
    out = bump_files(tmp_path, files)["p.yaml"].decode()
    assert f"'{APP}-worker:1'" in out and f"'{APP}x:1'" in out and "other/team/app:1'" in out
    # Written without the registry host: matched, and the file's spelling kept.
    assert f"'team/app:1.4.2@{NEW_DIGEST}'" in out


def test_anchor_and_alias_refused(tmp_path: Path) -> None:
    files = {
        "p.yaml": f"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - &c {{name: a, image: {APP}:1}}\n  initContainers:\n  - *c\n"
    }
    with pytest.raises(ShipstepError, match="anchor/alias"):
        bump_files(tmp_path, files)
    merge = {
        "values.yaml": f"base: &b\n  image:\n    repository: {APP}\n    tag: '1'\napp:\n  <<: *b\n"
    }
    with pytest.raises(ShipstepError, match="anchor/alias"):
        bump_files(tmp_path / "m", merge)
    # Anchors elsewhere in the file do not matter.
    ok = {"values.yaml": f"defaults: &d {{cpu: 1}}\nres: *d\nimage: {APP}:1\n"}
    assert NEW_REF in bump_files(tmp_path / "ok", ok)["values.yaml"].decode()


def test_anchored_scalar_refused(tmp_path: Path) -> None:
    files = {"values.yaml": f"image: &img {APP}:1\n"}
    with pytest.raises(ShipstepError, match="anchor"):
        bump_files(tmp_path, files)


def test_block_scalar_refused(tmp_path: Path) -> None:
    with pytest.raises(ShipstepError, match="block scalar"):
        bump_files(tmp_path, {"values.yaml": f"image: |\n  {APP}:1\n"})


def test_plain_tag_that_reads_as_number_is_quoted(tmp_path: Path) -> None:
    spec = ImageSpec.create(APP, f"{APP}:1.10", "tag")
    out = bump_files(
        tmp_path, {"values.yaml": f"image:\n  repository: {APP}\n  tag: 1.9  # old\n"}, spec
    )
    assert out["values.yaml"] == f'image:\n  repository: {APP}\n  tag: "1.10"  # old\n'.encode()


def test_digest_only_format(tmp_path: Path) -> None:
    spec = ImageSpec.create(APP, NEW_REF, "digest")
    out = bump_files(tmp_path, {"values.yaml": f"image: {APP}:1.0\n"}, spec)
    assert out["values.yaml"] == f"image: {APP}@{NEW_DIGEST}\n".encode()


def test_bom_crlf_and_no_trailing_newline_kept(tmp_path: Path) -> None:
    raw = f"\ufeffapiVersion: v1\r\nkind: Pod\r\nspec:\r\n  containers:\r\n  - image: {APP}:1 # é\r\n    name: a".encode()
    out = bump_files(tmp_path, {"p.yaml": raw})["p.yaml"]
    assert out == raw.replace(f"{APP}:1 ".encode(), f"{NEW_REF} ".encode())


def test_configurable_values_keys(tmp_path: Path) -> None:
    keys = ValuesKeys(
        repository="app.img.repo", tag="app.img.version", digest="app.img.sha", registry=""
    )
    files = {"values.yaml": f"app:\n  img:\n    repo: {APP}\n    version: v1\n    sha: ''\n"}
    out = bump_files(tmp_path, files, options=SearchOptions(values_keys=keys))
    assert (
        out["values.yaml"].decode()
        == f"app:\n  img:\n    repo: {APP}\n    version: 1.4.2\n    sha: '{NEW_DIGEST}'\n"
    )


def test_flux_tag_marker_needs_policy(tmp_path: Path) -> None:
    files = {"values.yaml": 'tag: "1.0" # {"$imagepolicy": "flux-system:app:tag"}\n'}
    root = repo(tmp_path, files)
    assert search(root, SPEC, make_globs([])).found == []
    options = SearchOptions(flux_policies=frozenset({"flux-system:app"}))
    out = bump_files(tmp_path, files, options=options)
    assert out["values.yaml"] == b'tag: "1.4.2" # {"$imagepolicy": "flux-system:app:tag"}\n'


def test_json_pointer_targets(tmp_path: Path) -> None:
    files = {
        "app.yaml": f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  source:\n    helm:\n      parameters:\n      - {{name: image.tag, value: '1.0'}}\n      - {{name: image, value: {APP}:1.0}}\n"
    }
    options = SearchOptions(
        targets=(
            Target.parse("tag=app.yaml#/spec/source/helm/parameters/0/value"),
            Target.parse("app.yaml#/spec/source/helm/parameters/1/value"),
        )
    )
    out = bump_files(tmp_path, files, options=options)["app.yaml"].decode()
    assert "value: '1.4.2'}" in out and f"value: {NEW_REF}}}" in out
    with pytest.raises(ShipstepError, match="does not resolve"):
        bump_files(
            tmp_path / "x",
            files,
            options=SearchOptions(targets=(Target.parse("app.yaml#/spec/nope"),)),
        )
    with pytest.raises(ShipstepError, match="not a reference in"):
        bump_files(
            tmp_path / "y", files, options=SearchOptions(targets=(Target.parse("app.yaml#/kind"),))
        )
    with pytest.raises(InputError, match="not FILE#"):
        Target.parse("app.yaml")
    with pytest.raises(InputError, match="not a relative path"):
        Target.parse("../etc/x.yaml#/a")


def test_path_escape_in_globs_refused() -> None:
    for bad in ("../other/**", "/etc/*.yaml", "a/../../b"):
        with pytest.raises(InputError, match="not a relative path"):
            make_globs([bad])


def test_symlink_inside_is_followed_once(tmp_path: Path) -> None:
    root = repo(tmp_path, {"real/p.yaml": f"image: {APP}:1\n"})
    (root / "link.yaml").symlink_to("real/p.yaml")
    result = search(root, SPEC, make_globs([]))
    assert len(result.found) == 1


def test_size_limit(tmp_path: Path) -> None:
    root = repo(tmp_path, {"big.yaml": "a: " + "x" * 2000 + f"\nimage: {APP}:1\n"})
    with pytest.raises(ShipstepError, match="larger than the limit"):
        search(root, SPEC, make_globs([]), max_file_bytes=1000)


def test_yaml_parse_error_has_line(tmp_path: Path) -> None:
    root = repo(tmp_path, {"x.yaml": f"a: 1\nimage: {APP}:1\nb: [\n"})
    with pytest.raises(ShipstepError) as caught:
        search(root, SPEC, make_globs([]))
    assert caught.value.file == "x.yaml" and caught.value.line == 4


def test_image_spec_validation() -> None:
    with pytest.raises(InputError, match="repository only"):
        ImageSpec.create(f"{APP}:1", NEW_REF)
    with pytest.raises(InputError, match="not a reference in the bumped repository"):
        ImageSpec.create(APP, f"ghcr.io/x/y:1@{NEW_DIGEST}")
    with pytest.raises(InputError, match="has no digest"):
        ImageSpec.create(APP, f"{APP}:1")
    assert ImageSpec.create(APP, f":1.4.2@{NEW_DIGEST}").display() == NEW_REF


def test_sparse_directories() -> None:
    assert sparse_directories(make_globs(["envs/prod/**/*.yaml", "apps/x.yaml"])) == [
        "apps",
        "envs/prod",
    ]
    assert sparse_directories(make_globs(["**/*.yaml"])) is None
    assert sparse_directories(make_globs([])) is None
