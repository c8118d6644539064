"""Where the libraries' log lines go: to a log file, never to the terminal.

TensorFlow, absl, oneDNN, the CUDA probe, XNNPACK, the TFLite converter and ONNX Runtime write their
lines from C++ straight to file descriptors 1 and 2, some before any logging is set up, so no setting
(``TF_CPP_MIN_LOG_LEVEL`` included) silences them all; TensorFlow's Python side adds warnings and
logging records. ``divert`` points descriptors 1 and 2 at a log file for the whole process — child
processes (the agent, the compiler) inherit them — and gives Python's ``sys.stdout``/``sys.stderr``
the terminal back, so edgepose's own tables, progress bars and one-line errors are all a person sees.
Python warnings and logging records go to the log as well.

Before a run directory exists (and for verbs without one) the log is ``$EDGEPOSE_CACHE/logs/<verb>.log``;
``attach`` moves it into the run, as ``<run>/edgepose.log``. ``edgepose --verbose`` diverts nothing.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from pathlib import Path

LOG_NAME = "edgepose.log"
_current: Path | None = None


def divert(verb: str) -> Path:
    """Send descriptors 1 and 2, Python warnings and logging to ``$EDGEPOSE_CACHE/logs/<verb>.log``."""
    global _current
    from edgepose.data.sources import cache_dir

    folder = cache_dir() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{verb}.log"
    sys.stdout.flush()
    sys.stderr.flush()
    terminal_out, terminal_err = os.dup(1), os.dup(2)
    _point_descriptors_at(path, "w")
    sys.stdout = os.fdopen(terminal_out, "w", buffering=1, encoding="utf-8", errors="replace")
    sys.stderr = os.fdopen(terminal_err, "w", buffering=1, encoding="utf-8", errors="replace")
    stream = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    logging.basicConfig(stream=stream, level=logging.INFO, force=True)
    warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: stream.write(
        warnings.formatwarning(message, category, filename, lineno, line)
    )
    _current = path
    return path


def attach(run_dir: Path) -> Path | None:
    """Continue the log in ``run_dir/edgepose.log``, with what was written before the run began."""
    global _current
    if _current is None:
        return None
    target = Path(run_dir) / LOG_NAME
    if target != _current:
        sys.stdout.flush()
        sys.stderr.flush()
        shutil.copyfile(_current, target) if not target.exists() else _append(_current, target)
        _point_descriptors_at(target, "a")
        _current = target
    return target


def current() -> Path | None:
    """The log file now written, or None when nothing is diverted."""
    return _current


def _point_descriptors_at(path: Path, mode: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    fd = os.open(path, flags, 0o666)  # the process umask applies, as to every file edgepose writes
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _append(source: Path, target: Path) -> None:
    with open(source, "rb") as before, open(target, "ab") as after:
        shutil.copyfileobj(before, after)
