"""Find every reference to the bumped image in a checkout, then edit them.

Only files whose text contains the repository path (`team/app`) (or a
marker or explicit target that could name it) are parsed: a file without it
cannot refer to the image, and skipping the parse is what makes a bump of a
large config repository fast.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shipstep.errors import ShipstepError
from shipstep.gitops.finders import FileSearch as _FileSearch
from shipstep.gitops.finders import Found, SearchOptions
from shipstep.gitops.images import ImageSpec
from shipstep.gitops.paths import Glob, inside, iter_entries
from shipstep.gitops.yamldoc import DEFAULT_MAX_FILE_BYTES, SourceFile, apply_edits, read_limited
from shipstep.progress import NullReporter, Reporter


@dataclass
class SearchResult:
    found: list[Found]
    files_searched: int
    files_parsed: int
    sources: dict[str, SourceFile] = field(default_factory=dict)

    @property
    def changed(self) -> list[Found]:
        return [f for f in self.found if f.edits]

    @property
    def repositories(self) -> list[str]:
        return sorted({f.repository for f in self.found})


def search(
    root: Path,
    spec: ImageSpec,
    globs: Sequence[Glob],
    options: SearchOptions | None = None,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    reporter: Reporter | None = None,
    prefilter: bool = True,
) -> SearchResult:
    reporter = reporter or NullReporter()
    options = options or SearchOptions()
    # The repository path not continued by more name characters (so that
    # `team/app-worker` does not make a file a candidate for `team/app`).
    pattern = re.escape(spec.repository.repository_path) + r"(?![a-z0-9._/-])"
    if options.flux_policies:
        pattern += r"|\$imagepolicy"
    candidate = re.compile(pattern.encode())
    target_files = {t.path for t in options.targets}
    root = root.resolve()
    entries = dict(iter_entries(root, globs))
    for target in target_files:
        entries.setdefault(target, True)  # checked like a symlink
    result = SearchResult([], len(entries), 0)
    seen_real: set[str] = set()
    for relative in sorted(entries):
        real = str(inside(root, relative)) if entries[relative] else f"{root}/{relative}"
        if relative in target_files and not os.path.isfile(real):
            raise ShipstepError(
                f"--target names {relative}, which is not a file in the config repository.",
                hint="Check the path (relative to the repository root) and the branch.",
                file=relative,
            )
        if real in seen_real or (entries[relative] and not os.path.isfile(real)):
            continue
        seen_real.add(real)
        raw = read_limited(relative, real, max_file_bytes)
        if prefilter and relative not in target_files and not candidate.search(raw):
            continue
        source = SourceFile.decode(relative, raw)
        result.files_parsed += 1
        found = _FileSearch(source, spec, options).run()
        if found:
            result.sources[relative] = source
            result.found.extend(found)
    reporter.log(
        f"searched {result.files_searched} files ({result.files_parsed} parsed): "
        f"{len(result.found)} references to {spec.repository.name}, {len(result.changed)} to change"
    )
    return result


def write_edits(root: Path, result: SearchResult) -> list[str]:
    """Apply the edits to the files of the checkout; returns the changed paths."""
    by_file: dict[str, list[Found]] = {}
    for found in result.changed:
        by_file.setdefault(found.path, []).append(found)
    new_texts: dict[str, bytes] = {}
    for path, founds in by_file.items():
        source = result.sources[path]
        edits = [edit for found in founds for edit in found.edits]
        new_texts[path] = source.encode(apply_edits(source, edits))
    # Every file is checked before any is written. A symlink inside the
    # checkout is written through, and the file it points at is what changed.
    real_root = root.resolve()
    written: set[str] = set()
    for path, data in new_texts.items():
        real = inside(root, path)
        real.write_bytes(data)
        written.add(real.relative_to(real_root).as_posix())
    return sorted(written)
