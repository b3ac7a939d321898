"""The ECR code path: moto for the control plane, the real registry (behind
a proxy that records pushes in moto, as ECR's image store does) for the
registry API."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from shipstep.errors import InputError
from shipstep.oci.ecr_repository import RepositorySettings
from shipstep.steps.publish import ImmutableTagError
from tests.fixtures.images import ImageFactory
from tests.fixtures.registry import RegistryFactory
from tests.fixtures.registry_proxy import RegistryProxy
from tests.integration.publish.helpers import ECR_HOST, run_publish, skopeo_inspect, unique

pytestmark = pytest.mark.timeout(180)

LIFECYCLE = {
    "rules": [
        {
            "rulePriority": 1,
            "description": "keep 10",
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
            "action": {"type": "expire"},
        }
    ]
}


def ecr(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("ecr", endpoint_url=endpoint, region_name="eu-west-1")


@pytest.fixture
def ecr_proxy(registry_proxy: RegistryProxy, aws_endpoint: str) -> RegistryProxy:
    registry_proxy.ecr = (aws_endpoint, "eu-west-1")
    return registry_proxy


def test_publish_through_the_ecr_code_path(
    ecr_proxy: RegistryProxy, aws_endpoint: str, make_image: ImageFactory
) -> None:
    image = make_image(files={"app.txt": "ecr"})
    repo = unique("team")
    settings = RepositorySettings(
        tag_immutability=True,
        scan_on_push=True,
        kms_key="arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        lifecycle_policy=json.dumps(LIFECYCLE),
        tags={"team": "platform"},
    )
    endpoints = {ECR_HOST: ecr_proxy.url}
    result = run_publish(
        image=image,
        to=f"{ECR_HOST}/{repo}:1.0.0",
        registry_endpoints=endpoints,
        repository=settings,
    )
    assert result.repository_operation == "created"
    assert result.operation == "pushed"
    assert result.registry == ECR_HOST
    assert result.image == f"{ECR_HOST}/{repo}@{result.digest}"
    # read back through the registry API matches skopeo, and ECR lists the digest
    assert skopeo_inspect(f"{ecr_proxy.host}/{repo}:1.0.0")["Digest"] == result.digest
    assert result.ecr_image is not None and result.ecr_image["imageDigest"] == result.digest
    created = ecr(aws_endpoint).describe_repositories(repositoryNames=[repo])["repositories"][0]
    assert created["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
    assert created["imageTagMutabilityExclusionFilters"] == [
        {"filterType": "WILDCARD", "filter": "sha256-*"}
    ]
    assert created["imageScanningConfiguration"] == {"scanOnPush": True}
    assert created["encryptionConfiguration"]["encryptionType"] == "KMS"
    policy = ecr(aws_endpoint).get_lifecycle_policy(repositoryName=repo)
    assert json.loads(policy["lifecyclePolicyText"]) == LIFECYCLE
    tags = ecr(aws_endpoint).list_tags_for_resource(resourceArn=created["repositoryArn"])["tags"]
    assert tags == [{"Key": "team", "Value": "platform"}]

    again = run_publish(
        image=image,
        to=f"{ECR_HOST}/{repo}:1.0.0",
        registry_endpoints=endpoints,
        repository=settings,
    )
    assert again.repository_operation == "unchanged"
    assert again.operation == "unchanged"
    assert again.digest == result.digest
    assert again.bytes_uploaded == 0
    assert again.outputs()["operation"] == "unchanged"


def test_immutable_tag_conflict_is_refused_before_upload(
    ecr_proxy: RegistryProxy, make_image: ImageFactory
) -> None:
    first = make_image(files={"v.txt": "one"})
    second = make_image(files={"v.txt": "two"})
    repo = unique("immutable")
    endpoints = {ECR_HOST: ecr_proxy.url}
    settings = RepositorySettings(tag_immutability=True)
    to = f"{ECR_HOST}/{repo}:release"
    published = run_publish(image=first, to=to, registry_endpoints=endpoints, repository=settings)
    patches_before = ecr_proxy.count("PATCH")
    with pytest.raises(ImmutableTagError) as caught:
        run_publish(image=second, to=to, registry_endpoints=endpoints, repository=settings)
    assert "immutable" in caught.value.message and published.digest in caught.value.message
    assert ecr_proxy.count("PATCH") == patches_before  # nothing uploaded
    # the same image again is fine, also with a new first tag
    assert run_publish(image=first, to=to, registry_endpoints=endpoints).operation == "unchanged"
    more = run_publish(
        image=first, to=f"{ECR_HOST}/{repo}:hotfix", tags=["release"], registry_endpoints=endpoints
    )
    assert more.digest == published.digest
    assert more.tag_operations == {"hotfix": "created", "release": "unchanged"}


def test_immutable_tag_refused_by_the_registry(
    ecr_proxy: RegistryProxy, aws_endpoint: str, make_image: ImageFactory
) -> None:
    """The tag exists in ECR but not where our HEAD looked: ECR's own refusal
    (TAG_INVALID) becomes the same clear error."""
    repo = unique("immutable")
    ecr(aws_endpoint).create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
    ecr(aws_endpoint).put_image(
        repositoryName=repo,
        imageTag="taken",
        imageManifest=json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "layers": [],
            }
        ),
    )
    image = make_image(files={"w.txt": "w"})
    with pytest.raises(ImmutableTagError) as caught:
        run_publish(
            image=image,
            to=f"{ECR_HOST}/{repo}:taken",
            registry_endpoints={ECR_HOST: ecr_proxy.url},
            repository=RepositorySettings(tag_immutability=False),
        )
    assert "refused to move tag 'taken'" in caught.value.message


def test_signature_tags_stay_writable_under_immutability(
    ecr_proxy: RegistryProxy, make_image: ImageFactory
) -> None:
    repo = unique("sigs")
    endpoints = {ECR_HOST: ecr_proxy.url}
    first = make_image(files={"s.txt": "1"})
    second = make_image(files={"s.txt": "2"})
    settings = RepositorySettings(tag_immutability=True)
    run_publish(
        image=first,
        to=f"{ECR_HOST}/{repo}:sha256-abc.sig",
        registry_endpoints=endpoints,
        repository=settings,
    )
    moved = run_publish(
        image=second, to=f"{ECR_HOST}/{repo}:sha256-abc.sig", registry_endpoints=endpoints
    )
    assert moved.tag_operations == {"sha256-abc.sig": "moved"}


def test_scan_gate(ecr_proxy: RegistryProxy, make_image: ImageFactory) -> None:
    """moto's scan reports one HIGH finding: HIGH fails the gate, CRITICAL passes."""
    image = make_image(files={"scan.txt": "s"})
    repo = unique("scanned")
    endpoints = {ECR_HOST: ecr_proxy.url}
    failing = run_publish(
        image=image, to=f"{ECR_HOST}/{repo}:1", registry_endpoints=endpoints, scan_gate="HIGH"
    )
    assert failing.scan is not None and not failing.succeeded
    assert failing.scan.blocking == {"HIGH": 1}
    assert "failed" in failing.text()
    passing = run_publish(
        image=image, to=f"{ECR_HOST}/{repo}:1", registry_endpoints=endpoints, scan_gate="CRITICAL"
    )
    assert passing.succeeded and passing.scan is not None and passing.scan.counts == {"HIGH": 1}


