"""Prometheus metrics of the agent (one registry per agent, not the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_seconds = Histogram(
            "shipstep_agent_reconcile_duration_seconds",
            "Duration of a reconcile (source, render, apply, prune).",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
        )
        self.reconciles = Counter(
            "shipstep_agent_reconciles", "Reconciles by result.", ["result"], registry=self.registry
        )
        self.last_applied = Gauge(
            "shipstep_agent_last_applied_revision_info",
            "The last applied revision of the config repository (value 1).",
            ["revision"],
            registry=self.registry,
        )
        self.last_applied_time = Gauge(
            "shipstep_agent_last_applied_timestamp_seconds",
            "When the last revision was applied.",
            registry=self.registry,
        )
        self.objects = Counter(
            "shipstep_agent_objects", "Objects by apply result.", ["result"], registry=self.registry
        )
        self.signature_failures = Counter(
            "shipstep_agent_signature_failures",
            "Images refused by the signature policy.",
            registry=self.registry,
        )
        self.drift_corrections = Counter(
            "shipstep_agent_drift_corrections",
            "Objects re-applied after drift.",
            registry=self.registry,
        )
        self.pruned = Counter(
            "shipstep_agent_pruned_objects", "Objects deleted by prune.", registry=self.registry
        )
        self.source_errors = Counter(
            "shipstep_agent_source_errors",
            "Failed reads of the config repository.",
            registry=self.registry,
        )
        self.api_requests = Counter(
            "shipstep_agent_api_requests",
            "Kubernetes API requests by kind.",
            ["type"],
            registry=self.registry,
        )
        self.leader = Gauge(
            "shipstep_agent_leader", "1 while this replica holds the lease.", registry=self.registry
        )

    def set_revision(self, revision: str) -> None:
        self.last_applied.clear()
        self.last_applied.labels(revision=revision).set(1)
