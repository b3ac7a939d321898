"""`shipstep agent`: run the in-cluster pull agent: verify, apply, prune, correct drift.

Every flag also reads an environment variable (`SHIPSTEP_<FLAG>`, listed in
`--help`), so the Deployment configures the agent from a ConfigMap with
`envFrom`. `--once` reconciles once and exits (0 applied/unchanged, 1 failed
or refused); `--dry-run` renders, validates, verifies and prints the plan
without writing anything. A dry run given no kubeconfig or context outside a
Pod plans without a cluster (`shipstep.agent.offline`).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from shipstep.agent.config import AgentConfig, RenderLimits
from shipstep.agent.engine import Engine
from shipstep.agent.kube import Cluster, load_client
from shipstep.agent.leader import LeaderElector
from shipstep.agent.logs import configure
from shipstep.agent.loop import Agent
from shipstep.agent.metrics import Metrics
from shipstep.agent.notify import CommitStatusNotifier
from shipstep.agent.offline import NOTE as NO_CLUSTER_NOTE
from shipstep.agent.offline import NoCluster, cluster_requested
from shipstep.agent.policy import AllowAll, Gate, Verifier
from shipstep.agent.result import AgentResult
from shipstep.agent.server import make_server, serve_in_background
from shipstep.agent.source import GitSource
from shipstep.agent.status import StatusWriter
from shipstep.cli._app import cli_command, emit
from shipstep.errors import InputError
from shipstep.forges.factory import make_forge

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


FC = TypeVar("FC", bound=Callable[..., Any])


def _opt(*names: str, env: str, **kwargs: Any) -> Callable[[FC], FC]:
    return click.option(*names, envvar=f"SHIPSTEP_{env}", show_envvar=True, **kwargs)


def make_verifier(policy: Path | None, verify_signatures: bool) -> Verifier:
    if not verify_signatures:
        return AllowAll()
    if policy is None:
        raise InputError(
            "No signature policy given.",
            hint="Pass --policy FILE (see docs/agent.md), or --no-verify-signatures for a test cluster.",
        )
    from shipstep.agent.verifier import PolicyVerifier

    return PolicyVerifier(policy)


def make_notifier(o: dict[str, Any], config: AgentConfig) -> CommitStatusNotifier:
    if not o["status_context"].strip():
        raise InputError("--status-context is empty.", hint="Pass a name such as shipstep/agent.")
    token_file = o["forge_token_file"] or config.git_token_file
    token = token_file.read_text().strip() if token_file else None
    forge = make_forge(
        o["commit_status_forge"],
        config.repo_url,
        o["forge_repository"],
        token,
        o["forge_api_url"],
        None,
        ("shipstep agent", "shipstep@users.noreply.github.com"),
    )
    return CommitStatusNotifier(forge, o["status_context"].strip())


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    try:
        return host or "0.0.0.0", int(port)  # noqa: S104 (inside a Pod, behind a Service)
    except ValueError:
        raise InputError(
            f"Invalid --listen {value!r}.", hint="Use HOST:PORT, like :8080."
        ) from None


@cli_command("agent")
@_opt(
    "--repo-url",
    env="REPO_URL",
    required=True,
    help="Config repository (https://, ssh:// or git://).",
)
@_opt("--branch", env="BRANCH", default="main", show_default=True)
@_opt(
    "--path",
    "paths",
    env="PATHS",
    multiple=True,
    help="Directory or file in the repository (repeatable).",
)
@_opt(
    "--interval",
    env="INTERVAL",
    type=float,
    default=60.0,
    show_default=True,
    help="Poll interval, seconds.",
)
@_opt(
    "--namespace",
    env="NAMESPACE",
    default="shipstep-system",
    show_default=True,
    help="Agent namespace.",
)
@_opt(
    "--name",
    env="NAME",
    default="shipstep",
    show_default=True,
    help="Instance name (ownership label).",
)
@_opt("--field-manager", env="FIELD_MANAGER", default="shipstep-agent", show_default=True)
@_opt("--default-namespace", env="DEFAULT_NAMESPACE", default="default", show_default=True)
@_opt(
    "--allow-namespace",
    "allow_namespaces",
    env="ALLOW_NAMESPACES",
    multiple=True,
    help="Allowed namespace (repeatable; none: any).",
)
@_opt(
    "--allow-cluster-kind",
    "allow_cluster_kinds",
    env="ALLOW_CLUSTER_KINDS",
    multiple=True,
    help="Allowed cluster-scoped kind, `Kind` or `group/Kind` (repeatable).",
)
@_opt("--prune/--no-prune", env="PRUNE", default=True, show_default=True)
@_opt("--prune-max-share", env="PRUNE_MAX_SHARE", type=float, default=0.5, show_default=True)
@_opt(
    "--prune-allow-mass",
    env="PRUNE_ALLOW_MASS",
    is_flag=True,
    help="Allow pruning more than --prune-max-share.",
)
@_opt(
    "--force-conflicts",
    env="FORCE_CONFLICTS",
    is_flag=True,
    help="Take over fields owned by other managers.",
)
@_opt("--require-digests/--allow-tags", env="REQUIRE_DIGESTS", default=True, show_default=True)
@_opt("--policy", env="POLICY", type=_FILE, help="Signature policy file (the sign step's format).")
@_opt(
    "--verify-signatures/--no-verify-signatures",
    env="VERIFY_SIGNATURES",
    default=True,
    show_default=True,
)
@_opt(
    "--kustomize",
    env="KUSTOMIZE",
    type=click.Choice(["kubectl", "kustomize"]),
    help="Build kustomizations with this tool.",
)
@_opt("--kustomize-timeout", env="KUSTOMIZE_TIMEOUT", type=float, default=60.0, show_default=True)
@_opt(
    "--health-timeout",
    env="HEALTH_TIMEOUT",
    type=float,
    default=0.0,
    show_default=True,
    help="Wait this long for workloads to become healthy (0: do not wait).",
)
@_opt(
    "--apply-concurrency",
    env="APPLY_CONCURRENCY",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
)
@_opt("--git-token-file", env="GIT_TOKEN_FILE", type=_FILE, help="File holding an HTTPS token.")
@_opt("--git-ssh-key-file", env="GIT_SSH_KEY_FILE", type=_FILE, help="SSH private key file.")
@_opt("--git-known-hosts-file", env="GIT_KNOWN_HOSTS_FILE", type=_FILE)
@_opt(
    "--workdir",
    env="WORKDIR",
    type=click.Path(file_okay=False, path_type=Path),
    default="/var/lib/shipstep-agent",
    show_default=True,
)
@_opt(
    "--kubeconfig",
    env="KUBECONFIG",
    type=_FILE,
    help="Kubeconfig file (default: in-cluster credentials; a --dry-run with neither plans without a cluster).",
)
@_opt("--context", env="CONTEXT", help="Kubeconfig context.")
@_opt(
    "--listen",
    env="LISTEN",
    default=":8080",
    show_default=True,
    help="HOST:PORT for /metrics, /healthz, /readyz, /webhook.",
)
@_opt(
    "--webhook-secret-file",
    env="WEBHOOK_SECRET_FILE",
    type=_FILE,
    help="Enables POST /webhook (GitHub push events).",
)
@_opt(
    "--commit-status-forge",
    env="COMMIT_STATUS_FORGE",
    type=click.Choice(["github", "local"]),  # CodeCommit has no commit statuses
    help="Set each revision's verdict as a commit status on this forge (off by default).",
)
@_opt(
    "--forge-repository",
    env="FORGE_REPOSITORY",
    metavar="OWNER/NAME",
    help="The config repo on the forge (default: from --repo-url).",
)
@_opt(
    "--forge-token-file",
    env="FORGE_TOKEN_FILE",
    type=_FILE,
    help="File holding the forge token (default: --git-token-file).",
)
@_opt("--forge-api-url", env="FORGE_API_URL", help="GitHub API URL (GitHub Enterprise).")
@_opt(
    "--status-context",
    env="STATUS_CONTEXT",
    default="shipstep/agent",
    show_default=True,
    help="Context (name) of the commit status.",
)
@_opt("--leader-elect/--no-leader-elect", env="LEADER_ELECT", default=False, show_default=True)
@_opt("--once", env="ONCE", is_flag=True, help="Reconcile once, then exit.")
@_opt("--dry-run", env="DRY_RUN", is_flag=True, help="Print the plan without writing anything.")
@_opt(
    "--max-file-bytes",
    env="MAX_FILE_BYTES",
    type=click.IntRange(1),
    default=RenderLimits.max_file_bytes,
    show_default=True,
)
@_opt(
    "--max-total-bytes",
    env="MAX_TOTAL_BYTES",
    type=click.IntRange(1),
    default=RenderLimits.max_total_bytes,
    show_default=True,
)
@_opt(
    "--max-documents",
    env="MAX_DOCUMENTS",
    type=click.IntRange(1),
    default=RenderLimits.max_documents,
    show_default=True,
    help="Most objects in a revision.",
)
@_opt(
    "--log-level",
    env="LOG_LEVEL",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
)
@click.pass_context
def command(ctx: click.Context, /, **o: Any) -> None:
    """Run the in-cluster pull agent: verify, apply, prune, correct drift."""
    configure(o["log_level"])
    config = AgentConfig(
        repo_url=o["repo_url"],
        branch=o["branch"],
        paths=tuple(o["paths"]) or (".",),
        interval_seconds=o["interval"],
        namespace=o["namespace"],
        name=o["name"],
        field_manager=o["field_manager"],
        default_namespace=o["default_namespace"],
        allowed_namespaces=frozenset(o["allow_namespaces"]),
        allowed_cluster_kinds=frozenset(o["allow_cluster_kinds"]),
        prune=o["prune"],
        prune_max_share=o["prune_max_share"],
        prune_allow_mass=o["prune_allow_mass"],
        force_conflicts=o["force_conflicts"],
        require_digests=o["require_digests"],
        policy_file=o["policy"],
        kustomize=o["kustomize"],
        kustomize_timeout=o["kustomize_timeout"],
        health_timeout=o["health_timeout"],
        apply_concurrency=o["apply_concurrency"],
        git_token_file=o["git_token_file"],
        git_ssh_key_file=o["git_ssh_key_file"],
        git_known_hosts_file=o["git_known_hosts_file"],
        workdir=o["workdir"],
        webhook_secret_file=o["webhook_secret_file"],
        limits=RenderLimits(
            max_file_bytes=o["max_file_bytes"],
            max_total_bytes=o["max_total_bytes"],
            max_documents=o["max_documents"],
        ),
    )
    gate = Gate(make_verifier(config.policy_file, o["verify_signatures"]))
    no_cluster = o["dry_run"] and not cluster_requested(o["kubeconfig"], o["context"])
    cluster = (
        NoCluster()
        if no_cluster
        else Cluster(load_client(o["kubeconfig"], o["context"], config.apply_concurrency + 2))
    )
    engine = Engine(cluster, config, gate)
    metrics = Metrics()
    agent = Agent(config, engine, GitSource(config), StatusWriter(cluster, config), metrics)
    if o["commit_status_forge"] and not o["dry_run"]:
        agent.status.on_change = make_notifier(o, config)
    if o["once"] or o["dry_run"]:
        outcome = agent.reconcile(dry_run=o["dry_run"])
        emit(ctx, AgentResult(outcome, no_cluster_note=NO_CLUSTER_NOTE if no_cluster else None))
        return
    if o["leader_elect"]:
        agent.elector = LeaderElector(cluster, config.namespace, config.lease_name)
        agent.elector.start()
    secret = config.webhook_secret_file.read_bytes().strip() if config.webhook_secret_file else None
    server = make_server(agent, *_listen(o["listen"]), secret)
    serve_in_background(server)

    def stop(signum: int, frame: object) -> None:
        agent.stop.set()
        agent.trigger.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        agent.run()
    finally:
        server.shutdown()
