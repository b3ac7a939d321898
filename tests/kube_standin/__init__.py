"""A Kubernetes API stand-in for tests, driven by the real `kubernetes` client.

What it models and what it does not, and how to use it from pytest, is in the
docstring of `tests/fixtures/kube.py`. Layout: `server.py` (HTTP, routing,
verbs, `/scale`, faults, request log), `watch.py`, `store.py` (objects,
resourceVersion, generation, finalizers, garbage collection, event
history), `apply.py` and `fields.py` (managedFields, server-side apply),
`patches.py`, `kinds.py` (defaults and validation), `selectors.py`,
`discovery.py`, `resources.py`, `errors.py` (Status), `controller.py`
(loop, CRDs, Deployments, ReplicaSets), `workloads.py` (StatefulSets,
DaemonSets, Jobs), `kubelet.py` (pod status, imageID), `objects.py`,
`knobs.py`, `faults.py`, `standin.py` (`KubeStandin`), `__main__.py`.
"""

from tests.kube_standin.standin import KubeStandin

__all__ = ["KubeStandin"]
