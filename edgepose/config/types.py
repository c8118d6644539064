"""Value types shared by the config sections and board definitions.

They accept the spellings users of the STM32 model zoo already write — ``scale: 1/127.5``,
``filter_size: (2, 4)``, ``input_shape: (192, 192, 3)`` — as well as plain YAML numbers and lists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class MustExist:
    """Marks a path field as an input: after resolution against the config's directory it must exist."""


class FolderOrUri:
    """Marks a string field that is a URI (``scheme:...``) or a folder; a folder is resolved like a path."""


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # two letters at least: C:\ is a Windows folder


def is_uri(text: str) -> bool:
    """``http://host:5000``, ``sqlite:///x.db``, ``file:/x``; not ``runs/mlruns`` nor ``C:\\runs``."""
    return bool(_URI.match(text))


def _fraction(value: Any) -> Any:
    if isinstance(value, str) and "/" in value:
        num, _, den = value.partition("/")
        try:
            return float(num) / float(den)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"expected a number or a fraction like 1/255, got {value!r}") from None
    return value


def _tuple_string(value: Any) -> Any:
    """``"(2, 4)"`` → ``[2.0, 4.0]``; other values pass through."""
    if isinstance(value, str) and re.fullmatch(r"\s*[\(\[].*[\)\]]\s*", value):
        items = [v.strip() for v in value.strip()[1:-1].split(",") if v.strip()]
        try:
            return [float(v) if any(c in v for c in ".eE") else int(v) for v in items]
        except ValueError:
            raise ValueError(f"expected numbers in {value!r}") from None
    return value


def _symmetric_range(value: Any) -> Any:
    value = _tuple_string(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [-abs(value), abs(value)]
    return value


def _check_range(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"range must be (low, high) with low <= high, got {value}")
    return value


def _image_size(value: Any) -> Any:
    value = _tuple_string(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return [value, value]
    if isinstance(value, list) and len(value) == 3:  # (height, width, channels): channels come from color_mode
        return value[:2]
    return value


def _hex_int(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            raise ValueError(f"expected an integer such as 0x08000000, got {value!r}") from None
    return value


_SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2}


def _byte_size(value: Any) -> Any:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        unit = match.group(2).upper() if match else None
        if not match or unit not in _SIZE_UNITS:
            raise ValueError(f"expected a size such as 512K or 2M, got {value!r}")
        return int(float(match.group(1)) * _SIZE_UNITS[unit])
    return value


Fraction = Annotated[float, BeforeValidator(_fraction)]
"""A float that may be written as ``1/127.5``."""

Range = Annotated[
    tuple[float, float], BeforeValidator(_symmetric_range), AfterValidator(_check_range), PlainSerializer(list)
]
"""``(low, high)``; a single number ``x`` means ``(-x, x)``."""

IntRange = Annotated[tuple[int, int], BeforeValidator(_tuple_string), PlainSerializer(list)]

ImageSize = Annotated[tuple[int, int], BeforeValidator(_image_size), PlainSerializer(list)]
"""``(height, width)`` in pixels; ``192`` means ``(192, 192)``; ``(192, 192, 3)`` drops the channels."""

HexInt = Annotated[int, BeforeValidator(_hex_int), PlainSerializer(hex)]
"""An integer that may be written in hex (``0x08000000``); written back in hex."""

ByteSize = Annotated[int, BeforeValidator(_byte_size)]
"""A size in bytes that may be written ``512K`` or ``2M`` (binary units)."""

FolderOrUriStr = Annotated[str, FolderOrUri()]
"""A URI such as ``http://host:5000`` kept as written, or a folder resolved like a path."""

InputPath = Annotated[Path, MustExist()]
"""A file or folder that must exist; relative paths are resolved against the config file's folder."""