def test_scan_gate_needs_ecr(registry_proxy: RegistryProxy, make_image: ImageFactory) -> None:
    with pytest.raises(InputError):
        run_publish(image="x", to=f"{registry_proxy.host}/a:1", scan_gate="HIGH")


def test_no_create_repository(ecr_proxy: RegistryProxy, make_image: ImageFactory) -> None:
    with pytest.raises(InputError) as caught:
        run_publish(
            image=make_image(),
            to=f"{ECR_HOST}/{unique('absent')}:1",
            registry_endpoints={ECR_HOST: ecr_proxy.url},
            create_repository=False,
        )
    assert "does not exist" in caught.value.message


def test_existing_repository_is_reported_unchanged_with_differences(
    ecr_proxy: RegistryProxy, aws_endpoint: str, make_image: ImageFactory, tmp_path: Path
) -> None:
    repo = unique("existing")
    ecr(aws_endpoint).create_repository(repositoryName=repo)
    result = run_publish(
        image=make_image(),
        to=f"{ECR_HOST}/{repo}:1",
        registry_endpoints={ECR_HOST: ecr_proxy.url},
        repository=RepositorySettings(scan_on_push=True),
    )
    assert result.repository_operation == "unchanged"
    assert any("scan on push is off" in note for note in result.repository_notes)


