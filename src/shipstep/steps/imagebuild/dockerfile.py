"""Just enough Dockerfile reading to check inputs before the engine sees them.

The engine stays the authority on syntax; this scanner only finds what the
step needs to validate and explain: the instructions with their line numbers
(to point at a failing step), the stage names (to check `--target`), and the
declared `ARG`s (to refuse a build argument nothing consumes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from shipstep.errors import InputError

# Build arguments every builder accepts without an ARG instruction.
PREDEFINED_ARGS = frozenset(
    name
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (proxy, proxy.lower())
)
# BuildKit also accepts these without a declaration.
BUILDKIT_ARGS = frozenset(
    {
        "BUILDKIT_INLINE_CACHE",
        "BUILDKIT_MULTI_PLATFORM",
        "BUILDKIT_SANDBOX_HOSTNAME",
        "BUILDKIT_CONTEXT_KEEP_GIT_DIR",
        "BUILDKIT_SYNTAX",
        "SOURCE_DATE_EPOCH",
    }
)

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_STAGE = re.compile(r"\s+as\s+([a-zA-Z][a-zA-Z0-9_.-]*)\s*$", re.IGNORECASE)
MAX_DOCKERFILE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: RUN, COPY, ...
    text: str  # the instruction as written, continuation lines joined
    line: int  # 1-based line of its first line


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    instructions: tuple[Instruction, ...]
    stages: tuple[str, ...]  # named stages, in order
    args: frozenset[str]  # every name declared by an ARG instruction

    @property
    def display(self) -> str:
        """The path for messages and CI annotations: relative to the current
        directory (the checkout) when inside it, otherwise absolute."""
        try:
            return str(self.path.relative_to(Path.cwd()))
        except ValueError:
            return str(self.path)

    def check_target(self, target: str, option: str) -> None:
        if target.lower() not in (stage.lower() for stage in self.stages):
            named = (
                ", ".join(self.stages) if self.stages else "none: name one with `FROM ... AS NAME`"
            )
            raise InputError(
                f"{option} {target!r}: no stage of that name in {self.display}.",
                hint=f"Stages in this Dockerfile: {named}.",
                file=self.display,
            )

    def check_build_args(self, names: list[str], *, buildkit: bool) -> None:
        allowed = self.args | PREDEFINED_ARGS | (BUILDKIT_ARGS if buildkit else frozenset())
        unknown = [name for name in names if name not in allowed]
        if unknown:
            declared = ", ".join(sorted(self.args)) or "none"
            raise InputError(
                f"build argument {', '.join(unknown)} is not declared by any ARG in {self.display}.",
                hint=f"Declare it with `ARG NAME` in the Dockerfile or drop it. Declared: {declared}.",
                file=self.display,
            )

    def instruction_at_step(self, step: int, keyword: str) -> Instruction | None:
        """The instruction behind the classic builder's `Step N/M : KEYWORD ...`."""
        if 1 <= step <= len(self.instructions):
            found = self.instructions[step - 1]
            if found.keyword == keyword.upper():
                return found
        return None


def read_dockerfile(path: Path) -> Dockerfile:
    try:
        if path.stat().st_size > MAX_DOCKERFILE_BYTES:
            raise InputError(f"{path} is larger than 4 MiB: is it really a Dockerfile?")
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError(
            f"cannot read the Dockerfile {path}: {error.strerror or error}",
            hint="Pass --file with the path of the Dockerfile (relative to the current directory).",
        ) from error
    return parse_dockerfile(text, path)


def parse_dockerfile(text: str, path: Path) -> Dockerfile:
    lines = text.splitlines()
    escape = "\\"
    start = 0
    # Parser directives: only at the very top, before any comment or instruction.
    for start, raw in enumerate(lines):  # noqa: B007 - start is used after the loop
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    else:
        start = len(lines)

    instructions: list[Instruction] = []
    parts: list[str] = []
    first_line = 0
    for number in range(start, len(lines)):
        stripped = lines[number].strip()
        if not parts and (not stripped or stripped.startswith("#")):
            continue
        if parts and (not stripped or stripped.startswith("#")):
            continue  # comments and blank lines inside a continuation are dropped
        if not parts:
            first_line = number + 1
        if stripped.endswith(escape):
            parts.append(stripped[: -len(escape)].strip())
            continue
        parts.append(stripped)
        instructions.append(_instruction(" ".join(p for p in parts if p), first_line))
        parts = []
    if parts:
        instructions.append(_instruction(" ".join(p for p in parts if p), first_line))

    stages: list[str] = []
    args: set[str] = set()
    for instruction in instructions:
        if instruction.keyword == "FROM":
            match = _STAGE.search(instruction.text)
            if match:
                stages.append(match.group(1))
        elif instruction.keyword == "ARG":
            for token in instruction.text.split()[1:]:
                name = token.split("=", 1)[0]
                if name:
                    args.add(name)
    return Dockerfile(path, tuple(instructions), tuple(stages), frozenset(args))


def _instruction(text: str, line: int) -> Instruction:
    keyword = text.split(None, 1)[0].upper()
    return Instruction(keyword, text, line)
