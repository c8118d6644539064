"""``edgepose targets list|show``: the boards edgepose knows."""

from __future__ import annotations

import json

import typer

from edgepose import console
from edgepose.boards import BOARDS_PATH_ENV, Board, find_board, load_boards

app = typer.Typer(
    help=f"Boards to build for, deploy to and benchmark on (YAML files; add your own via {BOARDS_PATH_ENV}).",
    no_args_is_help=True,
)


def _summary(board: Board) -> dict:
    return {"name": board.name, "source": str(board.source), **board.model_dump(mode="json", exclude_none=True)}


@app.command("list")
def list_boards(
    backend: str | None = typer.Option(None, help="Only boards of this backend: host, rpi, android, stm32, qemu."),
    as_json: bool = typer.Option(False, "--json", help="Print the boards as JSON."),
) -> None:
    """List every board with its core, clock and memory."""
    boards = [b for b in load_boards().values() if backend is None or b.backend == backend]
    if as_json:
        print(json.dumps([_summary(b) for b in boards], indent=2))
        return
    rows = [
        (
            b.name,
            b.backend,
            b.cpu.core,
            console.human_hz(b.cpu.clock_hz),
            _on_chip(b, "flash"),
            _on_chip(b, "ram"),
            _external(b),
            b.description,
        )
        for b in boards
    ]
    columns = ("board", "backend", "core", "clock", "flash", "RAM", "on the board", "description")
    console.out.print(console.table(None, columns, rows))


def _on_chip(board: Board, kind: str) -> str:
    size = board.total(kind, external=False) if board.is_mcu else 0
    return console.human_bytes(size) if size else "-"


def _external(board: Board) -> str:
    """Off-chip memory: ``128 MiB flash, 32 MiB RAM``."""
    parts = [
        f"{console.human_bytes(board.total(kind, external=True))} {label}"
        for kind, label in (("flash", "flash"), ("ram", "RAM"))
        if board.total(kind, external=True)
    ]
    return ", ".join(parts) or "-"


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Board name (see `edgepose targets list`) or a board YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print the board as JSON."),
) -> None:
    """Show one board: core, memory regions, console UART, flashing methods, emulation."""
    board = find_board(name)
    if as_json:
        print(json.dumps(_summary(board), indent=2))
        return
    cpu = board.cpu
    console.out.print(f"[bold]{board.name}[/]  {board.description}", soft_wrap=True)
    console.out.print(f"backend: {board.backend}    source: {board.source}", soft_wrap=True)
    features = ", ".join(cpu.features) or "-"
    console.out.print(
        f"cpu: {cpu.core} ({cpu.arch or '-'}), {cpu.cores} core(s) at {console.human_hz(cpu.clock_hz)}, "
        f"fpu {cpu.fpu or 'none'}, features {features}, timing {cpu.cycle_counter}",
        soft_wrap=True,
    )
    if board.mcu:
        console.out.print(f"mcu: {board.mcu.part or '-'}, {board.mcu.family} drivers", soft_wrap=True)
    if board.clock:
        from edgepose.codegen.compile import clock_summary

        clock = clock_summary(board)
        console.out.print(f"clock: {console.human_hz(clock['core_hz'])} ({clock['how']})", soft_wrap=True)
    if board.memory:
        rows = [
            (r.name, r.kind, f"0x{r.origin:08x}", console.human_bytes(r.size), r.speed, r.note) for r in board.memory
        ]
        console.out.print(console.table("memory", ("region", "kind", "origin", "size", "speed", "note"), rows))
    if board.uart:
        uart = board.uart
        base = f" at 0x{uart.base:08x}" if uart.base is not None else ""
        pins = f", TX {uart.tx} RX {uart.rx} AF{uart.af}" if uart.tx else ""
        console.out.print(f"uart: {uart.peripheral}{base}{pins}, {uart.baud} baud", soft_wrap=True)
    if board.qemu:
        console.out.print(f"qemu: -M {board.qemu.machine} -icount shift={board.qemu.icount_shift}", soft_wrap=True)
    if board.flash_methods:
        console.out.print(f"flash with: {', '.join(board.flash_methods)}", soft_wrap=True)
