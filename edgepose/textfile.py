"""Reading a file the user named, with the one-line error edgepose gives for any bad input."""

from __future__ import annotations

from pathlib import Path


def read_text(path: Path, error: type[Exception]) -> str:
    """The file's UTF-8 text; a missing or unreadable file raises ``error`` (an ``EdgeposeError``
    subclass) naming the path."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read: {exc}") from None
