"""Which files of a checkout to search: globs, and paths that stay inside it.

Paths come from users (`--path`, `--target`) and from the repository itself
(symlinks). None of them may lead outside the checkout: a glob with `..` or an
absolute path is bad input, and a symlink that resolves outside is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shipstep.errors import InputError, ShipstepError

DEFAULT_GLOBS = ("**/*.yaml", "**/*.yml", "**/*.json")
SKIPPED_DIRECTORIES = frozenset({".git"})


def check_relative(path: str, what: str) -> str:
    """`path` as a clean relative POSIX path, or `InputError` if it could escape."""
    text = path.strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", text):
        raise InputError(
            f"{what} {path!r} is not a relative path inside the config repository.",
            hint="Give paths relative to the repository root, without '..' (e.g. envs/prod/**/*.yaml).",
        )
    return str(pure)


@dataclass(frozen=True)
class Glob:
    """A `--path` pattern: `*` and `?` stay within a directory, `**/` spans
    any number of them; a pattern without wildcards names a file or a
    directory (everything below it)."""

    pattern: str

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)

    @property
    def fixed_prefix(self) -> str:
        """The leading directories without wildcards (`envs/prod` for
        `envs/prod/**/*.yaml`): what a sparse checkout must include."""
        parts = PurePosixPath(self.pattern).parts
        fixed: list[str] = []
        for part in parts:
            if any(c in part for c in "*?"):
                break
            fixed.append(part)
        return "/".join(fixed)


def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    if not any(c in pattern for c in "*?"):
        body += "(?:/.*)?"  # a directory means everything below it
    return re.compile(body)


def make_globs(patterns: Sequence[str]) -> list[Glob]:
    return [Glob(check_relative(p, "--path")) for p in (patterns or DEFAULT_GLOBS)]


def sparse_directories(globs: Sequence[Glob], extra_files: Sequence[str] = ()) -> list[str] | None:
    """Directories a sparse checkout needs, or None when the whole tree is needed."""
    dirs: set[str] = set()
    for glob in globs:
        prefix = glob.fixed_prefix
        if not prefix:
            return None
        if not any(c in glob.pattern for c in "*?"):
            # A literal path may be a file: keep its directory.
            parent = str(PurePosixPath(prefix).parent)
            prefix = prefix if parent == "." else parent
        dirs.add(prefix)
    for file in extra_files:
        parent = str(PurePosixPath(file).parent)
        if parent == ".":
            return None
        dirs.add(parent)
    return sorted(dirs)


def inside(root: Path, relative: str) -> Path:
    """The real path of `relative` under `root`; refuses anything (a symlink
    on the way included) that resolves outside the checkout."""
    real_root = root.resolve()
    candidate = (root / relative).resolve()
    if candidate != real_root and real_root not in candidate.parents:
        raise ShipstepError(
            f"{relative} resolves outside the config repository (to {candidate}); refusing to read or write it.",
            hint="Remove the symlink or point --path/--target at files inside the repository.",
            file=relative,
            title="Path escapes the checkout",
        )
    return candidate


def iter_entries(root: Path, globs: Sequence[Glob]) -> Iterator[tuple[str, bool]]:
    """(relative POSIX path, is a symlink) of the files under `root` that
    match one of `globs`, in a stable order, never entering `.git` nor
    following symlinked directories (a matching one is checked by `inside`)."""
    regexes = [g.regex for g in globs]
    stack = [(str(root), "")]
    while stack:
        directory, prefix = stack.pop()
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name, reverse=True)
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_DIRECTORIES:
                    stack.append((entry.path, rel + "/"))
            elif entry.is_symlink():
                if any(rx.fullmatch(rel) for rx in regexes):
                    if os.path.isdir(entry.path):
                        inside(root, rel)
                    else:
                        yield rel, True
            elif entry.is_file(follow_symlinks=False) and any(rx.fullmatch(rel) for rx in regexes):
                yield rel, False


def iter_files(root: Path, globs: Sequence[Glob]) -> Iterator[str]:
    for rel, _ in iter_entries(root, globs):
        yield rel


def missing_link_targets(root: Path, globs: Sequence[Glob]) -> list[str]:
    """Directories (relative) holding the targets of matched symlinks that
    are inside the checkout but not checked out (outside a sparse checkout)."""
    missing: set[str] = set()
    real_root = root.resolve()
    for relative in iter_files(root, globs):
        full = root / relative
        if full.is_symlink() and not full.exists():
            target = inside(root, relative)
            missing.add(target.parent.relative_to(real_root).as_posix())
    return sorted(missing)
