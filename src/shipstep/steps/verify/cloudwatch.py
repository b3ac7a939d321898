"""CloudWatch alarms that must not be in ALARM (boto3 `DescribeAlarms`)."""

from __future__ import annotations

from collections.abc import Sequence

import boto3
import botocore.exceptions

from shipstep.steps.verify.report import Check, Status


def run_alarm_checks(names: Sequence[str], region: str | None) -> list[Check]:
    if not names:
        return []
    try:
        client = boto3.client("cloudwatch", region_name=region)
        found: dict[str, dict[str, object]] = {}
        paginator = client.get_paginator("describe_alarms")
        for page in paginator.paginate(
            AlarmNames=list(names), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        ):
            for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                found[alarm["AlarmName"]] = alarm
    except botocore.exceptions.NoRegionError:
        return [_failed(n, "no AWS region: pass --region or set AWS_REGION") for n in names]
    except botocore.exceptions.NoCredentialsError:
        return [_failed(n, "no AWS credentials found") for n in names]
    except botocore.exceptions.ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        message = error.response.get("Error", {}).get("Message", "")
        return [_failed(n, f"CloudWatch refused DescribeAlarms: {code}: {message}") for n in names]
    except botocore.exceptions.BotoCoreError as error:
        return [_failed(n, f"cannot reach CloudWatch: {error}") for n in names]
    checks = []
    for name in names:
        alarm = found.get(name)
        if alarm is None:
            checks.append(
                _failed(name, f"no alarm named {name!r} in region {client.meta.region_name}")
            )
            continue
        state = str(alarm.get("StateValue"))
        reason = str(alarm.get("StateReason", ""))
        details = (f"state {state} since {alarm.get('StateUpdatedTimestamp')}", f"reason: {reason}")
        if state == "ALARM":
            checks.append(Check("cloudwatch", name, Status.FAILED, f"in ALARM: {reason}", details))
        else:
            checks.append(Check("cloudwatch", name, Status.PASSED, f"state {state}", details))
    return checks


def _failed(name: str, summary: str) -> Check:
    return Check("cloudwatch", name, Status.FAILED, summary)
