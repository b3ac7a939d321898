from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from shipstep.agent.config import HASH_ANNOTATION, OWNER_LABEL, PRUNE_ANNOTATION, AgentConfig
from shipstep.agent.inventory import Entry, Inventory
from shipstep.agent.objects import Manifest, ObjectId, is_subset
from shipstep.agent.plan import CREATE, DRIFT, UNCHANGED, UPDATE, make_plan, prepare
from shipstep.agent.prune import plan_prune
from shipstep.agent.validate import ResourceInfo

pytestmark = pytest.mark.timeout(30)

CM_INFO = ResourceInfo("", "v1", "ConfigMap", "configmaps", True)


def cfg(**kw: Any) -> AgentConfig:
    return AgentConfig(repo_url="git://x/y.git", **kw)


def cm(name: str, value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "ns"},
        "data": {"k": value},
    }


def live_of(desired: dict[str, Any]) -> dict[str, Any]:
    """What the API server would return: our fields plus server-set ones."""
    obj = copy.deepcopy(desired)
    obj["metadata"].update(
        resourceVersion="7", uid="u-1", managedFields=[{"manager": "shipstep-agent"}]
    )
    obj["data"]["added-by-someone"] = "x"
    return obj


def test_decisions_create_unchanged_update_drift() -> None:
    config = cfg()
    a, b, c, d = cm("a"), cm("b"), cm("c"), cm("d")
    live = {
        ObjectId.of(b): live_of(prepare(b, config)),
        ObjectId.of(c): live_of(prepare(cm("c", "old"), config)),
        ObjectId.of(d): live_of(prepare(d, config)),
    }
    live[ObjectId.of(d)]["data"]["k"] = "edited behind our back"
    plan = make_plan([(Manifest(o, "f:1"), CM_INFO) for o in (a, b, c, d)], live, config)
    assert [i.action for i in plan.items] == [CREATE, UNCHANGED, UPDATE, DRIFT]
    assert [i.id.name for i in plan.writes] == ["a", "c", "d"]
    assert plan.items[1].live_resource_version == "7"


def test_prepare_adds_label_and_stable_hash_and_folds_secret_string_data() -> None:
    config = cfg(name="prod")
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "resourceVersion": "1"},
        "stringData": {"p": "pw"},
        "status": {},
    }
    out = prepare(secret, config)
    assert out["metadata"]["labels"][OWNER_LABEL] == "prod"
    assert out["data"] == {"p": base64.b64encode(b"pw").decode()}
    assert (
        "stringData" not in out and "status" not in out and "resourceVersion" not in out["metadata"]
    )
    assert (
        prepare(secret, config)["metadata"]["annotations"][HASH_ANNOTATION]
        == out["metadata"]["annotations"][HASH_ANNOTATION]
    )
    assert "stringData" in secret  # the input is not modified


def test_is_subset_semantics() -> None:
    assert is_subset({"a": None, "b": {}, "c": []}, {})
    assert is_subset({"l": [{"name": "x"}]}, {"l": [{"name": "x", "default": 1}]})
    assert not is_subset({"l": [1, 2]}, {"l": [1]})
    assert not is_subset({"b": True}, {"b": 1})
    assert is_subset({"n": 1}, {"n": 1.0})


def entry(name: str, kind: str = "ConfigMap") -> Entry:
    return Entry("v1", kind, "ns" if kind != "Namespace" else "", name)


def owned(name: str, kind: str = "ConfigMap", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "labels": {OWNER_LABEL: "shipstep"},
        "uid": f"uid-{name}",
    }
    if kind == "Namespace":
        meta.pop("namespace")
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "v1", "kind": kind, "metadata": meta}


def live_map(*objs: dict[str, Any]) -> dict[ObjectId, dict[str, Any]]:
    return {ObjectId.of(o): o for o in objs}


def test_prune_deletes_only_owned_removed_objects_namespaces_last() -> None:
    previous = {
        entry("keep"),
        entry("gone"),
        entry("foreign"),
        entry("old"),
        entry("ns1", "Namespace"),
        entry("x"),
        entry("y"),
        entry("z"),
    }
    desired = {entry(n).id for n in ("keep", "x", "y", "z")}
    foreign = owned("foreign")
    foreign["metadata"]["labels"] = {OWNER_LABEL: "someone-else"}
    live = live_map(owned("keep"), owned("old"), owned("ns1", "Namespace"), foreign)
    plan = plan_prune(previous, desired, live, set(), cfg())
    assert plan.blocked is None
    assert [e.name for e, _ in plan.delete] == ["old", "ns1"]
    assert sorted(e.name for e, _ in plan.forget) == ["foreign", "gone"]


