"""Colour and progress bars (rich) for a person at a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from shipstep.progress import Task


class _RichTask:
    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self._progress = progress
        self._id = task_id

    def advance(self, amount: float) -> None:
        self._progress.advance(self._id, amount)

    def update(self, *, completed: float | None = None, total: float | None = None) -> None:
        self._progress.update(self._id, completed=completed, total=total)


class RichReporter:
    """Colour and progress bars for a person at a terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)

    def log(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self._console.rule(title, style="dim")
        yield

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn() if total and total > 1024 else TextColumn(""),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        ) as progress:
            yield _RichTask(progress, progress.add_task(description, total=total))
        self._console.print(f"[green]✓[/] {description}", highlight=False)

    def mask(self, secret: str) -> None:
        return None
