"""YAML files that remember where each key was written, and one-line validation errors that point there.

Configs and board definitions are both YAML validated by pydantic. When validation fails, the user wants
``config.yaml:14: training.epochs: ...`` rather than a pydantic traceback, so loading keeps a map from
each key path to its line, and ``describe_validation_error`` turns a ``ValidationError`` into one line.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edgepose.errors import ConfigError
from edgepose.textfile import read_text

KeyPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """Parsed YAML data plus the 1-based line of every mapping key and list item, by key path."""

    data: Any
    path: Path | None = None
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, key_path: KeyPath) -> str:
        """``file:line`` for the nearest written ancestor of ``key_path`` (``file`` alone if none)."""
        name = str(self.path) if self.path else "<string>"
        for end in range(len(key_path), 0, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return f"{name}:{line}"
        return name


def load_yaml(path: Path, error: type[Exception] = ConfigError) -> YamlDocument:
    """Read and parse ``path``; any problem (missing, unreadable, bad syntax, duplicate key) raises ``error``."""
    return parse_yaml(read_text(path, error), path, error)


def parse_yaml(text: str, path: Path | None = None, error: type[Exception] = ConfigError) -> YamlDocument:
    name = str(path) if path else "<string>"
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{where}: YAML syntax error: {problem}") from None
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines, name, error)
    return YamlDocument(data=data, path=path, lines=lines)


def _record_lines(node: yaml.Node, prefix: KeyPath, lines: dict, name: str, error: type[Exception]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                dotted = ".".join(str(p) for p in (*prefix, key))
                raise error(f"{name}:{key_node.start_mark.line + 1}: {dotted}: duplicate key")
            seen.add(key)
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            _record_lines(value_node, (*prefix, key), lines, name, error)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*prefix, index)] = item.start_mark.line + 1
            _record_lines(item, (*prefix, index), lines, name, error)


def dotted(key_path: KeyPath) -> str:
    """``('training', 'optimizer', 0)`` → ``training.optimizer[0]``."""
    out = ""
    for part in key_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def describe_validation_error(exc: ValidationError, root: type[BaseModel], where: Callable[[KeyPath], str]) -> str:
    """One line for a pydantic error: ``<where>: <key>: <what is wrong>``, plus a count of further errors.

    ``where(loc)`` says where the offending key was written (``file:line``, or the override that set it).
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = _clean_loc(first["loc"])
    key = f"{dotted(loc)}: " if loc else ""
    line = f"{where(loc)}: {key}{_explain(first, root, loc)}"
    if len(errors) > 1:
        others = ", ".join(dotted(_clean_loc(e["loc"])) for e in errors[1:4])
        more = "" if len(errors) <= 4 else ", ..."
        line += f" (and {len(errors) - 1} more: {others}{more})"
    return line


def _clean_loc(loc: tuple) -> KeyPath:
    # pydantic adds the names of union members and function validators to locations; users never wrote those.
    return tuple(p for p in loc if isinstance(p, int) or not (p.startswith("function-") or "[" in p))


def _explain(error: dict, root: type[BaseModel], loc: KeyPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        known = known_keys(root, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
        return f"unknown key{suggestion} (known keys: {', '.join(known)})"
    if kind == "missing":
        return "required key is missing"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message[:1].lower() + message[1:]
    if kind.startswith("value_error") or kind == "assertion_error":
        return message
    shown = repr(error.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{message}, got {shown}"


def known_keys(root: type[BaseModel], key_path: KeyPath) -> list[str]:
    """The field names of the model found at ``key_path`` below ``root`` (empty if it is not a model)."""
    model: type[BaseModel] | None = root
    for part in key_path:
        if model is None or isinstance(part, int):
            continue
        info = model.model_fields.get(part)
        model = _model_in(info.annotation) if info else None
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
