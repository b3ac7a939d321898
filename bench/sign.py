"""Benchmark: sign and verify 200 image digests in a local registry.

Prints requests per signature and per verification, the median verification
time cold (first look at a digest) and warm (cached by digest), and as the
peer ratio shipstep's verification time over one registry manifest GET (the
floor no verifier that reads the registry can beat).

Targets (issue #5): warm <= 0.1 x one manifest GET; cold <= 3 round trips.

Run: .venv/bin/python bench/sign.py [COUNT]  (needs Debian's docker-registry).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from shipstep.oci.client import RegistryClient  # noqa: E402
from shipstep.oci.manifest import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST, digest_of, encode_json  # noqa: E402
from shipstep.oci.reference import parse_reference  # noqa: E402
from shipstep.signing.classic import TrustedKey  # noqa: E402
from shipstep.signing.keys import KeySigner  # noqa: E402
from shipstep.signing.oci_source import OciSignatureSource  # noqa: E402
from shipstep.signing.policy import KeySpec, Policy, Rule, Verifier  # noqa: E402
from shipstep.steps.sign import sign_classic  # noqa: E402
from tests.fixtures.registry import start_registry  # noqa: E402


def push(client: RegistryClient, host: str, index: int) -> str:
    ref = parse_reference(f"{host}/bench/app{index % 10}:v{index}")
    config = encode_json(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    )
    layer = os.urandom(256)
    for blob in (config, layer):
        client.upload_blob(ref, blob, digest_of(blob), len(blob))
    manifest = encode_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": digest_of(layer), "size": len(layer)}
            ],
        }
    )
    digest = client.put_manifest(ref, manifest, OCI_MANIFEST)
    return f"{ref.name}@{digest}"


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as directory:
        registry, service = start_registry(Path(directory))
        try:
            run(registry.host, count)
        finally:
            service.stop()


def run(host: str, count: int) -> None:
    client = RegistryClient()
    images = [push(client, host, i) for i in range(count)]
    key = ec.generate_private_key(ec.SECP256R1())
    signer = KeySigner(key, name="bench.key")

    client.stats.reset()
    sign_times = []
    for image in images:
        start = time.perf_counter()
        result = sign_classic(client, image, signer)
        sign_times.append(time.perf_counter() - start)
        assert result.operation == "signed"
    sign_requests = client.stats.requests / count

    # The floor: one manifest GET by digest, per image.
    get_times = []
    for image in images:
        ref = parse_reference(image)
        start = time.perf_counter()
        client.get_manifest(ref)
        get_times.append(time.perf_counter() - start)

    # A second floor: the same two reads a classic verification needs (.sig
    # manifest, payload blob) over a plain requests session, without verifying.
    session = requests.Session()
    raw_times = []
    for image in images:
        ref = parse_reference(image)
        assert ref.digest is not None
        base = f"http://{host}/v2/{ref.repository}"
        start = time.perf_counter()
        sig = session.get(
            f"{base}/manifests/{ref.digest.replace(':', '-')}.sig",
            headers={"Accept": OCI_MANIFEST},
            timeout=10,
        ).json()
        session.get(f"{base}/blobs/{sig['layers'][0]['digest']}", timeout=10).raise_for_status()
        raw_times.append(time.perf_counter() - start)

    policy = Policy(
        (
            Rule(
                "bench",
                ("**",),
                (KeySpec("bench.pub", public=TrustedKey("bench.pub", key.public_key())),),
            ),
        )
    )
    verifier = Verifier(policy, OciSignatureSource(client))
    client.stats.reset()
    cold = []
    for image in images:
        start = time.perf_counter()
        verdict = verifier.verify(image)
        cold.append(time.perf_counter() - start)
        assert verdict.verified and not verdict.cached
    verify_requests = client.stats.requests / count
    client.stats.reset()
    warm = []
    for image in images:
        start = time.perf_counter()
        verdict = verifier.verify(image)
        warm.append(time.perf_counter() - start)
        assert verdict.verified and verdict.cached
    warm_requests = client.stats.requests / count

    get_ms = median_ms(get_times)
    print(f"images signed and verified: {count}")
    print(f"requests per signature: {sign_requests:.2f}")
    print(f"median sign time: {median_ms(sign_times):.2f} ms")
    print(f"requests per verification (cold): {verify_requests:.2f}")
    print(f"requests per verification (warm): {warm_requests:.2f}")
    print(f"median manifest GET (peer floor): {get_ms:.3f} ms")
    print(f"median verification cold: {median_ms(cold):.3f} ms")
    print(f"median verification warm: {median_ms(warm):.4f} ms")
    print(
        f"median raw .sig manifest + blob GET (plain requests, no verification): {median_ms(raw_times):.3f} ms"
    )
    print(f"ratio cold / raw two reads: {median_ms(cold) / median_ms(raw_times):.2f}")
    print(f"ratio cold / manifest GET: {median_ms(cold) / get_ms:.2f} (target <= 3)")
    print(f"ratio warm / manifest GET: {median_ms(warm) / get_ms:.4f} (target <= 0.1)")


if __name__ == "__main__":
    main()
