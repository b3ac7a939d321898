"""Bounded handling of build and test logs.

A build may print hundreds of megabytes; nothing here keeps more than a
fixed number of lines of a fixed length. Lines go to the reporter as they
arrive and only a short tail is kept for the failure message.
"""

from __future__ import annotations

import re
from collections import deque

MAX_LINE_CHARS = 4096  # a longer line is cut into pieces of this size
TAIL_LINES = 30
TAIL_LINE_CHARS = 400

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class LineSplitter:
    """Turns arbitrary text chunks into lines; a partial line never grows
    past `MAX_LINE_CHARS` (longer lines are emitted in pieces).

    Works a chunk at a time with str methods: a build log can have millions
    of lines and the per-line cost is what limits throughput."""

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self._partial = ""
        self._max = max_chars

    def feed(self, chunk: str) -> list[str]:
        text = self._partial + chunk
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        lines = text.split("\n")
        rest = lines.pop()
        if len(rest) > self._max:
            cut = len(rest) - len(rest) % self._max
            lines.append(rest[:cut])
            rest = rest[cut:]
        self._partial = rest
        if lines and max(map(len, lines)) > self._max:
            lines = [piece for line in lines for piece in self._pieces(line)]
        return lines

    def flush(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return self._pieces(rest.rstrip("\r")) if rest else []

    def _pieces(self, line: str) -> list[str]:
        if len(line) <= self._max:
            return [line]
        return [line[start : start + self._max] for start in range(0, len(line), self._max)]


class Tail:
    """The last `TAIL_LINES` lines, each cut to `TAIL_LINE_CHARS`, ANSI-free."""

    def __init__(self, lines: int = TAIL_LINES, line_chars: int = TAIL_LINE_CHARS) -> None:
        self._lines: deque[str] = deque(maxlen=lines)
        self._max_lines = lines
        self._chars = line_chars
        self.dropped = 0

    def add(self, line: str) -> None:
        if len(self._lines) == self._max_lines:
            self.dropped += 1
        if "\x1b" in line:
            line = strip_ansi(line)
        self._lines.append(line[: self._chars] + " …" if len(line) > self._chars else line)

    def extend(self, lines: list[str]) -> None:
        """`add` for a batch: only the last lines of it are looked at."""
        if len(lines) > self._max_lines:
            self.dropped += len(lines) - self._max_lines
            lines = lines[-self._max_lines :]
        for line in lines:
            self.add(line)

    def clear(self) -> None:
        self._lines.clear()
        self.dropped = 0

    def lines(self) -> list[str]:
        return list(self._lines)

    def render(self, indent: str = "  ") -> str:
        head = f"{indent}… ({self.dropped} earlier lines not shown)\n" if self.dropped else ""
        return head + "\n".join(indent + line for line in self.lines())