def test_prune_guards() -> None:
    previous = {entry(f"o{i}") for i in range(10)}
    live = live_map(*(owned(f"o{i}") for i in range(10)))
    # An empty render never prunes, whatever the settings.
    empty = plan_prune(
        previous, set(), live, set(), cfg(prune_allow_mass=True, prune_max_share=1.0)
    )
    assert empty.delete == [] and "empty render" in (empty.blocked or "")
    assert len(empty.keep) == 10
    # More than half needs the override; the candidates stay in the inventory.
    desired = {entry(f"o{i}").id for i in range(4)}
    blocked = plan_prune(previous, desired, live, set(), cfg())
    assert blocked.delete == [] and "6 of 10" in (blocked.blocked or "") and len(blocked.keep) == 6
    allowed = plan_prune(previous, desired, live, set(), cfg(prune_allow_mass=True))
    assert len(allowed.delete) == 6
    assert len(plan_prune(previous, desired, live, set(), cfg(prune_max_share=0.6)).delete) == 6
    # Exactly at the limit passes.
    assert (
        len(plan_prune(previous, {entry(f"o{i}").id for i in range(5)}, live, set(), cfg()).delete)
        == 5
    )
    # Annotated objects are kept; unlisted kinds are kept in the inventory.
    live[entry("o9").id] = owned("o9", **{PRUNE_ANNOTATION: "disabled"})
    few = plan_prune(previous, {entry(f"o{i}").id for i in range(8)}, live, set(), cfg())
    assert [e.name for e, _ in few.delete] == ["o8"] and [e.name for e, _ in few.forget] == ["o9"]
    unlisted = plan_prune(
        previous, {entry(f"o{i}").id for i in range(8)}, live, {("", "ConfigMap")}, cfg()
    )
    assert unlisted.delete == [] and len(unlisted.keep) == 2
    off = plan_prune(previous, desired, live, set(), cfg(prune=False))
    assert off.delete == [] and len(off.forget) == 6


def test_inventory_round_trip() -> None:
    inv = Inventory("abc", {entry("a"), entry("n", "Namespace")}, {entry("p")})
    again = Inventory.from_data(inv.to_data())
    assert again == inv and again.known == {entry("a"), entry("n", "Namespace"), entry("p")}
    assert Inventory.from_data(None) == Inventory()


def test_namespace_holding_desired_objects_is_never_pruned() -> None:
    previous = {entry("ns1", "Namespace"), entry("ns2", "Namespace"), entry("a")}
    desired = {ObjectId("", "ConfigMap", "ns1", "a2"), entry("a").id}
    live = live_map(owned("ns1", "Namespace"), owned("ns2", "Namespace"), owned("a"))
    plan = plan_prune(previous, desired, live, set(), cfg(prune_allow_mass=True))
    assert [e.name for e, _ in plan.delete] == ["ns2"]
    assert [(e.name, why) for e, why in plan.keep] == [
        ("ns1", "the namespace still holds desired objects")
    ]


def test_slim_live_objects_decide_like_the_full_ones() -> None:
    from shipstep.agent.objects import slim
    from shipstep.agent.plan import decide

    config = cfg()
    desired = prepare(cm("a"), config)
    full = live_of(desired)
    full["metadata"]["labels"]["extra"] = "x"
    full["status"] = {"big": list(range(100))}
    small = slim(full, desired)
    assert "managedFields" not in small["metadata"] and "status" not in small
    assert small["metadata"]["uid"] == "u-1" and small["metadata"]["labels"]["extra"] == "x"
    assert decide(desired, small) == decide(desired, full) == UNCHANGED
    full["data"]["k"] = "edited"
    assert decide(desired, slim(full, desired)) == DRIFT
    del full["data"]
    assert decide(desired, slim(full, desired)) == DRIFT
    assert set(slim(full, None)) == {"apiVersion", "kind", "metadata"}
