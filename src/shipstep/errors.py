"""The one root error of shipstep.

Every expected failure is a `ShipstepError` (or a subclass) carrying a
diagnostic: what went wrong and what to do about it. Adapters convert the
errors of third-party libraries (botocore, requests, docker, kubernetes) into
it; the CLI catches it once, prints the diagnostic and exits without a
traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of the `shipstep` command."""

    OK = 0
    FAILURE = 1  # the step ran and failed (tests failed, verification failed, ...)
    USAGE = 2  # bad flags, bad inputs, bad configuration: nothing was done
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class ShipstepError(Exception):
    """An expected failure, with a diagnostic for the user.

    `message` says what went wrong, `hint` what to do about it. `file` and
    `line` point at the user's file the failure is about (a Dockerfile, a
    manifest), so that CI can annotate it.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file
        self.line = line
        self.title = title

    def diagnostic(self) -> str:
        """The full text shown to the user: the message, then the hint."""
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        text = f"{where}{self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class InputError(ShipstepError):
    """Bad user input (flags, action inputs, configuration): nothing was done."""

    exit_code = ExitCode.USAGE
