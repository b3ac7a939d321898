"""Has the agent applied the merge commit (or a later commit containing it)?

Reads the agent's status ConfigMap (format: `shipstep.agent.status`):
`lastAppliedRevision` is what runs; `revision` / `result` / `reason` the
last attempt. Containment is decided by `git merge-base --is-ancestor` in a
clone of the config repository, fetched again when the agent names a commit
the clone does not have yet.
"""

from __future__ import annotations

from typing import Any

from shipstep.agent.status import APPLIED
from shipstep.steps.verify.gitrepo import ConfigRepo
from shipstep.steps.verify.report import Check, Status


class AgentStatusCheck:
    def __init__(self, repo: ConfigRepo, merge_commit: str, namespace: str, name: str) -> None:
        self.repo = repo
        self.merge_commit = merge_commit
        self.namespace = namespace
        self.name = name
        self._fetched_for: set[str] = set()

    @property
    def label(self) -> str:
        return f"configmap {self.namespace}/{self.name}"

    def _known(self, sha: str) -> str | None:
        full = self.repo.resolve(sha)
        if full is None and sha not in self._fetched_for:
            self._fetched_for.add(sha)  # fetch once per unknown commit
            self.repo.fetch()
            full = self.repo.resolve(sha)
        return full

    def _contains(self, sha: str) -> bool | None:
        full = self._known(sha)
        if full is None:
            return None
        return self.repo.is_ancestor(self.merge_commit, full)

    def evaluate(self, configmap: dict[str, Any] | None) -> Check:
        short = self.merge_commit[:12]
        if configmap is None:
            return Check(
                "agent",
                self.label,
                Status.PENDING,
                f"no agent status ConfigMap {self.namespace}/{self.name} (is the agent running? "
                "check --agent-namespace and --agent-name)",
            )
        data = configmap.get("data") or {}
        last = str(data.get("lastAppliedRevision") or "")
        attempted = str(data.get("revision") or "")
        result = str(data.get("result") or "")
        reason = str(data.get("reason") or "")
        details = (
            f"lastAppliedRevision={last or '-'}",
            f"revision={attempted or '-'} result={result or '-'}",
            *([f"reason: {line}" for line in reason.splitlines()[:20]]),
        )
        if last:
            contains = self._contains(last)
            if contains:
                how = (
                    "the merge commit"
                    if last.startswith(self.merge_commit)
                    else f"{last[:12]}, which contains {short}"
                )
                return Check(
                    "agent", self.label, Status.PASSED, f"the agent applied {how}", details
                )
        if attempted and result and result != APPLIED and self._contains(attempted):
            return Check(
                "agent",
                self.label,
                Status.FAILED,
                f"the agent {result} revision {attempted[:12]}: {reason.splitlines()[0] if reason else 'no reason given'}",
                details,
            )
        if last and self._known(last) is None:
            seen = f"the agent applied {last[:12]}, a commit the config repository does not have"
        elif last:
            seen = f"the agent applied {last[:12]}, which does not contain {short} yet"
        else:
            seen = "the agent has applied nothing yet"
        return Check("agent", self.label, Status.PENDING, seen, details)
