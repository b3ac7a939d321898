"""Benchmark: find and edit every reference to one image in a generated
config repository of 10,000 YAML files holding 500 references to it.

shipstep (prefilter + PyYAML C composer + span edits) against ruamel.yaml
round-trip (load, walk, set, dump) doing the same edit, run in this script.
Prints: time each, the ratio (plus shipstep parsing every file, and the
peer given the same prefilter, for fairness), extra changed lines beyond the
intended ones (ours and the peer's), and peak RSS of the shipstep run (measured in a
child process so that the peer's memory does not count).

    .venv/bin/python bench/bump.py [--files 10000] [--refs 500]
"""

from __future__ import annotations

import argparse
import importlib
import io
import multiprocessing
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

REPO = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app"
OLD = f"{REPO}:1.3.0"
NEW = f"{REPO}:1.4.2@sha256:" + "b" * 64
PREFILTER = re.compile(re.escape(REPO.encode()) + rb"(?![a-z0-9._/-])")

DEPLOYMENT = """\
# {name}: generated deployment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}  # keep
  labels: {{app: {name}, team: "t{i}"}}
spec:
  replicas: {replicas}
  template:
    spec:
      containers:
        - name: main
          image: {image}   # main container
          args: ["--port", '8080']
          resources: {{limits: {{cpu: "1", memory: 512Mi}}}}
        - name: sidecar
          image: "public.ecr.aws/sidecar/proxy:1.{i}"
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  ports: [{{port: 80, targetPort: 8080}}]
"""


def generate(root: Path, files: int, refs: int) -> None:
    for i in range(files):
        image = (
            OLD
            if i % (files // refs) == 0 and i // (files // refs) < refs
            else f"{REPO}-other{i % 7}:2.{i}"
        )
        path = root / f"team{i % 50}" / f"env{i % 4}" / f"app{i}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = DEPLOYMENT.format(name=f"app{i}", i=i, replicas=i % 5 + 1, image=image)
        if i % 10 == 3:
            text = text.replace("\n", "\r\n")
        path.write_bytes(text.encode())


def shipstep_run(root: Path, prefilter: bool = True) -> int:
    from shipstep.gitops.images import ImageSpec
    from shipstep.gitops.paths import make_globs
    from shipstep.gitops.search import search, write_edits

    spec = ImageSpec.create(REPO, NEW)
    result = search(root, spec, make_globs(["**/*.yaml"]), prefilter=prefilter)
    write_edits(root, result)
    return len(result.changed)


def _child(root: str, queue: multiprocessing.Queue[tuple[float, int, int]]) -> None:
    importlib.import_module("shipstep.gitops.search")  # imports are not what is measured
    start = time.perf_counter()
    changed = shipstep_run(Path(root))
    elapsed = time.perf_counter() - start
    queue.put((elapsed, changed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def ruamel_run(root: Path, prefilter: bool = False) -> int:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    changed = 0
    for path in sorted(root.rglob("*.yaml")):
        raw = path.read_bytes()
        if prefilter and not PREFILTER.search(raw):
            continue
        crlf = b"\r\n" in raw
        docs = list(yaml.load_all(raw.decode()))
        hit = False
        for doc in docs:
            spec = (
                ((doc or {}).get("spec") or {}).get("template", {}).get("spec", {})
                if isinstance(doc, dict)
                else {}
            )
            for container in spec.get("containers", []) or []:
                image = str(container.get("image", ""))
                if image.split("@")[0].rsplit(":", 1)[0] == REPO:
                    container["image"] = NEW
                    hit = True
                    changed += 1
        if hit:
            out = io.StringIO()
            yaml.dump_all(docs, out)
            text = out.getvalue()
            if crlf:
                text = text.replace("\n", "\r\n")
            path.write_bytes(text.encode())
    return changed


def extra_lines(before: Path, after: Path) -> int:
    """Changed lines beyond the lines holding the intended image edit."""
    extra = 0
    for old in before.rglob("*.yaml"):
        new = after / old.relative_to(before)
        a, b = old.read_bytes().split(b"\n"), new.read_bytes().split(b"\n")
        if a == b:
            continue
        intended = {i for i, line in enumerate(a) if OLD.encode() in line}
        if len(a) != len(b):
            extra += abs(len(a) - len(b)) + sum(
                1
                for i, (x, y) in enumerate(zip(a, b, strict=False))
                if x != y and i not in intended
            )
            continue
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y and (i not in intended or x.replace(OLD.encode(), NEW.encode()) != y):
                extra += 1
    return extra


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--refs", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bump-") as scratch:
        base = Path(scratch) / "base"
        generate(base, args.files, args.refs)
        ours, peer = Path(scratch) / "ours", Path(scratch) / "peer"
        shutil.copytree(base, ours)
        shutil.copytree(base, peer)

        queue: multiprocessing.Queue[tuple[float, int, int]] = multiprocessing.Queue()
        child = multiprocessing.get_context("fork").Process(target=_child, args=(str(ours), queue))
        child.start()
        ours_time, ours_changed, rss_kib = queue.get()
        child.join()

        importlib.import_module("ruamel.yaml")  # imports are not what is measured
        start = time.perf_counter()
        peer_changed = ruamel_run(peer)
        peer_time = time.perf_counter() - start

        # Fairness figures: the parse-everything cost of shipstep, and the
        # peer given the same cheap prefilter.
        full, peer_pre = Path(scratch) / "full", Path(scratch) / "peer-pre"
        shutil.copytree(base, full)
        shutil.copytree(base, peer_pre)
        start = time.perf_counter()
        shipstep_run(full, prefilter=False)
        full_time = time.perf_counter() - start
        start = time.perf_counter()
        ruamel_run(peer_pre, prefilter=True)
        peer_pre_time = time.perf_counter() - start

        print(f"files: {args.files}, references: {args.refs}")
        print(f"shipstep: {ours_time:.3f} s, {ours_changed} references changed")
        print(f"ruamel.yaml round-trip: {peer_time:.3f} s, {peer_changed} references changed")
        print(f"ratio (ruamel / shipstep): {peer_time / ours_time:.1f}x (target >= 50x)")
        print(
            f"shipstep parsing every file (no prefilter): {full_time:.3f} s, ratio {peer_time / full_time:.1f}x"
        )
        print(
            f"ruamel.yaml with the same prefilter: {peer_pre_time:.3f} s, ratio {peer_pre_time / ours_time:.1f}x"
        )
        print(f"extra changed lines, shipstep: {extra_lines(base, ours)} (target 0)")
        print(f"extra changed lines, ruamel.yaml: {extra_lines(base, peer)}")
        print(f"peak RSS, shipstep run: {rss_kib / 1024:.1f} MB (target < 150 MB)")


if __name__ == "__main__":
    main()
