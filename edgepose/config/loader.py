"""Loading an experiment config: YAML file + ``key=value`` overrides → validated, path-resolved ``Config``.

Rules a user can rely on:
- relative paths written in the YAML file are resolved against the file's folder, so a config works from
  any current directory; paths given as overrides, or left at their defaults, against the current folder;
- an override's value is read as YAML (``training.epochs=3`` is a number, ``targets=[host,qemu-m7]`` a list);
- every problem is one ``ConfigError`` line naming the key and where it was written (``file:line`` or the
  override), which the CLI prints before exiting with code 2.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from edgepose.config.schema import Config
from edgepose.config.types import FolderOrUri, MustExist, is_uri
from edgepose.errors import ConfigError
from edgepose.yamlio import KeyPath, YamlDocument, describe_validation_error, dotted, load_yaml

_KEY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def load_config(path: Path | None = None, overrides: Sequence[str] = (), cwd: Path | None = None) -> Config:
    """Read ``path`` (defaults only when None), apply ``overrides``, validate, resolve paths."""
    cwd = Path(cwd or Path.cwd())
    doc = load_yaml(Path(path)) if path is not None else YamlDocument(data=None)
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (general:, dataset:, ...) at the top level")
    applied: dict[KeyPath, str] = {}
    for text in overrides:
        key_path, value = parse_override(text)
        _set_in(data, key_path, value, text)
        applied[key_path] = text

    def where(loc: KeyPath) -> str:
        for key_path, text in applied.items():
            shorter = min(len(key_path), len(loc))
            if tuple(loc[:shorter]) == key_path[:shorter]:
                return f"override '{text}'"
        return doc.where(loc)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, Config, where)) from None
    file_dir = Path(path).resolve().parent if path is not None else cwd
    _resolve_paths(config, (), file_dir, cwd, set(applied), where)
    return config


def parse_override(text: str) -> tuple[KeyPath, Any]:
    """``'training.epochs=3'`` → ``(('training', 'epochs'), 3)``."""
    key, sep, raw = text.partition("=")
    if not sep or not _KEY.fullmatch(key.strip()):
        raise ConfigError(f"override '{text}': expected KEY=VALUE with a dotted key, e.g. training.epochs=3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw  # not YAML: take it as the plain string the user typed
    return tuple(key.strip().split(".")), value


def _set_in(data: dict, key_path: KeyPath, value: Any, text: str) -> None:
    node = data
    for depth, part in enumerate(key_path[:-1]):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            parent = dotted(key_path[: depth + 1])
            raise ConfigError(f"override '{text}': {parent} is not a section; set it whole, e.g. {parent}=[...]")
        node = child
    node[key_path[-1]] = value


def _resolve_paths(
    model: BaseModel, prefix: KeyPath, file_dir: Path, cwd: Path, overridden: set[KeyPath], where: Any
) -> None:
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        key_path = (*prefix, name)
        written_in_file = name in model.model_fields_set and key_path not in overridden
        base = file_dir if written_in_file else cwd
        if isinstance(value, BaseModel):
            _resolve_paths(value, key_path, file_dir, cwd, overridden, where)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _resolve_paths(item, (*key_path, index), file_dir, cwd, overridden, where)
        elif isinstance(value, str) and _marked(info.annotation, FolderOrUri) and not is_uri(value):
            setattr(model, name, str((base / Path(value).expanduser()).resolve()))
        elif isinstance(value, Path):
            resolved = (base / value.expanduser()).resolve()
            if _marked(info.annotation, MustExist) and not resolved.exists():
                raise ConfigError(f"{where(key_path)}: {dotted(key_path)}: no such file or folder: {resolved}")
            setattr(model, name, resolved)


def _marked(annotation: Any, marker: type) -> bool:
    """Whether ``annotation`` (possibly ``Annotated[...] | None``) carries an instance of ``marker``."""
    if any(isinstance(m, marker) for m in getattr(annotation, "__metadata__", ())):
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_marked(arg, marker) for arg in typing.get_args(annotation))
    return False


def dump_config(config: Config) -> str:
    """The resolved config as YAML, loadable again by ``load_config``."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
