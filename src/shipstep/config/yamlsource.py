"""Safe YAML parsing that remembers where every key and value is.

The configuration is parsed with PyYAML's safe loader, node by node, so that
a schema error can point at the line of the offending key or value. Anchors
and aliases are refused (they are never needed in shipstep.yaml and can make
a small file expand enormously), as are duplicate keys and non-string keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from shipstep.errors import InputError

# shipstep.yaml is a few dozen lines; anything this large is not one.
MAX_BYTES = 1024 * 1024

Path_ = tuple[str | int, ...]


@dataclass
class Document:
    """Parsed data and the 1-based line of every key and value, by path."""

    data: Any
    file: str
    key_lines: dict[Path_, int] = field(default_factory=dict)
    value_lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_, *, key: bool = False) -> int | None:
        """The line of the value at `path` (or of its key), else of the
        nearest enclosing value that has one."""
        lines = self.key_lines if key else self.value_lines
        probe = tuple(path)
        while probe:
            if probe in lines:
                return lines[probe]
            probe = probe[:-1]
        return self.value_lines.get((), 1)


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _Refused("aliases (*name) are not allowed", event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _Refused(f"anchors (&{anchor}) are not allowed", event.start_mark)
        return super().compose_node(parent, index)


class _Refused(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.line: int | None = mark.line + 1 if mark is not None else None


def parse(text: str, file: str) -> Document:
    """Parse one YAML document; InputError with file:line when it is not valid YAML."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise InputError(
            f"the file is larger than {MAX_BYTES // 1024} KiB; this is not a shipstep.yaml",
            file=file,
            hint="Point --config at the shipstep.yaml of your project.",
        )
    loader = _NoAliasLoader(text)
    try:
        root = loader.get_single_node()
        document = Document(data={}, file=file)
        if root is not None:
            document.data = _construct(loader, root, (), document)
        return document
    except _Refused as refused:
        raise InputError(
            refused.message,
            file=file,
            line=refused.line,
            hint="Write the values out in full.",
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise InputError(
            f"not valid YAML: {error.problem or error.context}",
            file=file,
            line=mark.line + 1 if mark else None,
            hint="Fix the YAML syntax at that line (indentation, a missing ':' or quote).",
        ) from None
    except yaml.YAMLError as error:
        raise InputError(f"not valid YAML: {error}", file=file) from None
    finally:
        loader.dispose()


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _construct(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, document: Document) -> Any:
    document.value_lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        raise InputError(
            f"the tag {node.tag} is not allowed",
            file=document.file,
            line=node.start_mark.line + 1,
            hint="Remove the tag: shipstep.yaml holds plain mappings, lists and scalars.",
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise InputError(
                    "merge keys (<<) are not allowed",
                    file=document.file,
                    line=line,
                    hint="Write the values out in full.",
                )
            if not isinstance(key, str):
                raise InputError(
                    f"keys must be strings, found {_yaml_type(key)} {key!r}",
                    file=document.file,
                    line=line,
                    hint="Quote the key or fix the indentation.",
                )
            if key in result:
                raise InputError(
                    f"key '{key}' appears twice in the same mapping",
                    file=document.file,
                    line=line,
                    hint="Remove one of them.",
                )
            document.key_lines[(*path, key)] = line
            result[key] = _construct(loader, value_node, (*path, key), document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _construct(loader, item, (*path, index), document)
            for index, item in enumerate(node.value)
        ]
    return loader.construct_object(node, deep=True)


def _yaml_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return f"a {type(value).__name__}"
