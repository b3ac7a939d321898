"""Shared helpers for the publish tests."""

from __future__ import annotations

import json
import subprocess
import uuid
from typing import Any

from shipstep.progress import RecordingReporter
from shipstep.steps.publish import PublishInputs, PublishResult, publish
from tests.fixtures.services import require_binary

ECR_HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def unique(prefix: str = "app") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def run_publish(**kwargs: Any) -> PublishResult:
    reporter = RecordingReporter()
    return publish(PublishInputs(**kwargs), reporter=reporter)


def skopeo_inspect(ref: str, raw: bool = False) -> Any:
    skopeo = require_binary("skopeo", "skopeo")
    argv = [skopeo, "inspect", "--tls-verify=false"]
    if raw:
        argv.append("--raw")
    done = subprocess.run([*argv, f"docker://{ref}"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
