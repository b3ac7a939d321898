"""Fault knobs, the deny list, authentication, the request log, standalone mode."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from kubernetes import client
from kubernetes.client import Configuration

from tests.fixtures.kube import KubeStandin
from tests.integration.kube_standin.helpers import APPLY, configmap, deployment

pytestmark = pytest.mark.timeout(60)


def no_retries(kube: KubeStandin) -> client.ApiClient:
    """A client whose urllib3 pool does not retry, so each call is one request."""
    api = kube.api_client()
    config: Configuration = api.configuration
    config.retries = False
    return client.ApiClient(config)


def test_fail_next_requests_then_recover(kube: KubeStandin) -> None:
    core = client.CoreV1Api(no_retries(kube))
    kube.faults.fail(503, count=2)
    for _ in range(2):
        with pytest.raises(client.ApiException) as caught:
            core.list_namespace()
        assert caught.value.status == 503
        assert json.loads(caught.value.body)["reason"] == "ServiceUnavailable"
    assert len(core.list_namespace().items) == 4
    assert [r.status for r in kube.requests.all()] == [503, 503, 200]


def test_too_many_requests_has_retry_after(kube: KubeStandin) -> None:
    kube.faults.fail(429, count=1, retry_after=3)
    response = requests.get(f"{kube.url}/api/v1/namespaces", timeout=5)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    body = response.json()
    assert (body["reason"], body["details"]["retryAfterSeconds"]) == ("TooManyRequests", 3)
    assert requests.get(f"{kube.url}/api/v1/namespaces", timeout=5).status_code == 200


def test_faults_match_method_and_path(kube: KubeStandin) -> None:
    kube.faults.fail(500, method="PATCH", path="/deployments/")
    core = client.CoreV1Api(no_retries(kube))
    core.create_namespaced_config_map("default", configmap())
    with pytest.raises(client.ApiException) as caught:
        client.AppsV1Api(no_retries(kube)).patch_namespaced_deployment(
            "web", "default", deployment(), field_manager="m", _content_type=APPLY
        )
    assert (caught.value.status, json.loads(caught.value.body)["reason"]) == (500, "InternalError")
    kube.faults.clear()
    client.AppsV1Api(no_retries(kube)).patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="m", _content_type=APPLY
    )


def test_share_of_requests_fails_reproducibly(kube: KubeStandin) -> None:
    kube.faults.fail(503, share=0.5)
    codes = [requests.get(f"{kube.url}/version", timeout=5).status_code for _ in range(40)]
    failed = codes.count(503)
    assert 8 < failed < 32
    assert set(codes) == {200, 503}


def test_delay(kube: KubeStandin) -> None:
    kube.faults.delay(0.3, count=1)
    started = time.monotonic()
    requests.get(f"{kube.url}/version", timeout=5)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    requests.get(f"{kube.url}/version", timeout=5)
    assert time.monotonic() - started < 0.3


def test_dropped_connection(kube: KubeStandin) -> None:
    kube.faults.drop(count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{kube.url}/version", timeout=5)
    assert requests.get(f"{kube.url}/version", timeout=5).status_code == 200
    assert [r.status for r in kube.requests.all()] == [0, 200]
    # The kubernetes client's urllib3 pool retries a dropped connection by itself.
    kube.requests.clear()
    kube.faults.drop(count=1)
    assert client.VersionApi(kube.api_client()).get_code().major == "1"
    assert [r.status for r in kube.requests.all()] == [0, 200]


def test_deny_list_answers_forbidden_like_rbac(kube: KubeStandin) -> None:
    core = client.CoreV1Api(kube.api_client())
    core.create_namespaced_config_map("default", configmap())
    kube.knobs.deny_verb("delete", "configmaps", namespace="default")
    with pytest.raises(client.ApiException) as caught:
        core.delete_namespaced_config_map("settings", "default")
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["reason"]) == (403, "Forbidden")
    assert status["message"] == (
        'configmaps "settings" is forbidden: User "system:serviceaccount:shipstep-system:shipstep-agent" '
        'cannot delete resource "configmaps" in API group "" in the namespace "default"'
    )
    assert core.read_namespaced_config_map("settings", "default")
    kube.knobs.deny_verb("list", "clusterroles.rbac.authorization.k8s.io")
    with pytest.raises(client.ApiException) as cluster:
        client.RbacAuthorizationV1Api(kube.api_client()).list_cluster_role()
    assert json.loads(cluster.value.body)["message"].endswith("at the cluster scope")


def test_deny_list_with_a_webhook_message(kube: KubeStandin) -> None:
    kube.knobs.deny_verb(
        "*",
        "deployments",
        name="web",
        message='admission webhook "policy.example.com" denied the request: no',
        code=400,
    )
    with pytest.raises(client.ApiException) as caught:
        client.AppsV1Api(kube.api_client()).patch_namespaced_deployment(
            "web", "default", deployment(), field_manager="m", _content_type=APPLY
        )
    status = json.loads(caught.value.body)
    assert (caught.value.status, status["message"]) == (
        400,
        'admission webhook "policy.example.com" denied the request: no',
    )


def test_token_is_checked_when_required(kube: KubeStandin) -> None:
    kube.knobs.token = "standin-token"
    assert len(client.CoreV1Api(kube.api_client()).list_namespace().items) == 4
    response = requests.get(f"{kube.url}/api/v1/namespaces", timeout=5)
    assert (response.status_code, response.json()["reason"]) == (401, "Unauthorized")


def test_request_log_counts_exactly(kube: KubeStandin) -> None:
    api = kube.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    core.create_namespaced_config_map("default", configmap())
    core.read_namespaced_config_map("settings", "default")
    apps.patch_namespaced_deployment(
        "web", "default", deployment(), field_manager="m", _content_type=APPLY
    )
    core.list_namespaced_pod("default")
    log = kube.requests.all()
    # kubernetes 37's typed create sends its JSON body without a Content-Type.
    assert [(r.method, r.path, r.content_type, r.status) for r in log] == [
        ("POST", "/api/v1/namespaces/default/configmaps", "", 201),
        ("GET", "/api/v1/namespaces/default/configmaps/settings", "", 200),
        ("PATCH", "/apis/apps/v1/namespaces/default/deployments/web", APPLY, 201),
        ("GET", "/api/v1/namespaces/default/pods", "", 200),
    ]
    assert log[2].query == "fieldManager=m"
    assert kube.requests.count("GET") == 2
    assert kube.requests.count(path_contains="/configmaps") == 2
    assert len(kube.requests) == 4
    # Direct store access by tests, and the controller's work, are not requests.
    kube.settle()
    kube.seed(configmap("seeded"))
    assert len(kube.requests) == 4


def test_discovery_requests_are_counted(kube: KubeStandin) -> None:
    dyn = kube.dynamic_client()
    assert [r.path for r in kube.requests.all()] == ["/version", "/apis"]
    dyn.resources.get(api_version="apps/v1", kind="Deployment")
    paths = [r.path for r in kube.requests.all()]
    assert "/apis/apps/v1" in paths
    assert len(paths) == len(set(paths))


def test_two_clusters_are_independent(kube: KubeStandin, kube_standin_factory: object) -> None:
    other = kube_standin_factory()  # type: ignore[operator]
    client.CoreV1Api(other.api_client()).create_namespaced_config_map("default", configmap())
    assert client.CoreV1Api(kube.api_client()).list_namespaced_config_map("default").items == []
    assert other.url != kube.url


def test_standalone_server(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.kube_standin",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert process.stdout is not None
        started = time.monotonic()
        line = process.stdout.readline()
        assert "serving http://127.0.0.1:" in line
        assert time.monotonic() - started < 5
        url = line.split()[3].rstrip(";")
        from kubernetes import config

        api = config.new_client_from_config(config_file=str(kubeconfig))
        client.CoreV1Api(api).create_namespaced_config_map("default", configmap())
        log = requests.get(f"{url}/_standin/requests", timeout=5).json()
        assert [(r["method"], r["path"]) for r in log] == [
            ("POST", "/api/v1/namespaces/default/configmaps")
        ]
        requests.post(f"{url}/_standin/reset", timeout=5)
        assert client.CoreV1Api(api).list_namespaced_config_map("default").items == []
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0
