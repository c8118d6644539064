"""``edgepose compile``: generated C for a board, the benchmark firmware when the board is an MCU with a
driver in ``targets/firmware``, and a report of the memory figures beside TFLite Micro's."""

from __future__ import annotations

from pathlib import Path

from edgepose.atomic import write_json
from edgepose.boards import find_board
from edgepose.codegen.compiler import generate
from edgepose.codegen.firmware import build_firmware
from edgepose.codegen.tflm_arena import tflm_arena_bytes
from edgepose.errors import BoardError

REPORT = "compile_report.json"


def compile_for_board(model: Path, target: str, out: Path, firmware: bool = True) -> dict:
    model, out = Path(model), Path(out)
    board = find_board(target)
    if not board.is_mcu:
        raise BoardError(f"target '{target}' is a {board.backend} board: compile is for microcontrollers")
    compiled = generate(model, out / "network", check=lambda c: _check_fit(c, board, model))
    tflm = tflm_arena_bytes(model)
    report = {
        "model": model.name,
        "target": board.name,
        "layers": compiled.layers,
        "macs": compiled.macs,
        "arena_bytes": compiled.arena_bytes,
        "weights_bytes": compiled.weights_bytes,
        "tflm_arena_bytes": tflm,
        "ram_vs_tflm": round(compiled.arena_bytes / tflm, 3) if tflm else None,
        "firmware": None,
        "code_bytes": None,
    }
    if firmware:
        build = build_firmware(out / "network", model, board, out / "firmware")
        report["firmware"] = build.to_dict()
        report["code_bytes"] = max(build.text - compiled.weights_bytes, 0)  # text holds code and constants
    write_json(out / REPORT, report)
    return report


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
