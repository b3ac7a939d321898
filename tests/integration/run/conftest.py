"""The demo test applies to the Kubernetes API stand-in (shared fixtures)."""

from __future__ import annotations

from tests.fixtures.kube import kube, kube_server, kube_standin_factory

__all__ = ["kube", "kube_server", "kube_standin_factory"]
