"""``edgepose compile``: generated C for a board, the benchmark firmware when the board is an MCU with a
driver in ``targets/firmware``, and a report of the memory figures beside TFLite Micro's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgepose.atomic import write_json
from edgepose.boards import find_board
from edgepose.codegen.compiler import generate
from edgepose.codegen.firmware import STACK_BYTES, build_firmware
from edgepose.codegen.tflm_arena import tflm_arena_bytes
from edgepose.codegen.tiling import DEFAULT_MAX_RECOMPUTE
from edgepose.errors import BoardError, ModelError

REPORT = "compile_report.json"


def compile_for_board(
    model: Path,
    target: str,
    out: Path,
    firmware: bool = True,
    progress=None,
    kernels: str | None = None,
    max_recompute: float = DEFAULT_MAX_RECOMPUTE,
    split_arena: bool = True,
) -> dict:
    """Generated C (and the firmware) for ``model`` on ``target``; ``progress(step)`` hears each step.
    ``kernels``: the kernel variant (None or auto: the fastest the board's core runs); ``max_recompute``: the
    extra MACs patch-based execution may cost (0: layer by layer); ``split_arena``: where the board has a RAM
    faster than the rest and the arena does not fit in it, its most-used activations go there."""
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
            report, build = _compile_variant(model, board, out, firmware, step, variant, max_recompute, split_arena)
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
    report["clock"] = clock_summary(board)
    if build is not None:
        report["firmware"] = build.to_dict()
        report["code_bytes"] = max(build.text - report["weights_bytes"], 0)  # text holds code and constants
        report["placement"] = build.placement
        report["regions"] = build.regions
    write_json(out / REPORT, report)
    return report


def _compile_variant(
    model: Path, board, out: Path, firmware: bool, step, variant: str, max_recompute: float, split_arena: bool
):
    """The generated C with one kernel variant, and the firmware linked; raises BoardError when it does not fit."""
    step(f"generating C for {model.name} ({variant} kernels)")
    fits = lambda c: _check_fit(c, board, model)  # noqa: E731
    fast = _fast_ram(model, board) if split_arena else None
    compiled = generate(
        model,
        out / "network",
        check=fits,
        kernels=variant,
        max_recompute=max_recompute,
        fast_ram=fast[1:] if fast else None,
    )
    report = {
        "model": model.name,
        "target": board.name,
        "layers": compiled.layers,
        "kernels": variant,
        "macs": compiled.macs,
        "arena_bytes": compiled.arena_bytes,
        "fast_arena_bytes": compiled.fast_arena_bytes,
        "fast_ram": fast[0] if fast else None,
        "weights_bytes": compiled.weights_bytes,
        "max_recompute": max_recompute,
        "split_arena": split_arena,
        "tiling": compiled.tiling,
        "tflm_arena_bytes": None,
        "ram_vs_tflm": None,
        "firmware": None,
        "code_bytes": None,
    }
    if not firmware:
        return report, None
    step(f"linking the benchmark firmware for {board.name}")
    return report, build_firmware(out / "network", model, board, out / "firmware")


def _fast_ram(model: Path, board) -> tuple[str, int, int] | None:
    """The board's fastest RAM and its room for activations (see firmware.fast_ram), sized from the model."""
    from edgepose.codegen.firmware import fast_ram
    from edgepose.codegen.graph import read_graph

    return fast_ram(board, len(read_graph(model).operators))


def clock_summary(board) -> dict:
    """The clock the firmware sets up on ``board`` (the firmware's INFO says what it actually got)."""
    from edgepose.codegen.firmware import uart_kernel_hz

    clock = board.clock
    summary = {"core_hz": clock.sysclk_hz if clock else board.cpu.clock_hz, "uart_kernel_hz": uart_kernel_hz(board)}
    if clock is None:
        return summary | {"how": "no clock plan: as the core starts"}
    if clock.pll is None:
        return summary | {"how": f"{clock.oscillator} {clock.oscillator_hz / 1e6:g} MHz, no PLL"}
    p = clock.pll
    how = f"{clock.oscillator} {clock.oscillator_hz / 1e6:g} MHz / m {p.m} * n {p.n} / p {p.p}"
    return summary | {"how": how, "ahb_div": clock.ahb_div, "apb1_div": clock.apb1_div, "apb2_div": clock.apb2_div,
                      "flash_latency": clock.flash_latency, "voltage_scale": clock.voltage_scale}  # fmt: skip


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
    """What can be told before linking: the arena (but its fast part, sized for its region) needs one RAM region,
    the arena, input copy and stack the RAM together, the weights the flash. The linker then checks each region
    with the real sizes."""
    from edgepose.codegen.firmware import contiguous_spans, main_arena_bytes

    ram = board.total("ram", external=False)
    spans = [sum(int(r.size) for r in span) for span in contiguous_spans(board)]
    largest_ram = max([int(r.size) for r in board.memory if r.kind == "ram" and not r.external] + spans, default=0)
    needed = compiled.arena_bytes + compiled.input_bytes + STACK_BYTES
    main = main_arena_bytes(dataclasses.asdict(compiled))
    if main > largest_ram or needed > ram:
        raise BoardError(
            f"{model.name} does not fit {board.name}: it needs {needed:,} B of RAM (arena {main:,} in one region "
            f"or adjacent ones + input {compiled.input_bytes:,} + stack {STACK_BYTES:,}); the largest "
            f"RAM region (or run of adjacent ones) has {largest_ram:,} B, all RAM {ram:,} B; use a smaller input "
            "size or model, or a bigger board"
        )
    if board.placement.load == "ram":  # no flash: the weights are loaded into the RAM the placement names
        where = board.placement.weights or board.placement.code
        room, what = int(next(r.size for r in board.memory if r.name == where)), f"{where}, where they are loaded"
    else:
        room, what = board.total("flash", external=False), "flash"
    if compiled.weights_bytes > room:
        raise BoardError(
            f"{model.name} does not fit {board.name}: {compiled.weights_bytes:,} B of weights for {room:,} B of "
            f"{what}; use a smaller model or a bigger board"
        )
