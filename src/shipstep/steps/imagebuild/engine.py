"""The Docker engine: connecting to it, and building with its API (the
classic builder), streaming the log with bounded memory."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import docker
import docker.errors
import requests

from shipstep.errors import InputError, ShipstepError
from shipstep.progress import Reporter, Task
from shipstep.steps.imagebuild.interface import BuildRequest, BuiltImage
from shipstep.steps.imagebuild.log import LineSplitter, Tail, strip_ansi

DEFAULT_HOST = "unix:///var/run/docker.sock"
MIN_API_VERSION = "1.30"
_STEP = re.compile(r"^Step (\d+)/(\d+) : (\S+)(.*)$")
# The classic builder's own lines, kept out of the failing step's output tail.
_BUILDER_NOISE = (" ---> ", "Removing intermediate container ")
_PARSE_LINE = re.compile(r"(?:dockerfile parse error|parse error) (?:on )?line (\d+)", re.I)
# Engine messages on the classic builder's `GET /build` that mean "your input is wrong".
_INPUT_ERRORS = (
    "failed to reach build target",
    "dockerfile parse error",
    "unknown instruction",
    "cannot locate specified dockerfile",
    "unknown flag",
)


def engine_host(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or DEFAULT_HOST


def connect(environ: Mapping[str, str] | None = None) -> docker.APIClient:
    """A low-level client for the engine at DOCKER_HOST (TLS settings from the
    usual DOCKER_TLS_VERIFY / DOCKER_CERT_PATH)."""
    env = os.environ if environ is None else environ
    host = engine_host(env)
    kwargs = docker.utils.kwargs_from_env(environment=dict(env))
    kwargs["base_url"] = host
    probe: docker.APIClient | None = None
    try:
        _check_unix_socket(host)
        # A fixed old API version first, so that no request is made while
        # constructing (a failing constructor would leak its socket).
        probe = docker.APIClient(version=MIN_API_VERSION, timeout=30, **kwargs)
        version = str(probe.version(api_version=False)["ApiVersion"])
    except (
        OSError,
        docker.errors.DockerException,
        requests.exceptions.RequestException,
        KeyError,
    ) as error:
        raise ShipstepError(
            f"cannot reach the Docker engine at DOCKER_HOST={host}: {_short(error)}",
            hint="Start the engine or point DOCKER_HOST at it (in CodeBuild, enable privileged "
            "mode; in a GitHub docker action the runner mounts /var/run/docker.sock).",
            title="Docker engine unreachable",
        ) from error
    finally:
        if probe is not None:
            probe.close()
    if docker.utils.version_lt(docker.constants.DEFAULT_DOCKER_API_VERSION, version):
        version = docker.constants.DEFAULT_DOCKER_API_VERSION
    client = docker.APIClient(version=version, timeout=30, **kwargs)
    # No read timeout from here on: a build step or a test may stay silent for
    # a long time (the test phase sets its own deadline).
    client.timeout = None
    return client


def _check_unix_socket(host: str) -> None:
    """Connect once ourselves: docker-py leaks the socket of a failed unix connect."""
    if not host.startswith(("unix://", "http+unix://")):
        return
    path = host.split("://", 1)[1]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)


def _short(error: BaseException) -> str:
    text = str(error)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "No such file or directory" in text or "FileNotFoundError" in text:
        return "no such socket"
    return text.splitlines()[0][:300] if text else type(error).__name__


def engine_error(error: docker.errors.APIError, what: str) -> ShipstepError:
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    return ShipstepError(f"{what}: {explanation or error}")


class EngineBuilder:
    """Builds with the engine's own API, as `DOCKER_BUILDKIT=0 docker build` does."""

    name = "engine"

    def __init__(self, api: docker.APIClient) -> None:
        self._api = api

    def build(self, request: BuildRequest, reporter: Reporter) -> BuiltImage:
        if len(request.platforms) > 1 or request.cache_to or request.oci_output:
            raise InputError(
                "the engine builder builds one platform and has no cache export.",
                hint="Use --builder buildx for --platform lists and --cache-to.",
            )
        try:
            stream = self._start(request)
        except docker.errors.APIError as error:
            raise _request_error(error, request) from error
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            # (before OSError: requests' errors are OSErrors too)
            raise ShipstepError(f"the Docker engine refused the build: {_short(error)}") from error
        except OSError as error:
            raise InputError(
                f"cannot read the build context {request.context}: {error}",
                hint="Make the files readable or exclude them in .dockerignore.",
            ) from error
        with reporter.group(request.title), reporter.task("Building image") as task:
            built = _follow(stream, request, reporter, task)
        for extra in request.tags[1:]:
            repository, tag = split_tag(extra)
            try:
                self._api.tag(built.image_id, repository, tag)
            except docker.errors.APIError as error:
                raise engine_error(error, f"cannot tag the image as {extra}") from error
        return built

    def _start(self, request: BuildRequest) -> Iterator[dict[str, Any]]:
        """Send the context (docker-py tars it into a temporary file) and
        return the stream of build messages."""
        stream: Iterator[dict[str, Any]] = self._api.build(
            path=str(request.context),
            dockerfile=str(request.dockerfile.path),
            tag=request.tags[0] if request.tags else None,
            buildargs=dict(request.build_args) or None,
            labels=dict(request.labels) or None,
            target=request.target,
            nocache=request.no_cache,
            pull=request.pull,
            network_mode=request.network,
            platform=request.platforms[0] if request.platforms else None,
            cache_from=list(request.cache_from) or None,
            rm=True,
            forcerm=True,
            decode=True,
        )
        return stream


