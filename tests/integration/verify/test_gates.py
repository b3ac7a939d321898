"""The optional gates against real local servers and moto: HTTP smoke checks,
a Prometheus instant query, CloudWatch alarms."""

from __future__ import annotations

import re

import boto3
import pytest

from shipstep.errors import InputError
from shipstep.steps.verify.cloudwatch import run_alarm_checks
from shipstep.steps.verify.prometheus import PromCheckSpec, run_prometheus_check
from shipstep.steps.verify.report import Status
from shipstep.steps.verify.smoke import SmokeSpec, run_smoke_check
from tests.fixtures.http_checks import PromAnswer, Prometheus, Route, WebApp, vector
from tests.fixtures.services import free_port

pytestmark = pytest.mark.timeout(60)


def no_sleep(seconds: float) -> None:
    pass


def test_smoke_passes_on_status_and_body(web_app: WebApp) -> None:
    web_app.routes["/healthz"] = Route(200, '{"status": "ok", "version": "1.4.2"}')
    spec = SmokeSpec.parse(f'{web_app.url}/healthz status=200 body="version": "1\\.4\\.2"')
    check = run_smoke_check(spec, attempts=3, interval=0)
    assert check.status is Status.PASSED
    assert web_app.requests == ["/healthz"]


def test_smoke_retries_until_the_app_answers(web_app: WebApp) -> None:
    web_app.routes["/"] = Route(200, "ready", before=[(503, "starting"), (503, "starting")])
    check = run_smoke_check(SmokeSpec.parse(web_app.url + "/"), attempts=5, interval=0)
    assert check.status is Status.PASSED
    assert len(web_app.requests) == 3
    assert check.details[:2] == ("attempt 1: status 503, expected 200",) * 1 + (
        "attempt 2: status 503, expected 200",
    )


def test_smoke_fails_on_body_mismatch_with_evidence(web_app: WebApp) -> None:
    web_app.routes["/version"] = Route(200, "1.4.1")
    spec = SmokeSpec.parse(f"{web_app.url}/version body=^1\\.4\\.2$")
    slept: list[float] = []
    check = run_smoke_check(spec, attempts=2, interval=1.5, sleep=slept.append)
    assert check.status is Status.FAILED
    assert "does not match /^1\\.4\\.2$/" in check.summary
    assert "after 2 attempts" in check.summary
    assert slept == [1.5]
    assert "last body: '1.4.1'" in check.details


def test_smoke_wrong_status(web_app: WebApp) -> None:
    check = run_smoke_check(SmokeSpec.parse(web_app.url + "/missing"), attempts=1, interval=0)
    assert check.status is Status.FAILED
    assert check.summary == "status 404, expected 200 (after 1 attempt)"


