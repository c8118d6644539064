"""How each kind of target is reached: one module per kind, found here by the board's ``backend``.

A kind's module has ``connect(board, request) -> Connection``: it deploys, compiles or boots what it
must and opens the link to the agent or firmware. ``edgepose benchmark`` and ``edgepose pipeline`` both
call ``connect``, so adding a kind of target is one module and one line in ``KINDS``. Phones are the
exception (``MEASURED_BY_TOOL``): their module ``android`` runs TensorFlow Lite's ``benchmark_model`` over
adb and returns the report itself (``android.benchmark``), since no agent of ours runs there. A board given a
serial ``port`` is reached over it whatever its kind: an agent on a Linux board's UART, a firmware
already flashed onto an STM32 or into a QEMU board.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from edgepose.bench.harness import Target
from edgepose.bench.links import Link
from edgepose.boards import Board
from edgepose.errors import BoardError, ModelError

KINDS = {  # board backend -> the module that reaches it
    "host": "edgepose.backends.host",
    "rpi": "edgepose.backends.rpi",
    "qemu": "edgepose.backends.qemu",
    "stm32": "edgepose.backends.stm32",
}
MEASURED_BY_TOOL = {"android": "edgepose.backends.android"}  # backend -> module whose benchmark() reports
AGENT_RUNTIMES = ("litert", "onnxruntime")  # what the board agent runs
REFERENCE_RUNTIME = "tflite-micro"  # what generated MCU code is checked against


@dataclass
class Request:
    """What the user asked for, from the CLI's flags or a pipeline's targets entry."""

    model: Path
    runtime: str | None = None  # None: by the model file (agent), tflite-micro (MCU reference)
    threads: int = 1
    baud: int = 921600
    port: str | None = None
    ssh: str | None = None
    ssh_config: Path | None = None
    build_dir: Path | None = None  # where an emulated board's firmware is built; None: a temporary folder
    deploy: bool = False  # copy the model to a Linux board before starting its agent
    kernels: str | None = None  # generated C for an emulated board: portable, dsp; None: the core's fastest
    max_recompute: float | None = None  # generated C: patch-based execution's budget; None: the default
    split_arena: bool = True  # generated C: the most-used activations in the board's fastest RAM


@dataclass
class Connection:
    link: Link
    target: Target


def connect(board: Board, request: Request) -> Connection:
    """Open the link to ``board`` for ``request.model``."""
    check_runtime(board, request)
    if request.port is not None:
        return _serial(board, request)
    if board.backend in MEASURED_BY_TOOL:
        raise BoardError(
            f"target '{board.name}' is a phone, measured by benchmark_model over adb (`edgepose benchmark --target "
            f"{board.name}`), not through a link"
        )
    if board.backend not in KINDS:
        raise BoardError(f"target '{board.name}' ({board.backend}) cannot be benchmarked by this edgepose version")
    return importlib.import_module(KINDS[board.backend]).connect(board, request)


def check_runtime(board: Board, request: Request) -> None:
    """A runtime the target can run for this file, or one line saying what to do instead."""
    runtime, model = request.runtime, Path(request.model)
    if runtime is None:
        return
    allowed = (REFERENCE_RUNTIME, *AGENT_RUNTIMES) if board.is_mcu else AGENT_RUNTIMES
    if runtime not in allowed:
        raise BoardError(f"--runtime '{runtime}': {board.name} runs {' or '.join(allowed)}")
    suffix = model.suffix.lower()
    if runtime == "onnxruntime" and suffix == ".tflite":
        raise ModelError(
            f"{model}: ONNX Runtime runs .onnx files; make one with `edgepose export {model.name} --format onnx` "
            "(float models) or `edgepose quantize MODEL --backend onnx` (int8), or leave --runtime to the file"
        )
    if runtime in ("litert", REFERENCE_RUNTIME) and suffix == ".onnx":
        raise ModelError(f"{model}: {runtime} runs .tflite files; benchmark an .onnx with --runtime onnxruntime")


def _serial(board: Board, request: Request) -> Connection:
    from edgepose.bench.links import open_serial

    reference = (request.runtime or REFERENCE_RUNTIME) if board.is_mcu else request.runtime
    target = Target(board.name, board.backend, board.description, reference_runtime=reference)
    return Connection(open_serial(request.port, request.baud), target)
