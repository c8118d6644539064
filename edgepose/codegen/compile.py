"""``edgepose compile``: generated C for a board, the benchmark firmware when the board is an MCU with a
driver in ``targets/firmware``, and a report of the memory figures beside TFLite Micro's."""

from __future__ import annotations

from pathlib import Path

from edgepose.atomic import write_json
from edgepose.boards import find_board
from edgepose.codegen.compiler import generate
from edgepose.codegen.firmware import build_firmware
from edgepose.codegen.tflm_arena import tflm_arena_bytes
from edgepose.errors import BoardError, ModelError

REPORT = "compile_report.json"


def compile_for_board(
    model: Path, target: str, out: Path, firmware: bool = True, progress=None, kernels: str | None = None
) -> dict:
    """Generated C (and the firmware) for ``model`` on ``target``; ``progress(step)`` hears each step.
    ``kernels``: the kernel variant (None or auto: the fastest the board's core runs)."""
    model, out = Path(model), Path(out)
    step = progress or (lambda message: None)
    board = find_board(target)
    if not board.is_mcu:
        raise BoardError(f"target '{target}' is a {board.backend} board: compile is for microcontrollers")
    _check_quantized(model)
    variant = board.kernels(kernels)
    step(f"generating C for {model.name} ({variant} kernels)")
    compiled = generate(model, out / "network", check=lambda c: _check_fit(c, board, model), kernels=variant)
    step("measuring TFLite Micro's arena for the same model")
    tflm = tflm_arena_bytes(model)
    report = {
        "model": model.name,
        "target": board.name,
        "layers": compiled.layers,
        "kernels": variant,
        "macs": compiled.macs,
        "arena_bytes": compiled.arena_bytes,
        "weights_bytes": compiled.weights_bytes,
        "tflm_arena_bytes": tflm,
        "ram_vs_tflm": round(compiled.arena_bytes / tflm, 3) if tflm else None,
        "firmware": None,
        "code_bytes": None,
    }
    if firmware:
        step(f"linking the benchmark firmware for {board.name}")
        build = build_firmware(out / "network", model, board, out / "firmware")
        report["firmware"] = build.to_dict()
        report["code_bytes"] = max(build.text - compiled.weights_bytes, 0)  # text holds code and constants
    write_json(out / REPORT, report)
    return report


def _check_quantized(model: Path) -> None:
    """Only an integer .tflite compiles: anything else is one line saying how to get one."""
    from edgepose.bench.artifact import numeric_kind
    from edgepose.convert.modelfile import model_kind

    kind = model_kind(model)
    how = f"quantize it first: `edgepose quantize {model.name} --calib SET`, then compile the *_int8.tflite"
    if kind != "tflite":
        raise ModelError(f"{model}: a {kind or 'non-TFLite'} file; compile takes an int8 .tflite, so {how}")
    numeric = numeric_kind(model)
    if numeric not in ("int8", "int16x8"):
        raise ModelError(f"{model}: a {numeric} .tflite; compile takes an int8 model, so {how}")


def _check_fit(compiled, board, model: Path) -> None:
    ram, flash = board.total("ram"), board.total("flash")
    largest_ram = max((int(r.size) for r in board.memory if r.kind == "ram"), default=0)
    if compiled.arena_bytes + compiled.input_bytes > largest_ram:
        raise BoardError(
            f"{model.name} does not fit {board.name}: it needs {compiled.arena_bytes + compiled.input_bytes:,} B "
            f"of RAM (arena {compiled.arena_bytes:,} + input {compiled.input_bytes:,}) and the largest RAM region "
            f"has {largest_ram:,} B (total RAM {ram:,} B); use a smaller input size or model, or a bigger board"
        )
    if compiled.weights_bytes > flash:
        raise BoardError(
            f"{model.name} does not fit {board.name}: {compiled.weights_bytes:,} B of weights for {flash:,} B of "
            "flash; use a smaller model or a bigger board"
        )
