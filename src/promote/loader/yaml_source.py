"""Reading YAML with positions: fast parsing for the happy path, node marks on demand.

Parsing uses libyaml (CSafeLoader) when present. Positions are only needed to report a
diagnostic, so a file is composed into nodes again only when something in it is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from promote.diagnostics import Diagnostic, Severity, YamlPath

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CODE_SYNTAX = "L001"
CODE_DUPLICATE_KEY = "L003"
CODE_NOT_A_MAPPING = "L004"


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Builder:
    """Turns libyaml's composed nodes into Python data.

    PyYAML's own constructor spends most of its time on generic bookkeeping. Strings, which
    are most scalars in an estate, are taken straight from the node; every other tag (ints,
    timestamps, merge keys) goes through PyYAML's SafeConstructor, so the semantics are
    PyYAML's. Keys written twice in one mapping are refused: YAML would keep the last.
    """

    # Scalar constructors (int, float, bool, null, timestamp) keep no state between calls,
    # so one SafeConstructor serves every file; only collections need a fresh one.
    _scalars = yaml.SafeLoader("")

    def __init__(self) -> None:
        self._active: set[int] = set()

    def build(self, node: yaml.Node) -> Any:
        if node.__class__ is yaml.ScalarNode:
            if node.tag == _STR:
                return node.value
            construct = self._scalars.yaml_constructors.get(node.tag)
            return construct(self._scalars, node) if construct else self._construct(node)
        if id(node) in self._active:
            raise yaml.MarkedYAMLError(
                problem="an alias refers to a node that contains it", problem_mark=node.start_mark
            )
        self._active.add(id(node))
        try:
            if node.__class__ is yaml.MappingNode:
                return self._mapping(node)
            if node.__class__ is yaml.SequenceNode:
                return [self.build(child) for child in node.value]
            return self._construct(node)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode) -> Any:
        if any(key.tag == _MERGE for key, _ in node.value):
            return self._construct(node)  # `<<` merge keys: PyYAML knows how
        out: dict[Any, Any] = {}
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = self.build(key_node)
            if key in first_line:
                raise _DuplicateKey(
                    problem=f"duplicate key `{key}` (first written at line {first_line[key]})",
                    problem_mark=key_node.start_mark,
                )
            first_line[key] = key_node.start_mark.line + 1
            out[key] = self.build(value_node)
        return out

    @staticmethod
    def _construct(node: yaml.Node) -> Any:
        # Merge keys and unusual tags: PyYAML's own constructor, fresh for this node.
        return yaml.SafeLoader("").construct_object(node, deep=True)


def parse_yaml(text: str) -> Any:
    """Parse one YAML document (libyaml when present); raises yaml.YAMLError."""
    loader = _BaseLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    return None if node is None else _Builder().build(node)


@dataclass
class SourceFile:
    """One YAML file: its display name, its text, and (after parsing) its data."""

    name: str
    text: str
    data: Any = None
    _root: yaml.Node | None = field(default=None, repr=False)

    def parse(self) -> Diagnostic | None:
        try:
            self.data = parse_yaml(self.text)
        except _DuplicateKey as exc:
            return self._syntax(CODE_DUPLICATE_KEY, str(exc.problem), exc.problem_mark)
        except yaml.MarkedYAMLError as exc:
            problem = exc.problem or exc.context or "invalid YAML"
            return self._syntax(CODE_SYNTAX, f"invalid YAML: {problem}", exc.problem_mark)
        except yaml.YAMLError as exc:
            return Diagnostic(CODE_SYNTAX, Severity.ERROR, f"invalid YAML: {exc}", self.name)
        if not isinstance(self.data, dict):
            found = "an empty file" if self.data is None else type(self.data).__name__
            return Diagnostic(
                CODE_NOT_A_MAPPING,
                Severity.ERROR,
                f"expected a mapping of keys, found {found}",
                self.name,
                line=1,
                column=1,
            )
        return None

    def _syntax(self, code: str, message: str, mark: yaml.Mark | None) -> Diagnostic:
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return Diagnostic(code, Severity.ERROR, message, self.name, line=line, column=column)

    def position(self, path: YamlPath, at_key: bool = False) -> tuple[int, int]:
        """1-based line and column of the node at ``path`` (the deepest one that exists)."""
        node = self._node_root()
        if node is None:
            return 1, 1
        mark = node.start_mark
        for index, part in enumerate(path):
            last = index == len(path) - 1
            child = _child(node, part, want_key=last and at_key)
            if child is None:
                break
            node = child
            mark = node.start_mark
        return mark.line + 1, mark.column + 1

    def _node_root(self) -> yaml.Node | None:
        if self._root is None:
            try:
                self._root = yaml.compose(self.text, Loader=_BaseLoader)
            except yaml.YAMLError:
                return None
        return self._root


def _child(node: yaml.Node, part: str | int, want_key: bool) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                return key_node if want_key else value_node
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None
