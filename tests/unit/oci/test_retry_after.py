"""Parsing Retry-After (seconds or an HTTP date)."""

from __future__ import annotations

import time
from email.utils import formatdate

import requests

from shipstep.oci.transport import _retry_after


def answer(value: str | None) -> requests.Response:
    response = requests.Response()
    if value is not None:
        response.headers["Retry-After"] = value
    return response


def test_retry_after_forms() -> None:
    assert _retry_after(answer("7")) == 7.0
    assert _retry_after(answer("0")) == 0.0
    assert _retry_after(answer(None)) is None
    assert _retry_after(answer("soon")) is None
    assert _retry_after(answer("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # in the past
    future = _retry_after(answer(formatdate(time.time() + 30, usegmt=True)))
    assert future is not None and 25 <= future <= 31
