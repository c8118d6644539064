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
    # auto: the fastest variant that fits; the fast ones keep wider weights in flash, so a model that fits with
    # the portable kernels may not with them. A variant the user names is used or refused, never swapped.
    chosen = kernels not in (None, "auto")
    variants = [board.kernels(kernels)] if chosen else list(reversed(board.kernel_variants))
    too_big = {}
    for i, variant in enumerate(variants):
        try:
            report, build = _compile_variant(model, board, out, firmware, step, variant)
            break
        except BoardError as exc:
            if i + 1 == len(variants):
                raise
            too_big[variant] = str(exc)
            step(f"{variant} kernels do not fit {board.name}; trying {variants[i + 1]}")
    report["kernels_not_fitting"] = too_big  # the faster variants passed over, and why
    step("measuring TFLite Micro's arena for the same model")
    tflm = tflm_arena_bytes(model)
    report["tflm_arena_bytes"] = tflm
    report["ram_vs_tflm"] = round(report["arena_bytes"] / tflm, 3) if tflm else None
    if build is not None:
        report["firmware"] = build.to_dict()
        report["code_bytes"] = max(build.text - report["weights_bytes"], 0)  # text holds code and constants
    write_json(out / REPORT, report)
    return report


def _compile_variant(model: Path, board, out: Path, firmware: bool, step, variant: str):
    """The generated C with one kernel variant, and the firmware linked; raises BoardError when it does not fit."""
    step(f"generating C for {model.name} ({variant} kernels)")
    compiled = generate(model, out / "network", check=lambda c: _check_fit(c, board, model), kernels=variant)
    report = {
        "model": model.name,
        "target": board.name,
        "layers": compiled.layers,
        "kernels": variant,
        "macs": compiled.macs,
        "arena_bytes": compiled.arena_bytes,
        "weights_bytes": compiled.weights_bytes,
        "tflm_arena_bytes": None,
        "ram_vs_tflm": None,
        "firmware": None,
        "code_bytes": None,
    }
    if not firmware:
        return report, None
    step(f"linking the benchmark firmware for {board.name}")
    return report, build_firmware(out / "network", model, board, out / "firmware")


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
