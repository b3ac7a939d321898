"""Run the project's tests inside the built image.

The container is created with a unique name and shipstep labels and is
removed in every case: success, failure, timeout, Ctrl-C and SIGTERM (which
CI systems send on cancellation).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import shutil
import signal
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import docker
import docker.errors
import requests

from shipstep.errors import InputError, ShipstepError
from shipstep.progress import Reporter
from shipstep.steps.imagebuild.engine import engine_error
from shipstep.steps.imagebuild.junit import JUnitSummary, ReportError, parse_report
from shipstep.steps.imagebuild.log import LineSplitter, Tail

ROLE_LABEL = "dev.shipstep.role"
RUN_LABEL = "dev.shipstep.run"
MAX_REPORT_BYTES = 64 * 1024 * 1024
LOG_DRAIN_SECONDS = 120
_NOT_FOUND = ("executable file not found", "no such file or directory", "not found in $path")


@dataclass(frozen=True)
class ImageTests:
    command: tuple[str, ...] | None  # None: the image's own ENTRYPOINT/CMD
    env: Mapping[str, str] = field(default_factory=dict)
    workdir: str | None = None
    network: str = "none"
    timeout: float = 1800.0
    report_path: str | None = None  # inside the container
    report_to: Path | None = None  # where the copy goes


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest class

    exit_code: int | None  # None when killed at the timeout
    timed_out: bool
    duration: float
    report: JUnitSummary | None = None
    report_file: Path | None = None
    report_problem: str | None = None
    tail: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return (
            self.exit_code == 0
            and not self.timed_out
            and self.report_problem is None
            and (self.report is None or self.report.failed == 0)
        )


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so that `finally` blocks run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_tests(
    api: docker.APIClient, image: str, spec: ImageTests, reporter: Reporter
) -> TestOutcome:
    run_id = uuid.uuid4().hex[:12]
    with sigterm_as_interrupt():
        try:
            created = api.create_container(
                image,
                command=list(spec.command) if spec.command is not None else None,
                environment=dict(spec.env),
                working_dir=spec.workdir,
                labels={ROLE_LABEL: "test", RUN_LABEL: run_id},
                name=f"shipstep-test-{run_id}",
                host_config=api.create_host_config(network_mode=spec.network),
                detach=True,
            )
        except docker.errors.APIError as error:
            raise engine_error(error, "cannot create the test container") from error
        container = str(created["Id"])
        try:
            return _run(api, container, spec, reporter)
        finally:
            _remove(api, container, reporter)


def _remove(api: docker.APIClient, container: str, reporter: Reporter) -> None:
    try:
        api.remove_container(container, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except (docker.errors.APIError, requests.exceptions.RequestException) as error:
        reporter.log(f"warning: could not remove the test container {container[:12]}: {error}")


def _run(
    api: docker.APIClient, container: str, spec: ImageTests, reporter: Reporter
) -> TestOutcome:
    # Attached before the start, as `docker run` does: the output comes
    # straight from the container's stdio, complete, whatever the log driver.
    try:
        output = api.attach(container, stdout=True, stderr=True, stream=True, logs=True)
    except docker.errors.APIError as error:
        raise engine_error(error, "cannot attach to the test container") from error
    connection = _attached_socket(output)
    tail = Tail()
    pump = threading.Thread(
        target=_pump_logs, args=(output, tail, reporter), name="test-logs", daemon=True
    )
    pump.start()
    started = time.monotonic()
    try:
        api.start(container)
    except docker.errors.APIError as error:
        _close(output, connection)
        raise _start_error(error, spec) from error
    timed_out = False
    exit_code: int | None = None
    try:
        result = api.wait(container, timeout=spec.timeout)
        exit_code = int(result.get("StatusCode", -1))
    except requests.exceptions.RequestException as error:
        if time.monotonic() - started < spec.timeout - 1:
            raise ShipstepError(
                f"lost the connection to the Docker engine while the tests ran: {error}"
            ) from error
        timed_out = True
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            api.kill(container)
    duration = time.monotonic() - started
    # The engine may still be delivering the end of a long log after the
    # container exited: wait for it (briefly after a kill).
    pump.join(timeout=10 if timed_out else LOG_DRAIN_SECONDS)
    if pump.is_alive():
        reporter.log("warning: the end of the test log did not arrive; it is cut short here.")
    _close(output, connection)
    if timed_out:
        reporter.log(f"The tests did not finish within {spec.timeout:g}s: killed.")
    outcome = TestOutcome(
        exit_code=exit_code, timed_out=timed_out, duration=duration, tail=tuple(tail.lines())
    )
    if spec.report_path and spec.report_to:
        outcome = _collect_report(api, container, spec.report_path, spec.report_to, outcome)
    return outcome


def _attached_socket(output: object) -> list[Any]:
    """The upgraded connection under docker-py's attach stream (buffered
    reader, socket file object, socket). Its `close()` skips a stream whose
    HTTP response already reads as finished, leaving the socket open; we
    close these ourselves, outermost first (a socket only really closes when
    its file objects are closed too)."""
    fp = getattr(
        getattr(getattr(getattr(output, "_response", None), "raw", None), "_fp", None), "fp", None
    )
    raw = getattr(fp, "raw", None)
    sock = getattr(raw, "_sock", None)
    return [part for part in (fp, raw, sock) if part is not None and hasattr(part, "close")]


def _close(output: Any, connection: list[Any]) -> None:
    with contextlib.suppress(OSError):
        output.close()
    for part in connection:
        with contextlib.suppress(OSError, ValueError):
            part.close()


def _pump_logs(output: Iterable[bytes], tail: Tail, reporter: Reporter) -> None:
    splitter = LineSplitter()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def emit(lines: list[str]) -> None:
        if lines:
            tail.extend(lines)
            reporter.log("\n".join(lines))  # a block per chunk, as in the build log

    try:
        for chunk in output:
            emit(splitter.feed(decoder.decode(chunk)))
    except (docker.errors.APIError, requests.exceptions.RequestException, OSError, ValueError):
        pass  # the stream was closed (timeout, interrupt): the output ends here
    emit(splitter.feed(decoder.decode(b"", final=True)))
    emit(splitter.flush())


def _start_error(error: docker.errors.APIError, spec: ImageTests) -> ShipstepError:
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    text = str(explanation or error)
    if any(marker in text.lower() for marker in _NOT_FOUND):
        program = spec.command[0] if spec.command else "the image's default command"
        return InputError(
            f"the test command {program!r} was not found in the image: {text}",
            hint="Check --test-command (it runs without a shell, so the program must exist "
            "in the image's PATH) or --test-workdir.",
            title="Test command not found",
        )
    return ShipstepError(f"cannot start the test container: {text}")


def _collect_report(
    api: docker.APIClient, container: str, path: str, target: Path, outcome: TestOutcome
) -> TestOutcome:
    def problem(text: str) -> TestOutcome:
        return dataclasses.replace(outcome, report_problem=text)

    try:
        stream, stat = api.get_archive(container, path)
    except docker.errors.NotFound:
        return problem(f"the tests did not write the report {path}")
    except docker.errors.APIError as error:
        return problem(f"cannot copy the report {path} out of the container: {error.explanation}")
    if int(stat.get("size", 0)) > MAX_REPORT_BYTES:
        return problem(f"the report {path} is larger than {MAX_REPORT_BYTES // 2**20} MiB")
    with tempfile.TemporaryFile() as archive:
        written = 0
        for chunk in stream:
            written += len(chunk)
            if written > MAX_REPORT_BYTES + 1024 * 1024:
                return problem(f"the report {path} is larger than {MAX_REPORT_BYTES // 2**20} MiB")
            archive.write(chunk)
        archive.seek(0)
        with tarfile.open(fileobj=archive, mode="r:") as tar:
            member = tar.next()
            if member is None or not member.isfile():
                return problem(f"the report {path} is not a regular file")
            source = tar.extractfile(member)
            assert source is not None
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
    try:
        summary = parse_report(target)
    except ReportError as error:
        return dataclasses.replace(outcome, report_file=target, report_problem=f"{path}: {error}")
    return dataclasses.replace(outcome, report_file=target, report=summary)
