"""Summaries of JUnit XML reports (pytest, JUnit, go-junit-report, jest-junit...).

Parsed with defusedxml: the report comes out of the user's container and is
untrusted (no DTDs, no entity expansion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

MAX_FAILURE_NAMES = 50


class ReportError(Exception):
    """The report is not a JUnit XML document we can read."""


@dataclass(frozen=True)
class JUnitSummary:
    passed: int = 0
    failed: int = 0  # <failure> and <error> both count as failed
    skipped: int = 0
    failures: tuple[str, ...] = field(default_factory=tuple)  # at most MAX_FAILURE_NAMES
    more_failures: int = 0  # failures beyond the names kept

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped


def _case_name(case: Element) -> str:
    name = case.get("name") or "(unnamed)"
    owner = case.get("classname")
    return f"{owner}.{name}" if owner else name


def summarise(root: Element) -> JUnitSummary:
    if root.tag not in ("testsuites", "testsuite"):
        raise ReportError(f"the root element is <{root.tag}>, not <testsuites> or <testsuite>")
    passed = failed = skipped = 0
    names: list[str] = []
    for case in root.iter("testcase"):
        children = {child.tag for child in case}
        if children & {"failure", "error"}:
            failed += 1
            if len(names) < MAX_FAILURE_NAMES:
                names.append(_case_name(case))
        elif "skipped" in children:
            skipped += 1
        else:
            passed += 1
    return JUnitSummary(
        passed=passed,
        failed=failed,
        skipped=skipped,
        failures=tuple(names),
        more_failures=failed - len(names),
    )


def parse_report(path: Path) -> JUnitSummary:
    try:
        tree = safe_et.parse(str(path))
    except (ParseError, DefusedXmlException) as error:
        raise ReportError(f"not well-formed XML ({error})") from error
    root = tree.getroot()
    assert root is not None
    return summarise(root)
