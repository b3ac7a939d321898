"""YAML (and JSON) files as text plus node positions, and byte-exact edits.

Files are parsed with PyYAML's safe composer (libyaml's C one when present):
no object is ever constructed, only nodes whose marks give the character
span of each scalar in the decoded text. An edit replaces exactly that span,
so comments, quoting, indentation, key order, line endings, document
separators and the trailing newline stay as they were; the file is never
re-dumped. Every edited file is parsed again and compared node by node with
the original: anything but the intended scalars changing is refused.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from shipstep.errors import ShipstepError

Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
BOM = "\ufeff"
_RESOLVER = yaml.resolver.Resolver()
_PLAIN_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./:@+-]*")
STR_TAG = "tag:yaml.org,2002:str"


@dataclass
class SourceFile:
    """A file of the config repository: its path (relative, POSIX), original
    bytes and decoded text (without a byte-order mark, which is put back)."""

    path: str
    text: str
    bom: bool = False
    _composed: list[yaml.Node | None] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def read(cls, path: str, real: Path, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> SourceFile:
        return cls.decode(path, read_limited(path, str(real), max_bytes))

    @classmethod
    def decode(cls, path: str, raw: bytes) -> SourceFile:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ShipstepError(
                f"{path} is not UTF-8 text (byte {error.start}); YAML and JSON files must be UTF-8.",
                hint="Re-encode the file as UTF-8 or leave it out with --path.",
                file=path,
            ) from None
        bom = text.startswith(BOM)
        return cls(path, text[1:] if bom else text, bom)

    def encode(self, text: str | None = None) -> bytes:
        return ((BOM if self.bom else "") + (self.text if text is None else text)).encode("utf-8")

    def line_at(self, index: int) -> int:
        """1-based line of a character index."""
        return self.text.count("\n", 0, index) + 1

    def composed(self) -> list[yaml.Node | None]:
        if self._composed is None:
            self._composed = compose(self.path, self.text)
        return self._composed

    def documents(self) -> list[yaml.Node]:
        """The documents of the file as node trees (empty documents left out)."""
        return [doc for doc in self.composed() if doc is not None]


def read_limited(path: str, real: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of a config file, refusing one larger than `max_bytes`."""
    with open(real, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ShipstepError(
            f"{path} is larger than the limit of {max_bytes} bytes for a config file.",
            hint="Narrow --path to the manifests holding the image, or raise --max-file-size.",
            file=path,
        )
    return raw


def compose(path: str, text: str) -> list[yaml.Node | None]:
    try:
        return list(yaml.compose_all(text, Loader=Loader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = error.problem or error.context or "invalid YAML"
        raise ShipstepError(
            f"{path} does not parse as YAML: {problem}.",
            hint="Fix the file in the config repository (or leave it out with --path) and run again.",
            file=path,
            line=line,
            title="YAML parse error",
        ) from None
    except yaml.YAMLError as error:
        raise ShipstepError(
            f"{path} does not parse as YAML: {error}.",
            hint="Fix the file in the config repository (or leave it out with --path) and run again.",
            file=path,
            title="YAML parse error",
        ) from None


def shared_nodes(root: yaml.Node) -> set[int]:
    """Ids of the nodes reachable along more than one path: what aliases
    (`*name`, merge keys) point at. Editing them would change every place
    that uses them."""
    seen: set[int] = set()
    shared: set[int] = set()
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            shared.add(id(node))
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return shared


def mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def scalar_text(node: yaml.Node | None) -> str | None:
    if isinstance(node, yaml.ScalarNode) and node.tag == STR_TAG:
        return str(node.value)
    return None


@dataclass(frozen=True)
class Edit:
    """Replace the scalar at [start, end) (its old value `old`) with `new`."""

    start: int
    end: int
    style: str | None
    old: str
    new: str
    line: int


def render(source: SourceFile, node: yaml.ScalarNode, new: str) -> str:
    """The source text for `new` written in the style of `node`."""
    span = source.text[node.start_mark.index : node.end_mark.index]
    line = node.start_mark.line + 1
    if span[:1] in ("&", "!"):
        raise ShipstepError(
            f"{source.path}:{line}: the image value carries an anchor or tag ({span.split()[0]}); "
            "shipstep does not edit anchored values.",
            hint="Write the image reference as a plain value without '&anchor' or '!tag'.",
            file=source.path,
            line=line,
            title="Anchored value",
        )
    style = node.style
    if style in ("|", ">"):
        raise ShipstepError(
            f"{source.path}:{line}: the image value is a block scalar ({style}); shipstep edits only single-line values.",
            hint="Write the image reference on one line.",
            file=source.path,
            line=line,
        )
    if style == "'":
        return "'" + new.replace("'", "''") + "'"
    if style == '"':
        return json.dumps(new)
    resolved = _RESOLVER.resolve(yaml.ScalarNode, new, (True, False))  # type: ignore[no-untyped-call]
    if _PLAIN_SAFE.fullmatch(new) and resolved == STR_TAG:
        return new
    # A plain value that would read back as a number or boolean (a tag like
    # 1.10) is quoted so that it stays a string.
    return json.dumps(new)


def make_edit(source: SourceFile, node: yaml.ScalarNode, new: str) -> Edit:
    return Edit(
        node.start_mark.index,
        node.end_mark.index,
        node.style,
        str(node.value),
        render(source, node, new),
        node.start_mark.line + 1,
    )


def apply_edits(source: SourceFile, edits: Sequence[Edit]) -> str:
    """The new text: each span replaced, everything else untouched; then
    checked by parsing it again."""
    ordered = sorted(edits, key=lambda e: e.start)
    for first, second in itertools.pairwise(ordered):
        if second.start < first.end:
            raise ShipstepError(f"{source.path}: two edits overlap at line {second.line}.")
    pieces: list[str] = []
    cursor = 0
    for edit in ordered:
        pieces.append(source.text[cursor : edit.start])
        pieces.append(edit.new)
        cursor = edit.end
    pieces.append(source.text[cursor:])
    new_text = "".join(pieces)
    _check(source, new_text, ordered)
    return new_text


def _check(source: SourceFile, new_text: str, edits: Sequence[Edit]) -> None:
    """Fail closed unless the edited text has the same node tree with only
    the edited scalars' values changed as intended."""
    old_docs = source.composed()
    try:
        new_docs = list(yaml.compose_all(new_text, Loader=Loader))
    except yaml.YAMLError as error:
        raise ShipstepError(
            f"{source.path}: the edited file would no longer parse ({error}); nothing was changed.",
            hint="Report this as a shipstep bug with the file's content.",
            file=source.path,
        ) from None
    expected = {e.start: yaml.load(e.new, Loader=Loader) for e in edits}  # noqa: S506 (a safe loader)
    delta = 0
    starts = sorted(expected)
    shifts = {s: 0 for s in starts}
    for edit in edits:
        shifts[edit.start] = delta
        delta += len(edit.new) - (edit.end - edit.start)
    by_new_start = {s + shifts[s]: expected[s] for s in starts}
    if len(old_docs) != len(new_docs):
        raise _changed(source)
    for old, new in zip(old_docs, new_docs, strict=True):
        for a, b in _pairs(old, new):
            if a is None or b is None:
                if a is not b:
                    raise _changed(source)
                continue
            edited = isinstance(b, yaml.ScalarNode) and b.start_mark.index in by_new_start
            if type(a) is not type(b) or (a.tag != b.tag and not edited):
                raise _changed(source)
            if isinstance(a, yaml.ScalarNode):
                if b.start_mark.index in by_new_start:
                    if b.value != str(by_new_start.pop(b.start_mark.index)):
                        raise _changed(source)
                elif a.value != b.value:
                    raise _changed(source)
            elif len(a.value) != len(b.value):
                raise _changed(source)
    if by_new_start:
        raise _changed(source)


def _pairs(
    a: yaml.Node | None, b: yaml.Node | None
) -> Iterator[tuple[yaml.Node | None, yaml.Node | None]]:
    stack = [(a, b)]
    seen: set[int] = set()
    while stack:
        x, y = stack.pop()
        yield x, y
        if x is None or y is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, yaml.MappingNode) and isinstance(y, yaml.MappingNode):
            for (k1, v1), (k2, v2) in zip(x.value, y.value, strict=False):
                stack.append((k1, k2))
                stack.append((v1, v2))
        elif isinstance(x, yaml.SequenceNode) and isinstance(y, yaml.SequenceNode):
            stack.extend(zip(x.value, y.value, strict=False))


def _changed(source: SourceFile) -> ShipstepError:
    return ShipstepError(
        f"{source.path}: the edit would change more than the image values; nothing was changed.",
        hint="Report this as a shipstep bug with the file's content.",
        file=source.path,
    )
