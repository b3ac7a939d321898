"""A Kubernetes API stand-in for tests, driven by the real `kubernetes` client.

What it models and what it does not, and how to use it from pytest, is in the
docstring of `tests/fixtures/kube.py`. Layout: `server.py` (HTTP, routing,
watches, faults, request log), `store.py` (objects, resourceVersion,
generation, finalizers, garbage collection, events), `apply.py` and
`fields.py` (managedFields, server-side apply), `patches.py`, `kinds.py`
(defaults and validation), `discovery.py`, `resources.py`, `controller.py`
(workloads and pods), `knobs.py`, `faults.py`, `standin.py` (`KubeStandin`).
"""

from tests.kube_standin.standin import KubeStandin

__all__ = ["KubeStandin"]
