"""A Prometheus instant query (`GET /api/v1/query`) compared with a threshold.

Every sample of the result must satisfy the comparison; an empty result
fails (no data is not evidence of health). API errors (`status: error`,
with `errorType` and `error`) are reported as Prometheus wrote them.
Spec: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from shipstep.errors import InputError
from shipstep.steps.verify.report import Check, Status
from shipstep.steps.verify.smoke import redact_url

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_SPEC = re.compile(
    r"^(?P<query>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$",
    re.S,
)


@dataclass(frozen=True)
class PromCheckSpec:
    query: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> PromCheckSpec:
        """`QUERY OP NUMBER`: the trailing comparison is shipstep's threshold."""
        match = _SPEC.match(text.strip())
        if not match or not match["query"].strip():
            raise InputError(
                f"Cannot read the Prometheus check {text!r}.",
                hint="Write the query, then a comparison with a number: "
                "'sum(rate(http_requests_total{code=~\"5..\"}[5m])) < 0.05'.",
            )
        return cls(match["query"].strip(), match["op"], float(match["value"]))

    @property
    def display(self) -> str:
        return f"{self.query} {self.op} {self.threshold:g}"


def _samples(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(series label, value) pairs of an instant query's `data`."""
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return [("scalar", str(result[1]))]
    if kind == "vector" and isinstance(result, list):
        out = []
        for item in result:
            metric = item.get("metric") or {}
            label = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "}"
            out.append((label, str(item["value"][1])))
        return out
    raise ValueError(f"result type {kind!r} (a range query?)")


def run_prometheus_check(base_url: str, spec: PromCheckSpec, timeout: float = 10.0) -> Check:
    name = spec.display
    url = base_url.rstrip("/") + "/api/v1/query"
    where = redact_url(base_url)
    try:
        response = requests.get(url, params={"query": spec.query}, timeout=timeout)
    except requests.exceptions.ConnectionError as error:
        text = str(error)
        what = "connection refused" if "refused" in text.lower() else "cannot connect"
        return Check("prometheus", name, Status.FAILED, f"{what}: Prometheus at {where}")
    except requests.exceptions.RequestException as error:
        return Check(
            "prometheus", name, Status.FAILED, f"request to {where} failed: {type(error).__name__}"
        )
    try:
        body = response.json()
    except ValueError:
        return Check(
            "prometheus",
            name,
            Status.FAILED,
            f"HTTP {response.status_code} from {where} is not Prometheus API JSON",
            (response.text[:200],),
        )
    if not isinstance(body, dict) or body.get("status") != "success":
        error_type = body.get("errorType", "unknown") if isinstance(body, dict) else "unknown"
        message = body.get("error", "") if isinstance(body, dict) else ""
        return Check(
            "prometheus",
            name,
            Status.FAILED,
            f"Prometheus error ({error_type}, HTTP {response.status_code}): {message}",
        )
    try:
        samples = _samples(body.get("data") or {})
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        return Check("prometheus", name, Status.FAILED, f"unexpected query result: {error}")
    warnings = tuple(f"warning: {w}" for w in body.get("warnings") or [])
    if not samples:
        return Check("prometheus", name, Status.FAILED, "the query returned no samples", warnings)
    compare = _OPS[spec.op]
    bad = []
    details = []
    for label, raw in samples:
        value = float(raw)  # Prometheus writes NaN, +Inf, -Inf as float() reads them
        ok = not math.isnan(value) and compare(value, spec.threshold)
        details.append(f"{label} = {raw} {'ok' if ok else 'FAILS'} {spec.op} {spec.threshold:g}")
        if not ok:
            bad.append(f"{label} = {raw}")
    if bad:
        return Check(
            "prometheus",
            name,
            Status.FAILED,
            f"{len(bad)} of {len(samples)} samples fail: {', '.join(bad[:3])}",
            tuple(details) + warnings,
        )
    summary = f"value {samples[0][1]}" if len(samples) == 1 else f"all {len(samples)} samples pass"
    return Check("prometheus", name, Status.PASSED, summary, tuple(details) + warnings)
