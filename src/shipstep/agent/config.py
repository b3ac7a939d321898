"""The agent's configuration: one frozen dataclass filled from flags and
environment variables by the CLI (`shipstep agent --help` lists both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shipstep.errors import InputError

OWNER_LABEL = "shipstep.dev/agent"
HASH_ANNOTATION = "shipstep.dev/applied-hash"
PRUNE_ANNOTATION = "shipstep.dev/prune"
PRUNE_DISABLED = "disabled"


@dataclass(frozen=True)
class RenderLimits:
    max_file_bytes: int = 1 << 20  # one manifest file
    max_total_bytes: int = 64 << 20  # the whole revision
    max_documents: int = 10_000  # keeps the inventory ConfigMap well under its 1 MiB limit
    max_nodes_per_document: int = 100_000


@dataclass(frozen=True)
class AgentConfig:
    repo_url: str
    branch: str = "main"
    paths: tuple[str, ...] = (".",)
    interval_seconds: float = 60.0
    namespace: str = "shipstep-system"  # where inventory, status, lease and events live
    name: str = "shipstep"  # instance name: ownership label value, object name prefix
    field_manager: str = "shipstep-agent"
    default_namespace: str = "default"  # for namespaced objects that name none
    allowed_namespaces: frozenset[str] = frozenset()  # empty: any namespace
    allowed_cluster_kinds: frozenset[str] = frozenset()  # "Kind" or "group/Kind"
    prune: bool = True
    prune_max_share: float = 0.5
    prune_allow_mass: bool = False
    force_conflicts: bool = False
    require_digests: bool = True
    policy_file: Path | None = None
    kustomize: str | None = None  # None, "kubectl" or "kustomize"
    kustomize_timeout: float = 60.0
    health_timeout: float = 0.0  # 0: do not wait for health after applying
    crd_timeout: float = 60.0
    apply_concurrency: int = 4
    max_retries: int = 6
    git_token_file: Path | None = None
    git_ssh_key_file: Path | None = None
    git_known_hosts_file: Path | None = None
    git_timeout: float = 120.0
    workdir: Path = Path("/var/lib/shipstep-agent")  # an emptyDir in the Deployment
    webhook_secret_file: Path | None = None
    limits: RenderLimits = field(default_factory=RenderLimits)

    def __post_init__(self) -> None:
        if not self.repo_url:
            raise InputError(
                "No repository URL configured.", hint="Pass --repo-url or set SHIPSTEP_REPO_URL."
            )
        if not 0.0 < self.prune_max_share <= 1.0:
            raise InputError(
                f"Prune share {self.prune_max_share} is not between 0 and 1.",
                hint="Pass --prune-max-share with a value like 0.5 (50%).",
            )
        if self.kustomize not in (None, "kubectl", "kustomize"):
            raise InputError(
                f"Unknown kustomize tool {self.kustomize!r}.",
                hint="Use --kustomize kubectl (kubectl kustomize) or --kustomize kustomize.",
            )
        for path in self.paths:
            if path.startswith("/") or ".." in Path(path).parts:
                raise InputError(
                    f"Path {path!r} is not relative to the repository.",
                    hint="Give paths inside the config repository, like `clusters/prod`.",
                )
        if self.interval_seconds <= 0:
            raise InputError("The poll interval must be positive.", hint="Pass --interval 60.")

    @property
    def inventory_name(self) -> str:
        return f"{self.name}-inventory"

    @property
    def status_name(self) -> str:
        return f"{self.name}-status"

    @property
    def lease_name(self) -> str:
        return f"{self.name}-leader"

    def cluster_kind_allowed(self, group: str, kind: str) -> bool:
        allowed = self.allowed_cluster_kinds
        return kind in allowed or f"{group}/{kind}" in allowed

    def namespace_allowed(self, namespace: str) -> bool:
        return not self.allowed_namespaces or namespace in self.allowed_namespaces
