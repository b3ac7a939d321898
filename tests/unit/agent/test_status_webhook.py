from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from shipstep.agent.source import push_ref, verify_webhook
from shipstep.agent.status import APPLIED, REFUSED, next_status

pytestmark = pytest.mark.timeout(30)


def test_status_transitions_and_history() -> None:
    s1 = next_status(
        {}, revision="r1", result=APPLIED, reason="", images=["b", "a", "a"], counts={"created": 2}
    )
    assert s1["lastAppliedRevision"] == "r1" and s1["images"] == "a\nb" and "updated" in s1
    s2 = next_status(
        s1, revision="r2", result=REFUSED, reason="x.yaml:3: bad", images=None, counts=None
    )
    assert s2["lastAppliedRevision"] == "r1" and s2["images"] == "a\nb" and s2["result"] == REFUSED
    history = json.loads(s2["history"])
    assert [h["revision"] for h in history] == ["r2", "r1"]
    # Nothing changed: the same data, so no write.
    assert (
        next_status(
            s2, revision="r2", result=REFUSED, reason="x.yaml:3: bad", images=None, counts=None
        )
        == s2
    )


def test_webhook_signature() -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_webhook(b"s3cret", body, good)
    assert not verify_webhook(b"other", body, good)
    assert not verify_webhook(b"s3cret", body + b" ", good)
    assert not verify_webhook(b"s3cret", body, None)
    assert not verify_webhook(b"s3cret", body, "sha1=" + good[7:])
    assert push_ref(body) == "refs/heads/main"
    assert push_ref(b"not json") is None
