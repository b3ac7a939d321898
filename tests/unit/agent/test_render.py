from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipstep.agent.config import RenderLimits
from shipstep.agent.render import RenderError, render

pytestmark = pytest.mark.timeout(30)

CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  k: v
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_recursive_multi_document_sorted_with_sources(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "apps/b.yaml": CM.format(name="b1") + "---\n" + CM.format(name="b2"),
            "apps/a/one.yml": CM.format(name="a1"),
            "apps/.hidden/x.yaml": CM.format(name="hidden"),
            "apps/readme.md": "not yaml: [",
            "apps/list.yaml": "apiVersion: v1\nkind: List\nitems:\n- "
            + CM.format(name="l1").replace("\n", "\n  "),
        },
    )
    manifests = render(tmp_path, ("apps",), RenderLimits())
    names = [m.obj["metadata"]["name"] for m in manifests]
    assert names == ["a1", "b1", "b2", "l1"]
    assert manifests[2].source == "apps/b.yaml:8"
    assert manifests[0].source == "apps/a/one.yml:1"


def test_one_malformed_file_among_many_refuses_with_file_and_line(tmp_path: Path) -> None:
    files = {f"m/{i:02}.yaml": CM.format(name=f"c{i}") for i in range(20)}
    files["m/07.yaml"] = (
        CM.format(name="ok")
        + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"
    )
    write(tmp_path, files)
    with pytest.raises(RenderError) as info:
        render(tmp_path, ("m",), RenderLimits())
    assert info.value.file == "m/07.yaml"
    assert info.value.line is not None and info.value.line >= 11
    assert "m/07.yaml:" in info.value.diagnostic()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "not a Kubernetes object"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "no apiVersion or kind"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "no metadata.name"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: !!python/object:os.system {}\n",
            "parse error",
        ),
    ],
)
def test_bad_documents(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, {"x.yaml": text})
    with pytest.raises(RenderError, match=message):
        render(tmp_path, (".",), RenderLimits())


def test_aliases_allowed_but_expansion_is_bounded(tmp_path: Path) -> None:
    shared = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: &l {a: b}}\nextra: {labels: *l}\n"
    write(tmp_path, {"ok.yaml": shared})
    assert render(tmp_path, (".",), RenderLimits())[0].obj["extra"]["labels"] == {"a": "b"}
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nextra:\n" + "".join(
        f"  {lv}\n" for lv in levels
    )
    write(tmp_path, {"ok.yaml": shared, "z.yaml": bomb})
    with pytest.raises(RenderError, match="expands to more than") as info:
        render(tmp_path, (".",), RenderLimits())
    assert info.value.file == "z.yaml"


def test_size_and_count_limits(tmp_path: Path) -> None:
    write(tmp_path, {"a.yaml": CM.format(name="a"), "b.yaml": CM.format(name="b")})
    with pytest.raises(RenderError, match="over the limit"):
        render(tmp_path, (".",), RenderLimits(max_file_bytes=10))
    with pytest.raises(RenderError, match="more than 1 objects"):
        render(tmp_path, (".",), RenderLimits(max_documents=1))


def test_paths_never_escape(tmp_path: Path) -> None:
    repo = write(tmp_path / "repo", {"in.yaml": CM.format(name="in")})
    outside = write(tmp_path / "outside", {"secret.yaml": CM.format(name="out")})
    os.symlink(outside / "secret.yaml", repo / "link.yaml")
    with pytest.raises(RenderError, match="outside the repository"):
        render(repo, (".",), RenderLimits())
    os.remove(repo / "link.yaml")
    os.symlink(outside, repo / "dirlink")
    with pytest.raises(RenderError, match="outside the repository"):
        render(repo, (".",), RenderLimits())
    with pytest.raises(RenderError, match="leaves the repository"):
        render(repo, ("../outside",), RenderLimits())


def test_missing_path_and_kustomization_without_tool(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"k/kustomization.yaml": "resources: [cm.yaml]\n", "k/cm.yaml": CM.format(name="k")},
    )
    with pytest.raises(RenderError, match="does not exist"):
        render(tmp_path, ("nope",), RenderLimits())
    with pytest.raises(RenderError, match="kustomize is not enabled"):
        render(tmp_path, ("k",), RenderLimits())


def test_kustomize_build(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "k/kustomization.yaml": "namePrefix: p-\nresources: [cm.yaml]\n",
            "k/cm.yaml": CM.format(name="k"),
            "bad/kustomization.yaml": "resources: [missing.yaml]\n",
        },
    )
    manifests = render(tmp_path, ("k",), RenderLimits(), kustomize="kubectl")
    assert [m.obj["metadata"]["name"] for m in manifests] == ["p-k"]
    assert manifests[0].source.startswith("k (kustomize):")
    with pytest.raises(RenderError, match="kustomize build of bad failed"):
        render(tmp_path, ("bad",), RenderLimits(), kustomize="kubectl")
