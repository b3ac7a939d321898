from __future__ import annotations

from typing import Any

import pytest

from shipstep.agent.health import CURRENT, FAILED, IN_PROGRESS, NOT_FOUND, health

pytestmark = pytest.mark.timeout(30)


def deploy(status: dict[str, Any], replicas: int = 2, generation: int = 3) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "generation": generation},
        "spec": {"replicas": replicas},
        "status": status,
    }


READY = {
    "observedGeneration": 3,
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
}


@pytest.mark.parametrize(
    ("status", "expected", "fragment"),
    [
        (READY, CURRENT, "available"),
        ({**READY, "observedGeneration": 2}, IN_PROGRESS, "observedGeneration 2"),
        ({**READY, "updatedReplicas": 1}, IN_PROGRESS, "Updated: 1/2"),
        ({**READY, "replicas": 3}, IN_PROGRESS, "Pending termination"),
        ({**READY, "availableReplicas": 1}, IN_PROGRESS, "Available: 1/2"),
        ({**READY, "readyReplicas": 1, "availableReplicas": 2}, IN_PROGRESS, "Ready: 1/2"),
        (
            {
                **READY,
                "updatedReplicas": 1,
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": "too slow",
                    }
                ],
            },
            FAILED,
            "too slow",
        ),
        ({}, IN_PROGRESS, "not yet reported"),
    ],
)
def test_deployment(status: dict[str, Any], expected: str, fragment: str) -> None:
    verdict = health(deploy(status))
    assert verdict.status == expected
    assert fragment in verdict.message


def test_statefulset_daemonset_job_pod_crd_generic() -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"generation": 1},
        "spec": {"replicas": 2},
    }
    sts["status"] = {
        "observedGeneration": 1,
        "replicas": 2,
        "readyReplicas": 2,
        "currentReplicas": 2,
        "currentRevision": "a",
        "updateRevision": "a",
    }
    assert health(sts).status == CURRENT
    sts["status"]["updateRevision"] = "b"
    assert health(sts).status == IN_PROGRESS
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {},
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
            "numberReady": 3,
        },
    }
    assert health(ds).status == IN_PROGRESS and "numberAvailable" in health(ds).message
    ds["status"]["numberAvailable"] = 3
    assert health(ds).status == CURRENT
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {}, "status": {"active": 1}}
    assert health(job).status == IN_PROGRESS
    job["status"]["conditions"] = [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
    ]
    assert health(job).status == FAILED
    job["status"]["conditions"] = [{"type": "Complete", "status": "True"}]
    assert health(job).status == CURRENT
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    assert health(pod).status == CURRENT
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {},
        "status": {"conditions": [{"type": "Established", "status": "False"}]},
    }
    assert health(crd).status == IN_PROGRESS
    generic = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"generation": 2},
        "status": {
            "observedGeneration": 2,
            "conditions": [{"type": "Ready", "status": "False", "message": "waiting"}],
        },
    }
    assert health(generic).status == IN_PROGRESS
    generic["status"]["conditions"] = [
        {"type": "Stalled", "status": "True", "message": "bad config"}
    ]
    assert health(generic).status == FAILED
    generic["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    assert health(generic).status == CURRENT
    assert health({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}).status == CURRENT
    assert health(None).status == NOT_FOUND
    assert health({**generic, "metadata": {"deletionTimestamp": "x"}}).status == IN_PROGRESS
