"""Reading one YAML configuration file: safely, with the line of every key.

The safe loader only (no tags that build objects), aliases bounded before anything walks
the document (`MAX_YAML_VALUES`), and a line index so that a problem found later, in
validation, points at ``file:line``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigProblem

# LibYAML parses the same documents about ten times faster than PyYAML's pure-Python parser.
_Loader = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader

LineIndex = dict[tuple[str | int, ...], int]


def read_yaml(
    path: Path, problems: list[ConfigProblem], text: str | None = None
) -> tuple[Any, LineIndex]:
    """Parse a YAML file (or ``text`` as its content), keeping the line of every key so
    errors can point at it."""
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.append(ConfigProblem(str(path), "", "file not found; create it or fix the path"))
        return None, {}
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(ConfigProblem(str(path), "", f"cannot read the file: {exc}"))
        return None, {}
    try:
        loader = _Loader(text)  # parsed once: the nodes give the lines, then the data
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_expansion(node)
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except _AliasProblem as exc:
        problems.append(ConfigProblem(f"{path}:{exc.line}", "", exc.reason))
        return None, {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        reason = getattr(exc, "problem", None) or str(exc)
        problems.append(ConfigProblem(where, "", f"invalid YAML: {reason}"))
        return None, {}
    lines: LineIndex = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


MAX_YAML_VALUES = 100_000
"""How many values a config file may hold once its aliases are written out.

The shipped files hold a few thousand. Topic files travel between colleagues, and nine
levels of ``&a [*a, *a, …]`` — a few hundred bytes — stand for 387 million values, which
every walk over the document (line index, validation) would visit."""


class _AliasProblem(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, limit: int = MAX_YAML_VALUES) -> None:
    """Refuse a document whose aliases expand beyond ``limit`` values or refer to
    themselves, counting each shared node once (so the check is linear in the file)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the path from the root: an alias to one is a loop
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            open_nodes.discard(id(node))
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > limit:
                raise _AliasProblem(
                    node.start_mark.line + 1,
                    f"aliases expand this value to more than {limit:,} values (an alias "
                    "bomb?); write the values out, or refer to them fewer times",
                )
            sizes[id(node)] = size
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise _AliasProblem(
                    child.start_mark.line + 1,
                    "this alias refers to itself (a value that contains its own anchor); "
                    "a configuration value must be finite",
                )
            if id(child) not in sizes:
                stack.append((child, False))


def _index_lines(node: yaml.Node, path: tuple[str | int, ...], out: LineIndex) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, (*path, index), out)


def where(path: Path, lines: LineIndex, key: tuple[str | int, ...]) -> str:
    """``file:line`` for the deepest part of ``key`` that the file has."""
    for depth in range(len(key), -1, -1):
        line = lines.get(tuple(key[:depth]))
        if line is not None and depth > 0:
            return f"{path}:{line}"
    return str(path)
