"""The arena TFLite Micro needs for a model, read from its own allocation printout
(``RecordingMicroAllocator``), for the side-by-side memory comparison in the compile report."""

from __future__ import annotations

import ctypes
import os
import re
import tempfile
from pathlib import Path

TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def tflm_arena_bytes(model: Path) -> int | None:
    from edgepose.runtime.tflm_runner import micro_interpreter

    interpreter = micro_interpreter(Path(model).read_bytes())
    with tempfile.TemporaryFile(mode="w+b") as capture:
        saved = os.dup(2)  # the printout goes to the C++ stderr: catch it at the file descriptor
        try:
            os.dup2(capture.fileno(), 2)
            interpreter.print_allocations()
            ctypes.CDLL(None).fflush(None)  # in case C stdio buffers the printout
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        match = TOTAL.search(capture.read().decode(errors="replace"))
    return int(match.group(1)) if match else None
