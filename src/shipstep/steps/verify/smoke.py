"""HTTP smoke checks: a URL must answer an expected status (and body pattern),
within a number of attempts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests

from shipstep.errors import InputError
from shipstep.steps.verify.report import Check, Status

BODY_EXCERPT = 200


@dataclass(frozen=True)
class SmokeSpec:
    url: str
    status: int = 200
    body: re.Pattern[str] | None = None

    @property
    def display_url(self) -> str:
        return redact_url(self.url)

    @classmethod
    def parse(cls, text: str) -> SmokeSpec:
        """`URL [status=CODE] [body=REGEX]`; `body=` takes the rest of the line."""
        head, sep, body_text = text.strip().partition(" body=")
        parts = head.split()
        if not parts:
            raise InputError(
                "Empty smoke check.", hint="Pass --smoke 'https://host/healthz status=200'."
            )
        url, status = parts[0], 200
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise InputError(
                f"Smoke check URL {redact_url(url)!r} is not an http(s) URL.",
                hint="Pass --smoke 'https://host/path [status=200] [body=REGEX]'.",
            )
        for token in parts[1:]:
            key, _, value = token.partition("=")
            if key == "status" and value.isdigit() and 100 <= int(value) <= 599:
                status = int(value)
            else:
                raise InputError(
                    f"Cannot read {token!r} in smoke check for {redact_url(url)}.",
                    hint="Options after the URL are `status=CODE` and `body=REGEX` (last).",
                )
        pattern = None
        if sep:
            try:
                pattern = re.compile(body_text)
            except re.error as error:
                raise InputError(
                    f"Body pattern {body_text!r} of smoke check {redact_url(url)} is not a valid regular expression: {error}.",
                    hint="Use Python regular expression syntax.",
                ) from error
        return cls(url, status, pattern)


def redact_url(url: str) -> str:
    """Drop user:password from a URL before it appears anywhere."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _attempt(spec: SmokeSpec, timeout: float) -> tuple[bool, str, str | None]:
    """(ok, what was seen, body excerpt)."""
    try:
        response = requests.get(spec.url, timeout=timeout, allow_redirects=True)
    except requests.exceptions.SSLError as error:
        return False, f"TLS error: {_reason(error)}", None
    except requests.exceptions.ConnectionError as error:
        reason = _reason(error)
        if "refused" in reason.lower():
            host = urlsplit(spec.url).netloc.rsplit("@", 1)[-1]
            return False, f"connection refused by {host}", None
        return False, f"cannot connect: {reason}", None
    except requests.exceptions.Timeout:
        return False, f"no answer within {timeout:.0f}s", None
    except requests.exceptions.RequestException as error:
        return False, f"request failed: {_reason(error)}", None
    body = response.text
    excerpt = body[:BODY_EXCERPT]
    if response.status_code != spec.status:
        return False, f"status {response.status_code}, expected {spec.status}", excerpt
    if spec.body is not None and not spec.body.search(body):
        return (
            False,
            f"status {response.status_code}, but the body does not match /{spec.body.pattern}/",
            excerpt,
        )
    return (
        True,
        f"status {response.status_code}"
        + (f", body matches /{spec.body.pattern}/" if spec.body else ""),
        None,
    )


def _reason(error: BaseException) -> str:
    # requests nests urllib3's errors; the innermost one says what happened.
    inner: BaseException = error
    while True:
        nxt = inner.args[0] if inner.args and isinstance(inner.args[0], BaseException) else None
        nxt = nxt or getattr(inner, "reason", None)
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner)
    # urllib3 prefixes "<urllib3.connection.HTTPConnection object at 0x...>: "
    return re.sub(r"^<[^>]+>: ", "", text)


def run_smoke_check(
    spec: SmokeSpec,
    *,
    attempts: int,
    interval: float,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Check:
    seen: list[str] = []
    excerpt: str | None = None
    for number in range(1, max(attempts, 1) + 1):
        ok, what, excerpt = _attempt(spec, timeout)
        seen.append(f"attempt {number}: {what}")
        if ok:
            return Check("smoke", spec.display_url, Status.PASSED, what, tuple(seen))
        if number < attempts:
            sleep(interval)
    details = list(seen)
    if excerpt is not None:
        details.append(f"last body: {excerpt!r}")
    return Check(
        "smoke",
        spec.display_url,
        Status.FAILED,
        f"{seen[-1].split(': ', 1)[1]} (after {len(seen)} attempt{'s' if len(seen) > 1 else ''})",
        tuple(details),
    )
