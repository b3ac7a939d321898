"""Bounded handling of build and test logs.

A build may print hundreds of megabytes; nothing here keeps more than a
fixed number of lines of a fixed length. Lines go to the reporter as they
arrive and only a short tail is kept for the failure message.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator

MAX_LINE_CHARS = 4096  # a longer line is cut into pieces of this size
TAIL_LINES = 30
TAIL_LINE_CHARS = 400

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


class LineSplitter:
    """Turns arbitrary text chunks into lines; a partial line never grows
    past `MAX_LINE_CHARS` (it is emitted in pieces)."""

    def __init__(self, max_chars: int = MAX_LINE_CHARS) -> None:
        self._partial = ""
        self._max = max_chars

    def feed(self, chunk: str) -> Iterator[str]:
        text = self._partial + chunk
        self._partial = ""
        start = 0
        while True:
            end = text.find("\n", start)
            if end < 0:
                break
            yield from self._pieces(text[start:end].rstrip("\r"))
            start = end + 1
        rest = text[start:]
        while len(rest) > self._max:
            yield rest[: self._max]
            rest = rest[self._max :]
        self._partial = rest

    def flush(self) -> Iterator[str]:
        if self._partial:
            rest, self._partial = self._partial, ""
            yield from self._pieces(rest.rstrip("\r"))

    def _pieces(self, line: str) -> Iterator[str]:
        while len(line) > self._max:
            yield line[: self._max]
            line = line[self._max :]
        yield line


class Tail:
    """The last `TAIL_LINES` lines (each cut to `TAIL_LINE_CHARS`), ANSI-free."""

    def __init__(self, lines: int = TAIL_LINES, line_chars: int = TAIL_LINE_CHARS) -> None:
        self._lines: deque[str] = deque(maxlen=lines)
        self._chars = line_chars
        self.dropped = 0

    def add(self, line: str) -> None:
        if len(self._lines) == self._lines.maxlen:
            self.dropped += 1
        clean = strip_ansi(line)
        if len(clean) > self._chars:
            clean = clean[: self._chars] + " …"
        self._lines.append(clean)

    def clear(self) -> None:
        self._lines.clear()
        self.dropped = 0

    def lines(self) -> list[str]:
        return list(self._lines)

    def render(self, indent: str = "  ") -> str:
        head = f"{indent}… ({self.dropped} earlier lines not shown)\n" if self.dropped else ""
        return head + "\n".join(indent + line for line in self._lines)
