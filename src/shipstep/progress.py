"""How steps report progress without printing.

Steps and library code never print (the CLI is the only place that does).
They receive a `Reporter` and tell it what they are doing; the CLI gives them
one that renders for the current runtime (rich progress on a terminal, plain
lines in a pipe, `::group::` blocks on GitHub Actions).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Task(Protocol):
    def advance(self, amount: float) -> None: ...

    def update(self, *, completed: float | None = None, total: float | None = None) -> None: ...


class Reporter(Protocol):
    def log(self, line: str) -> None:
        """One line of step output (a build log line, a notice)."""

    def group(self, title: str) -> AbstractContextManager[None]:
        """A block of long output, collapsed in CI logs."""

    def task(self, description: str, total: float | None = None) -> AbstractContextManager[Task]:
        """A unit of work with measurable progress (bytes pushed, objects applied)."""

    def mask(self, secret: str) -> None:
        """Register a secret obtained at run time (a registry token) so that CI
        logs hide it should it ever be printed."""


class _NullTask:
    def advance(self, amount: float) -> None:
        pass

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        pass


class NullReporter:
    """Discards everything: for library use and tests."""

    def log(self, line: str) -> None:
        pass

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        yield

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        yield _NullTask()

    def mask(self, secret: str) -> None:
        pass


class RecordingReporter(NullReporter):
    """Keeps the logged lines: for tests that check what a step reported."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def log(self, line: str) -> None:
        self.lines.append(line)
