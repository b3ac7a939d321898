"""The inventory: which objects the agent applied, kept in a ConfigMap in the
agent's namespace (`<name>-inventory`).

Format (ConfigMap `data`):
- `revision`: the config repository commit the inventory was written for;
- `objects`: JSON list of `[apiVersion, kind, namespace, name]` (namespace
  "" for cluster-scoped objects), sorted;
- `pending`: the same format: objects an apply in progress may create. It is
  written before applying objects that are new to the inventory and cleared
  when the inventory is committed after a successful apply, so an agent
  killed mid-apply still knows (and can later prune) what it may have made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from shipstep.agent.objects import ObjectId, split_api_version


@dataclass(frozen=True, order=True)
class Entry:
    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def id(self) -> ObjectId:
        return ObjectId(
            split_api_version(self.api_version)[0], self.kind, self.namespace, self.name
        )


@dataclass
class Inventory:
    revision: str = ""
    objects: set[Entry] = field(default_factory=set)
    pending: set[Entry] = field(default_factory=set)

    @property
    def known(self) -> set[Entry]:
        """Everything the agent may have created: committed and pending."""
        return self.objects | self.pending

    def to_data(self) -> dict[str, str]:
        def dump(entries: set[Entry]) -> str:
            rows = [[e.api_version, e.kind, e.namespace, e.name] for e in sorted(entries)]
            return json.dumps(rows, separators=(",", ":"))

        return {
            "revision": self.revision,
            "objects": dump(self.objects),
            "pending": dump(self.pending),
        }

    @classmethod
    def from_data(cls, data: dict[str, str] | None) -> Inventory:
        data = data or {}

        def load(text: str | None) -> set[Entry]:
            rows = json.loads(text) if text else []
            return {Entry(str(a), str(k), str(ns), str(n)) for a, k, ns, n in rows}

        return cls(data.get("revision", ""), load(data.get("objects")), load(data.get("pending")))
