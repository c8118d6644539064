"""``edgepose compile MODEL.tflite --target BOARD``: generated C, and for an MCU board the benchmark firmware."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose import console


def compile_model(
    model: Path = typer.Argument(..., help="An int8 .tflite model."),
    target: str = typer.Option("qemu-m7", "--target", "-t", help="Board (see `edgepose targets list --backend`)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default build/<model>-<target>)."),
    firmware: bool = typer.Option(True, "--firmware/--no-firmware", help="Also link the benchmark firmware."),
    kernels: str = typer.Option(
        "auto", "--kernels", "-k", help="Kernel variant: auto (the fastest the core runs), portable, dsp, mve."
    ),
    max_recompute: float = typer.Option(
        0.10,
        "--max-recompute",
        min=0.0,
        help="Patch-based execution where RAM peaks: extra work allowed (instructions, estimated per kernel), as a "
        "fraction of the model's (0: layer by layer).",
    ),
    split_arena: bool = typer.Option(
        True,
        "--split-arena/--no-split-arena",
        help="On a board with a RAM faster than the rest (DTCM): when the arena does not fit there whole, put its "
        "most-used activations there and the rest in the next RAM.",
    ),
) -> None:
    """Generate portable C99 for MODEL (no interpreter, no heap) and link the benchmark firmware for TARGET."""
    from edgepose.codegen.compile import compile_for_board

    out = out or Path("build") / f"{model.stem}-{target}"
    with console.err.status(f"compiling {model.name} for {target}") as status:
        report = compile_for_board(model, target, out, firmware, status.update, kernels, max_recompute, split_arena)
    rows = [
        (key.replace("_bytes", "").replace("_", " "), f"{report[key]:,}")
        for key in ("arena_bytes", "weights_bytes", "code_bytes", "tflm_arena_bytes")
        if report.get(key) is not None
    ]
    if report.get("fast_arena_bytes"):
        rows.insert(1, (f"of which in {report['fast_ram']}", f"{report['fast_arena_bytes']:,}"))
    if report.get("ram_vs_tflm") is not None:
        rows.append(("RAM vs TFLite Micro", f"{report['ram_vs_tflm']:.2f}x"))
    console.out.print(console.table(f"{model.name} for {target}, {report['kernels']} kernels", ("what", "bytes"), rows))
    print_tiling(report.get("tiling"))
    if report.get("regions"):
        regions = [
            (r["name"], f"{r['used']:,}", f"{r['size']:,}", f"{100 * r['used'] / r['size']:.0f}%",
             ", ".join(part for part, name in report["placement"].items() if r["name"] in name.split("+")))
            for r in report["regions"]
        ]  # fmt: skip
        console.out.print(console.table("memory regions", ("region", "used", "size", "full", "holds"), regions))
    clock = report["clock"]
    console.out.print(f"clock: {clock['core_hz'] / 1e6:g} MHz ({clock['how']})", soft_wrap=True)
    for variant, reason in report.get("kernels_not_fitting", {}).items():
        console.err.print(f"note: the {variant} kernels do not fit, so {report['kernels']} ones are used: {reason}")
    console.out.print(f"generated C: {out / 'network'}", soft_wrap=True)
    if report.get("firmware"):
        console.out.print(f"firmware: {report['firmware']['elf']}", soft_wrap=True)
    console.out.print(f"report: {out / 'compile_report.json'}", soft_wrap=True)


def print_tiling(tiling: dict | None) -> None:
    """The arena before and after patch-based execution, what it recomputes, and which layers it tiled."""
    if not tiling:
        return
    stages = "; ".join(
        f"{len(stage['layers'])} layers from {stage['layers'][0].split(';')[0]} in {stage['strips']} strips"
        for stage in tiling["stages"]
    )
    console.out.print(
        f"patch-based execution: arena {tiling['arena_before']:,} → {tiling['arena_after']:,} B for "
        f"{100 * tiling['extra_macs_ratio']:.1f}% more MACs, about {100 * tiling['extra_work_ratio']:.1f}% more "
        f"instructions ({stages})",
        soft_wrap=True,
    )


def flash(
    firmware: Path = typer.Argument(..., help="The firmware ELF (from `edgepose compile`)."),
    target: str = typer.Option(..., "--target", "-t", help="Board (see `edgepose targets list`)."),
    method: str = typer.Option("gdb", "--method", "-m", help="gdb, openocd, pyocd, stm32cubeprogrammer, stm32loader."),
    gdb: str = typer.Option("127.0.0.1:3333", "--gdb", help="host:port of the GDB server (method gdb)."),
    port: str | None = typer.Option(None, "--port", "-p", help="Serial device (method stm32loader)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the command instead of running it."),
) -> None:
    """Write FIRMWARE to a board through a GDB server, OpenOCD, pyOCD, STM32CubeProgrammer or the UART bootloader."""
    import shlex

    from edgepose.backends import flash as flashing
    from edgepose.boards import find_board

    board = find_board(target)
    if dry_run:
        console.out.print(shlex.join(flashing.flash_command(method, board, firmware, gdb, port)), soft_wrap=True)
        return
    flashing.flash(method, board, firmware, gdb, port)
    console.out.print(f"flashed {firmware} to {board.name} with {method}", soft_wrap=True)
