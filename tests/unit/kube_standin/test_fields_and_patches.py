"""The stand-in's pure parts: field sets, fieldsV1, patches, selectors, apply."""

from __future__ import annotations

import pytest

from tests.kube_standin import apply as ssa
from tests.kube_standin import fields, patches
from tests.kube_standin.errors import ApiError
from tests.kube_standin.resources import BUILTIN
from tests.kube_standin.selectors import matches_labels, parse_fields, parse_labels

pytestmark = pytest.mark.timeout(10)

CONFIGMAPS = next(t for t in BUILTIN if t.plural == "configmaps")
DEPLOYMENTS = next(t for t in BUILTIN if t.plural == "deployments")

POD_SPEC = {
    "containers": [
        {"name": "app", "image": "web:1", "ports": [{"containerPort": 80}], "args": ["-v"]},
    ],
}


def test_field_set_of_lists() -> None:
    found = fields.fields_of({"spec": POD_SPEC, "metadata": {"finalizers": ["a/b"]}})
    item = ("f:spec", "f:containers", 'k:{"name":"app"}')
    assert item in found
    assert (*item, "f:image") in found
    assert (*item, "f:args") in found  # an atomic list is one leaf
    assert (*item, "f:ports", 'k:{"containerPort":80,"protocol":"TCP"}', "f:containerPort") in found
    assert ("f:metadata", "f:finalizers", 'v:"a/b"') in found


def test_fields_v1_round_trip() -> None:
    found = fields.fields_of({"data": {"a": "1"}, "spec": POD_SPEC})
    encoded = fields.encode(found)
    assert encoded["f:spec"]["f:containers"]['k:{"name":"app"}']["."] == {}
    assert fields.decode(encoded) == found


def test_remove_prunes_empty_maps_and_items() -> None:
    obj = {
        "metadata": {"name": "n", "labels": {"a": "1"}},
        "spec": {"containers": [{"name": "x"}, {"name": "y"}]},
    }
    fields.remove(obj, ("f:metadata", "f:labels", "f:a"))
    assert obj["metadata"] == {"name": "n"}
    fields.remove(obj, ("f:spec", "f:containers", 'k:{"name":"x"}'))
    assert obj["spec"]["containers"] == [{"name": "y"}]


def test_strategic_merge_directives() -> None:
    live = {
        "spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]},
        "metadata": {"finalizers": ["x"]},
    }
    patch = {
        "spec": {"containers": [{"name": "a", "image": "3"}, {"name": "b", "$patch": "delete"}]},
        "metadata": {"finalizers": ["y"]},
    }
    merged = patches.strategic_merge(live, patch)
    assert merged["spec"]["containers"] == [{"name": "a", "image": "3"}]
    assert merged["metadata"]["finalizers"] == ["x", "y"]
    replaced = patches.strategic_merge(live, {"spec": {"$patch": "replace", "paused": True}})
    assert replaced["spec"] == {"paused": True}
    removed = patches.strategic_merge(
        live, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}}
    )
    assert removed["metadata"]["finalizers"] == []


def test_merge_patch_replaces_lists() -> None:
    assert patches.merge_patch({"a": [1, 2], "b": {"c": 1}}, {"a": [3], "b": {"c": None}}) == {
        "a": [3],
        "b": {},
    }


def test_json_patch_errors_are_invalid() -> None:
    with pytest.raises(ApiError) as caught:
        patches.json_patch({"a": 1}, [{"op": "remove", "path": "/b"}])
    assert caught.value.code == 422


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a!=1", {}, True),
        ("a in (1,2),b", {"a": "2", "b": ""}, True),
        ("a notin (1)", {"a": "1"}, False),
        ("!a", {"a": "1"}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert matches_labels(parse_labels(selector), {"metadata": {"labels": labels}}) is expected


def test_field_selectors_refuse_unknown_fields() -> None:
    check = parse_fields("metadata.name=x", CONFIGMAPS)[0]
    assert check({"metadata": {"name": "x"}})
    with pytest.raises(ApiError) as caught:
        parse_fields("spec.foo=1", CONFIGMAPS)
    assert caught.value.code == 400


def test_apply_conflict_and_force() -> None:
    live = ssa.apply(
        None,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}},
        rtype=CONFIGMAPS,
        manager="a",
        force=False,
    )
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "2"}}
    with pytest.raises(ApiError) as caught:
        ssa.apply(live, other, rtype=CONFIGMAPS, manager="b", force=False)
    assert caught.value.details == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "a" using v1',
                "field": ".data.k",
            }
        ]
    }
    forced = ssa.apply(live, other, rtype=CONFIGMAPS, manager="b", force=True)
    owners = {e["manager"]: e["fieldsV1"] for e in forced["metadata"]["managedFields"]}
    assert owners == {"b": {"f:data": {"f:k": {}}}}  # `a` owned nothing else, so its entry goes


def test_update_records_changed_fields_only() -> None:
    old = {"metadata": {"name": "c"}, "data": {"k": "1", "j": "1"}}
    ssa.record_update(None, old, rtype=CONFIGMAPS, manager="creator")
    new = {
        "metadata": {"name": "c", "managedFields": old["metadata"]["managedFields"]},
        "data": {"k": "2", "j": "1"},
    }
    ssa.record_update(old, new, rtype=CONFIGMAPS, manager="editor")
    owners = {e["manager"]: e["fieldsV1"] for e in new["metadata"]["managedFields"]}
    assert owners == {"creator": {"f:data": {"f:j": {}}}, "editor": {"f:data": {"f:k": {}}}}


def test_status_is_not_owned_through_the_main_resource() -> None:
    applied = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 1},
        "status": {"replicas": 1},
    }
    result = ssa.apply(None, applied, rtype=DEPLOYMENTS, manager="m", force=False)
    assert result["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
