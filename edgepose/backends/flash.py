"""Putting a firmware ELF on a board. Every method is a command line of a tool the user already has:

- ``gdb``: any GDB server (st-util, pyOCD's gdbserver, OpenOCD, J-Link, QEMU's ``-gdb``) with
  gdb-multiarch: ``load`` writes the sections, then SP and PC are set from the vector table and the core
  runs on after gdb detaches;
- ``openocd``, ``pyocd``, ``stm32cubeprogrammer`` (STM32_Programmer_CLI) and ``stm32loader`` (the UART
  bootloader) where they are installed.

``--dry-run`` prints the exact command instead of running it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgepose.boards import Board
from edgepose.errors import BoardError, DeviceError

METHODS = ("gdb", "openocd", "pyocd", "stm32cubeprogrammer", "stm32loader")


def flash_command(method: str, board: Board, elf: Path, gdb: str = "127.0.0.1:3333", port: str | None = None) -> list:
    elf = str(Path(elf).resolve())
    if method == "gdb":
        vectors = _vector_table(board)
        return [
            "gdb-multiarch", "-q", "-batch", "-nx", elf,
            "-ex", "set confirm off", "-ex", f"target extended-remote {gdb}", "-ex", "load",
            "-ex", f"set $sp = *(unsigned int *){vectors:#x}", "-ex", f"set $pc = *(unsigned int *){vectors + 4:#x}",
            "-ex", "detach",
        ]  # fmt: skip
    if method == "openocd":
        return ["openocd", "-f", "interface/stlink.cfg", "-f", f"target/{_openocd_target(board)}.cfg",
                "-c", f"program {elf} verify reset exit"]  # fmt: skip
    if method == "pyocd":
        return ["pyocd", "flash", "--target", board.name.lower().replace("-", "_"), elf]
    if method == "stm32cubeprogrammer":
        return ["STM32_Programmer_CLI", "-c", "port=SWD", "-w", elf, "-v", "-rst"]
    if method == "stm32loader":
        if not port:
            raise BoardError("flashing through the UART bootloader needs --port")
        return ["stm32loader", "-p", port, "-e", "-w", "-v", elf]
    raise BoardError(f"unknown flash method '{method}'; one of {', '.join(METHODS)}")


def flash(method: str, board: Board, elf: Path, gdb: str, port: str | None, timeout: float = 120.0) -> str:
    if not Path(elf).is_file():
        raise BoardError(f"{elf}: no such firmware file; build it with `edgepose compile`")
    command = flash_command(method, board, elf, gdb, port)
    if shutil.which(command[0]) is None:
        raise DeviceError(f"{command[0]} not found: install it to flash with '{method}', or choose another --method")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{command[0]} did not finish in {timeout:.0f} s flashing {board.name}") from None
    text = (result.stdout + result.stderr).strip()
    if result.returncode or "Error" in text or "Connection timed out" in text or "refused" in text:
        raise DeviceError(f"flashing {board.name} with {method} failed: {' '.join(text.split())[-400:]}")
    return text


def _vector_table(board: Board) -> int:
    flash = [r for r in board.memory if r.kind == "flash"]
    if not flash:
        raise BoardError(f"board '{board.name}' lists no flash region")
    return int(flash[0].origin)


def _openocd_target(board: Board) -> str:
    core = board.name.lower()
    for family in ("h7", "f4", "u5", "l4", "g4", "f7"):
        if f"stm32{family}" in core or f"-{family}" in core or family in core:
            return f"stm32{family}x"
    return "stm32h7x"