def test_bad_source_creates_no_repository(ecr_proxy: RegistryProxy, aws_endpoint: str) -> None:
    """An unknown local image (or a missing source) fails before ECR is touched."""
    repo = unique("never")
    with pytest.raises(InputError):
        run_publish(
            image="shipstep-test/not-built:1",
            to=f"{ECR_HOST}/{repo}:1",
            registry_endpoints={ECR_HOST: ecr_proxy.url},
        )
    from shipstep.oci.client import RegistryError

    with pytest.raises(RegistryError):
        run_publish(
            source=f"{ecr_proxy.host}/absent/image:1",
            to=f"{ECR_HOST}/{repo}:1",
            registry_endpoints={ECR_HOST: ecr_proxy.url},
        )
    names = [r["repositoryName"] for r in ecr(aws_endpoint).describe_repositories()["repositories"]]
    assert repo not in names


def test_scan_gate_on_an_unscannable_artifact(
    ecr_proxy: RegistryProxy, aws_endpoint: str, make_image: ImageFactory
) -> None:
    """ECR reports signatures and other artifacts as UNSUPPORTED_IMAGE: not a failure.
    (The answer is set through moto's documented scan-results API.)"""
    import requests

    repo = unique("artifact")
    requests.post(
        f"{aws_endpoint}/moto-api/static/ecr/scan-finding-results",
        json={
            "region": "eu-west-1",
            "results": [
                {
                    "registryId": "123456789012",
                    "repositoryName": repo,
                    "imageId": {},
                    "imageScanStatus": {
                        "status": "UNSUPPORTED_IMAGE",
                        "description": "The operating system and/or package manager are not supported.",
                    },
                }
            ],
        },
        timeout=10,
    ).raise_for_status()
    result = run_publish(
        image=make_image(files={"sig": "x"}),
        to=f"{ECR_HOST}/{repo}:sha256-abc.sig",
        registry_endpoints={ECR_HOST: ecr_proxy.url},
        scan_gate="LOW",
    )
    assert result.succeeded
    assert result.scan is not None and result.scan.status == "NOT_SCANNABLE"
    assert "not scannable" in result.text()


def test_ecr_login_token_authenticates_to_the_registry(
    make_registry: RegistryFactory, aws_endpoint: str, make_image: ImageFactory, tmp_path: Path
) -> None:
    """The registry demands the password GetAuthorizationToken returns (moto's
    token for the account), so the push succeeds only through the ECR login."""
    upstream = make_registry(username="AWS", password="123456789012-auth-token")
    proxy = RegistryProxy(upstream)
    proxy.ecr = (aws_endpoint, "eu-west-1")
    try:
        result = run_publish(
            image=make_image(files={"login.txt": "l"}),
            to=f"{ECR_HOST}/{unique('login')}:1",
            registry_endpoints={ECR_HOST: proxy.url},
            docker_config=tmp_path / "none.json",
        )
        assert result.operation == "pushed"
        assert any(m == "PUT" and s == 201 for m, _, s in proxy.log)
    finally:
        proxy.stop()