def test_smoke_connection_refused_is_reported_clearly() -> None:
    port = free_port()
    check = run_smoke_check(
        SmokeSpec.parse(f"http://127.0.0.1:{port}/healthz"), attempts=2, interval=0, sleep=no_sleep
    )
    assert check.status is Status.FAILED
    assert check.summary == f"connection refused by 127.0.0.1:{port} (after 2 attempts)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ftp://host/x", "not an http(s) URL"),
        ("https://host/x status=abc", "Cannot read 'status=abc'"),
        ("https://host/x body=([", "not a valid regular expression"),
        ("   ", "Empty smoke check"),
    ],
)
def test_smoke_bad_specs(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        SmokeSpec.parse(text)


def test_smoke_never_shows_credentials(web_app: WebApp) -> None:
    url = web_app.url.replace("http://", "http://user:s3cret@") + "/nope"
    check = run_smoke_check(SmokeSpec.parse(url), attempts=1, interval=0)
    assert "s3cret" not in check.name + check.summary + "".join(check.details)


def test_prometheus_vector_within_threshold(prometheus: Prometheus) -> None:
    query = 'sum by (code) (rate(http_requests_total{code=~"5.."}[5m]))'
    prometheus.answers[query] = PromAnswer(
        result=vector(({"code": "500"}, "0.01"), ({"code": "503"}, "0"))
    )
    check = run_prometheus_check(prometheus.url, PromCheckSpec.parse(f"{query} < 0.05"))
    assert check.status is Status.PASSED, check
    assert check.summary == "all 2 samples pass"
    assert prometheus.requests == [query]


def test_prometheus_over_threshold_names_the_series(prometheus: Prometheus) -> None:
    prometheus.answers["error_ratio"] = PromAnswer(result=vector(({"job": "app"}, "0.2")))
    check = run_prometheus_check(prometheus.url, PromCheckSpec.parse("error_ratio <= 0.05"))
    assert check.status is Status.FAILED
    assert check.summary == '1 of 1 samples fail: {job="app"} = 0.2'


def test_prometheus_scalar_and_nan(prometheus: Prometheus) -> None:
    prometheus.answers["scalar(up)"] = PromAnswer("scalar", [1700000000.0, "1"])
    prometheus.answers["nan"] = PromAnswer(result=vector(({}, "NaN")))
    assert (
        run_prometheus_check(prometheus.url, PromCheckSpec.parse("scalar(up) == 1")).status
        is Status.PASSED
    )
    assert (
        run_prometheus_check(prometheus.url, PromCheckSpec.parse("nan < 1")).status is Status.FAILED
    )


def test_prometheus_empty_result_fails_closed(prometheus: Prometheus) -> None:
    check = run_prometheus_check(prometheus.url, PromCheckSpec.parse("absent_metric > 0"))
    assert check.status is Status.FAILED
    assert check.summary == "the query returned no samples"


def test_prometheus_error_json_is_reported(prometheus: Prometheus) -> None:
    prometheus.answers["rate(x[5m]"] = PromAnswer(
        error_type="bad_data",
        error="1:11: parse error: unclosed left parenthesis",
        http_status=400,
    )
    check = run_prometheus_check(prometheus.url, PromCheckSpec.parse("rate(x[5m] < 1"))
    assert check.status is Status.FAILED
    assert check.summary == (
        "Prometheus error (bad_data, HTTP 400): 1:11: parse error: unclosed left parenthesis"
    )


def test_prometheus_unavailable_and_refused(prometheus: Prometheus) -> None:
    prometheus.answers["slow"] = PromAnswer(
        error_type="timeout", error="query timed out", http_status=503
    )
    check = run_prometheus_check(prometheus.url, PromCheckSpec.parse("slow < 1"))
    assert check.summary == "Prometheus error (timeout, HTTP 503): query timed out"
    port = free_port()
    refused = run_prometheus_check(f"http://127.0.0.1:{port}", PromCheckSpec.parse("up == 1"))
    assert refused.status is Status.FAILED
    assert refused.summary == f"connection refused: Prometheus at http://127.0.0.1:{port}"


def test_prometheus_not_an_api(prometheus: Prometheus) -> None:
    check = run_prometheus_check(prometheus.url + "/wrong", PromCheckSpec.parse("up == 1"))
    assert check.status is Status.FAILED
    assert "is not Prometheus API JSON" in check.summary


@pytest.mark.parametrize("text", ["up", "== 1", "up == one"])
def test_prometheus_bad_spec(text: str) -> None:
    with pytest.raises(InputError, match="Cannot read the Prometheus check"):
        PromCheckSpec.parse(text)


def test_prometheus_spec_keeps_promql_comparisons() -> None:
    spec = PromCheckSpec.parse("sum(up > 0) >= 3")
    assert (spec.query, spec.op, spec.threshold) == ("sum(up > 0)", ">=", 3.0)


def _alarm(cw: object, name: str) -> None:
    cw.put_metric_alarm(  # type: ignore[attr-defined]
        AlarmName=name,
        MetricName="5xx",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )


def test_cloudwatch_alarm_states(aws_endpoint: str) -> None:
    cw = boto3.client("cloudwatch", region_name="eu-west-1")
    _alarm(cw, "app-ok")
    _alarm(cw, "app-burning")
    cw.set_alarm_state(AlarmName="app-ok", StateValue="OK", StateReason="fine")
    cw.set_alarm_state(AlarmName="app-burning", StateValue="ALARM", StateReason="5xx above 1")
    checks = run_alarm_checks(["app-ok", "app-burning", "app-missing"], "eu-west-1")
    by_name = {c.name: c for c in checks}
    assert by_name["app-ok"].status is Status.PASSED
    assert by_name["app-ok"].summary == "state OK"
    assert by_name["app-burning"].status is Status.FAILED
    assert by_name["app-burning"].summary == "in ALARM: 5xx above 1"
    assert by_name["app-missing"].status is Status.FAILED
    assert by_name["app-missing"].summary == "no alarm named 'app-missing' in region eu-west-1"


def test_cloudwatch_unreachable(monkeypatch: pytest.MonkeyPatch, aws_endpoint: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    [check] = run_alarm_checks(["x"], "eu-west-1")
    assert check.status is Status.FAILED
    assert check.summary.startswith("cannot reach CloudWatch")
