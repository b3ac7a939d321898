"""Reporters that render step progress for the current runtime.

All of it goes to stderr: stdout is reserved for the command's result (one
JSON object with `--output json`). rich is imported only for a terminal
(`_rich_reporting`): CI logs and pipes do not pay for loading it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from shipstep.progress import Reporter, Task
from shipstep.runtime import Runtime


class PlainReporter:
    """Line-oriented output for pipes and CI logs."""

    def __init__(self, runtime: Runtime, stream: TextIO | None = None) -> None:
        self._runtime = runtime
        self._stream = stream or sys.stderr

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()

    def log(self, line: str) -> None:
        self._write(line)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        commands = self._runtime.group_commands(title)
        self._write(commands[0] if commands else f"== {title}")
        try:
            yield
        finally:
            if commands:
                self._write(commands[1])

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        task = _CountingTask()
        self._write(f"{description} ...")
        yield task
        self._write(f"{description}: done")

    def mask(self, secret: str) -> None:
        for line in self._runtime.mask_command(secret):
            self._write(line)


class _CountingTask:
    def __init__(self) -> None:
        self.completed = 0.0

    def advance(self, amount: float) -> None:
        self.completed += amount

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        if completed is not None:
            self.completed = completed


def reporter_for(runtime: Runtime) -> Reporter:
    if runtime.name == "local" and sys.stderr.isatty():
        from shipstep.cli._rich_reporting import RichReporter

        return RichReporter()
    return PlainReporter(runtime)
