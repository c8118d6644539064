"""Keep TensorFlow's start-up chatter off the terminal.

TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA probing) to file descriptor 2 before its
logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot stop them, and they would bury the CLI's
one-line errors and tables. Verbs that use TensorFlow import it up front with descriptor 2 pointed at
a temporary file; what was captured is replayed if the import fails. ``EDGEPOSE_TF_LOGS=1`` shows it all.
"""

from __future__ import annotations

import os
import sys
import tempfile

# Verbs whose work imports TensorFlow (directly or through Keras); the others start without it.
VERBS = frozenset({"train", "evaluate", "models", "data", "demo", "export", "quantize", "inspect"})


def import_quietly(argv: list[str]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    verb = next((arg for arg in argv if not arg.startswith("-")), None)
    if verb not in VERBS or "tensorflow" in sys.modules or os.environ.get("EDGEPOSE_TF_LOGS") == "1":
        return
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            captured.seek(0)
            sys.stderr.write(captured.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
