"""Building with the Docker CLI's buildx plugin (BuildKit): platform lists and
cache import/export. The CLI runs as an argument list, never through a shell;
build-argument values travel in its environment, not on its command line."""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from shipstep.errors import InputError, ShipstepError
from shipstep.progress import Reporter
from shipstep.steps.imagebuild.interface import BuildRequest, BuiltImage
from shipstep.steps.imagebuild.log import LineSplitter, Tail, strip_ansi

_VERTEX = re.compile(r"^#(\d+) (.*)$")
_STEP_TITLE = re.compile(r"^\[(?:[^\]]*\s)?(\d+)/(\d+)\] (.+)$")
_DOCKERFILE_LINE = re.compile(r"^(?:\S*Dockerfile\S*):(\d+)$")
KEPT_VERTICES = 8


def buildx_argv(request: BuildRequest, docker: str, iidfile: Path, metadata: Path) -> list[str]:
    argv = [
        docker,
        "buildx",
        "build",
        "--progress",
        "plain",
        "--file",
        str(request.dockerfile.path),
    ]
    argv += ["--iidfile", str(iidfile), "--metadata-file", str(metadata)]
    for tag in request.tags:
        argv += ["--tag", tag]
    for name, value in request.labels.items():
        argv += ["--label", f"{name}={value}"]
    for name in request.build_args:
        argv += ["--build-arg", name]  # the value comes from the environment
    if request.target:
        argv += ["--target", request.target]
    if request.no_cache:
        argv.append("--no-cache")
    if request.pull:
        argv.append("--pull")
    if request.network:
        argv += ["--network", request.network]
    if request.platforms:
        argv += ["--platform", ",".join(request.platforms)]
    for source in request.cache_from:
        argv += ["--cache-from", source]
    for sink in request.cache_to:
        argv += ["--cache-to", sink]
    if len(request.platforms) > 1:
        if request.oci_output is None:
            raise InputError(
                "a multi-platform build cannot be loaded into the engine.",
                hint="Pass --oci-output FILE to write it as an OCI layout tarball "
                "(publish can push that), or build one platform.",
            )
        argv += ["--output", f"type=oci,dest={request.oci_output}"]
    else:
        argv.append("--load")
    argv.append(str(request.context))
    return argv


def find_buildx(environ: Mapping[str, str]) -> str:
    """The docker CLI, checked to have the buildx plugin."""
    docker = shutil.which("docker", path=environ.get("PATH"))
    if docker is None:
        raise InputError(
            "--builder buildx needs the docker CLI, and none is on PATH.",
            hint="Install the docker CLI with the buildx plugin, or use the default --builder engine.",
        )
    try:
        probe = subprocess.run(
            [docker, "buildx", "version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=dict(environ),
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InputError(f"cannot run `{docker} buildx version`: {error}") from error
    if probe.returncode != 0:
        raise InputError(
            f"--builder buildx: the docker CLI at {docker} has no buildx plugin "
            f"({(probe.stderr or probe.stdout).strip().splitlines()[0:1] or ['no output']})",
            hint="Install docker-buildx (on GitHub runners: docker/setup-buildx-action), "
            "or use the default --builder engine.",
        )
    return docker


class BuildxLog:
    """Follows BuildKit's `--progress plain` output: step counts, cache hits,
    the failing step and the tail of its output, in bounded memory."""

    def __init__(self) -> None:
        self.titles: OrderedDict[str, str] = OrderedDict()
        self.tails: OrderedDict[str, Tail] = OrderedDict()
        self.steps: set[str] = set()
        self.cached: set[str] = set()
        self.failed_vertex: str | None = None
        self.error = ""
        self.dockerfile_line: int | None = None
        self.tail = Tail()

    def line(self, line: str) -> None:
        text = strip_ansi(line)
        self.tail.add(text)
        match = _VERTEX.match(text)
        if match:
            vertex, rest = match.groups()
            if vertex not in self.titles:
                self._remember(vertex, rest)
                return
            if rest == "CACHED":
                self.cached.add(vertex)
            elif rest.startswith("ERROR:"):
                self.failed_vertex = vertex
                self.error = rest[len("ERROR:") :].strip()
            elif not rest.startswith("DONE"):
                self.tails[vertex].add(rest)
            return
        found = _DOCKERFILE_LINE.match(text.strip())
        if found and self.dockerfile_line is None:
            self.dockerfile_line = int(found.group(1))
        if text.startswith("ERROR:") and not self.error:
            self.error = text[len("ERROR:") :].strip()

    def _remember(self, vertex: str, title: str) -> None:
        self.titles[vertex] = title
        self.tails[vertex] = Tail()
        if _STEP_TITLE.match(title):
            self.steps.add(vertex)
        while len(self.titles) > KEPT_VERTICES:
            old, _ = self.titles.popitem(last=False)
            self.tails.pop(old, None)

    def failure(self, request: BuildRequest, returncode: int) -> ShipstepError:
        title = self.titles.get(self.failed_vertex or "", "")
        tail = self.tails.get(self.failed_vertex or "") or self.tail
        text = "the build failed"
        if title:
            text += f" at {title}"
        text += f"\n{self.error or f'docker buildx build exited with code {returncode}'}"
        if tail.lines():
            text += f"\nlast lines of its output:\n{tail.render()}"
        return ShipstepError(
            text,
            hint="Fix the failing instruction; the full log is above.",
            file=request.dockerfile.display,
            line=self.dockerfile_line,
            title="docker buildx build failed",
        )


class BuildxBuilder:
    name = "buildx"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._env = dict(os.environ if environ is None else environ)
        self._docker = find_buildx(self._env)

    def build(self, request: BuildRequest, reporter: Reporter) -> BuiltImage:
        with tempfile.TemporaryDirectory(prefix="shipstep-buildx-") as scratch:
            iidfile, metadata = Path(scratch, "iid"), Path(scratch, "metadata.json")
            argv = buildx_argv(request, self._docker, iidfile, metadata)
            env = {**self._env, **request.build_args}
            log = BuildxLog()
            with reporter.group(request.title), reporter.task("Building image (buildx)"):
                returncode = _stream(argv, env, log, reporter)
            if returncode != 0:
                raise log.failure(request, returncode)
            image_id = iidfile.read_text().strip() if iidfile.exists() else ""
            if len(request.platforms) > 1 and metadata.exists():
                described = json.loads(metadata.read_text() or "{}")
                image_id = str(described.get("containerimage.digest") or image_id)
        if not image_id:
            raise ShipstepError("docker buildx build finished without writing an image id.")
        return BuiltImage(
            image_id=image_id,
            steps=len(log.steps),
            cached_steps=len(log.cached & log.steps),
            loaded=len(request.platforms) <= 1,
        )


def _stream(argv: list[str], env: dict[str, str], log: BuildxLog, reporter: Reporter) -> int:
    splitter = LineSplitter()
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    ) as process:
        assert process.stdout is not None
        try:
            while chunk := os.read(process.stdout.fileno(), 65536):
                for line in splitter.feed(decoder.decode(chunk)):
                    log.line(line)
                    reporter.log(line)
        except BaseException:
            process.terminate()
            raise
        for line in splitter.flush():
            log.line(line)
            reporter.log(line)
        return process.wait()