def split_tag(reference: str) -> tuple[str, str]:
    name, _, last = reference.rpartition("/")
    if ":" in last:
        repo_last, tag = last.rsplit(":", 1)
        return (f"{name}/{repo_last}" if name else repo_last), tag
    return reference, "latest"


class _Progress:
    def __init__(self, request: BuildRequest, task: Task) -> None:
        self.request = request
        self.task = task
        self.step = 0
        self.total = 0
        self.cached = 0
        self.instruction = ""
        self.tail = Tail()

    def lines(self, text: str, lines: list[str]) -> None:
        if "Step " not in text and "---> " not in text and "intermediate container" not in text:
            self.tail.extend(lines)  # plain output of a RUN: the common, fast case
            return
        for line in lines:
            self.line(line)

    def line(self, line: str) -> None:
        match = _STEP.match(line)
        if match:
            self.step, self.total = int(match.group(1)), int(match.group(2))
            self.instruction = match.group(3) + match.group(4)
            self.tail.clear()
            if match.group(3).upper() == "FROM":
                self.cached += 1  # a base image is reused, never rebuilt
            self.task.update(completed=self.step - 1, total=self.total)
            return
        if line.strip() == "---> Using cache":
            self.cached += 1
        if not strip_ansi(line).startswith(_BUILDER_NOISE):
            self.tail.add(line)

    def failure(self, message: str) -> ShipstepError:
        dockerfile = self.request.dockerfile
        where = f"step {self.step}/{self.total}" if self.step else "the start"
        keyword = self.instruction.split(None, 1)[0] if self.instruction else ""
        found = dockerfile.instruction_at_step(self.step, keyword) if keyword else None
        text = f"the build failed at {where}"
        if self.instruction:
            text += f": {self.instruction}"
        text += f"\n{strip_ansi(message).strip()}"
        if self.tail.lines():
            text += f"\nlast lines of its output:\n{self.tail.render()}"
        return ShipstepError(
            text,
            hint="Fix the failing instruction; the full log is above.",
            file=dockerfile.display,
            line=found.line if found else None,
            title="docker build failed",
        )


def _follow(
    stream: Iterator[dict[str, Any]], request: BuildRequest, reporter: Reporter, task: Task
) -> BuiltImage:
    progress = _Progress(request, task)
    splitter = LineSplitter()
    image_id: str | None = None
    try:
        for message in stream:
            text = message.get("stream")
            if isinstance(text, str):
                lines = splitter.feed(text)
                if lines:
                    block = "\n".join(lines)
                    progress.lines(block, lines)
                    # One call per engine message (a block of lines): the
                    # per-call cost of a reporter would otherwise dominate.
                    reporter.log(block)
                continue
            if "errorDetail" in message or "error" in message:
                for line in splitter.flush():
                    progress.line(line)
                    reporter.log(line)
                detail = message.get("errorDetail") or {}
                raise progress.failure(str(detail.get("message") or message.get("error")))
            aux = message.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
            status = message.get("status")
            if isinstance(status, str) and not message.get("progressDetail"):
                ident = message.get("id")
                reporter.log(f"{ident}: {status}" if ident else status)
    except docker.errors.APIError as error:
        raise _request_error(error, request) from error
    except requests.exceptions.RequestException as error:
        raise ShipstepError(
            f"lost the connection to the Docker engine during the build: {_short(error)}",
            hint="Check that the engine is still running (and has disk space), then re-run.",
        ) from error
    for line in splitter.flush():
        progress.line(line)
        reporter.log(line)
    if image_id is None:
        raise ShipstepError(
            "the engine finished the build without reporting an image id.",
            hint="Re-run; if it persists, check the engine's log.",
        )
    task.update(completed=progress.total, total=progress.total)
    return BuiltImage(image_id=image_id, steps=progress.total, cached_steps=progress.cached)


def _request_error(error: docker.errors.APIError, request: BuildRequest) -> ShipstepError:
    explanation = error.explanation
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    text = str(explanation or error).strip()
    path = request.dockerfile.display
    if any(marker in text.lower() for marker in _INPUT_ERRORS):
        match = _PARSE_LINE.search(text)
        return InputError(
            f"the engine refused the Dockerfile: {text}",
            hint="Fix the Dockerfile (or the --target / --file you passed) and re-run.",
            file=path,
            line=int(match.group(1)) if match else None,
            title="Dockerfile error",
        )
    return ShipstepError(f"the Docker engine refused the build: {text}")
