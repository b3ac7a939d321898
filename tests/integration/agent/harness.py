"""Helpers for the agent's integration tests: a real git config repository,
manifests, and an in-process agent talking to the Kubernetes API stand-in
through the real `kubernetes` client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shipstep.agent.config import AgentConfig
from shipstep.agent.engine import Engine
from shipstep.agent.kube import Cluster, load_client
from shipstep.agent.loop import Agent
from shipstep.agent.metrics import Metrics
from shipstep.agent.policy import AllowAll, Gate, Verifier
from shipstep.agent.source import GitSource
from shipstep.agent.status import StatusWriter
from tests.fixtures.git import GitServer, git

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example/app@{DIGEST}"


@dataclass
class ConfigRepo:
    server: GitServer
    name: str
    work: Path

    @property
    def url(self) -> str:
        return self.server.url(self.name)

    def commit(self, files: dict[str, str | None], message: str = "change") -> str:
        """Write (or, for None, delete) files, commit and push; the new commit id."""
        for relative, content in files.items():
            target = self.work / relative
            if content is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "--allow-empty", "-m", message)
        git(self.work, "push", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")


def new_repo(server: GitServer, tmp_path: Path, files: dict[str, str]) -> ConfigRepo:
    name = f"config-{uuid.uuid4().hex[:8]}"
    server.create_repo(name, {"README.md": "config\n", **files})
    work = tmp_path / f"work-{name}"
    git(tmp_path, "clone", "--branch", "main", server.url(name), str(work))
    return ConfigRepo(server, name, work)


def docs(*objects: dict[str, Any]) -> str:
    return yaml.safe_dump_all(list(objects), sort_keys=False)


def configmap(name: str, namespace: str = "apps", **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data or {"key": name},
    }


def deployment(
    name: str, image: str = IMAGE, namespace: str = "apps", replicas: int = 1
) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    }


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def make_config(repo_url: str, workdir: Path, **overrides: Any) -> AgentConfig:
    settings: dict[str, Any] = {
        "repo_url": repo_url,
        "paths": ("manifests",),
        "namespace": "shipstep-system",
        "default_namespace": "apps",
        "workdir": workdir,
        "interval_seconds": 1.0,
    }
    settings.update(overrides)
    return AgentConfig(**settings)


def make_agent(kubeconfig: Path, config: AgentConfig, verifier: Verifier | None = None) -> Agent:
    cluster = Cluster(load_client(Path(kubeconfig), None), backoff=0.05, max_backoff=2.0)
    engine = Engine(cluster, config, Gate(verifier or AllowAll()))
    return Agent(config, engine, GitSource(config), StatusWriter(cluster, config), Metrics())
