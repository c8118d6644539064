"""Putting a firmware ELF on a board. Every method is a command line of a tool the user already has:

- ``gdb``: any GDB server (st-util, pyOCD's gdbserver, OpenOCD, J-Link, QEMU's ``-gdb``) with
  gdb-multiarch: ``load`` writes the sections, then SP and PC are set from the vector table and the core
  runs on after gdb detaches;
- ``openocd``, ``pyocd``, ``stm32cubeprogrammer`` (STM32_Programmer_CLI) and ``stm32loader`` (the UART
  bootloader) where they are installed.

``--dry-run`` prints the exact command instead of running it. Both check first that the ELF was built for
the board (``edgepose compile`` writes the board's name into it), and take every address from the board:
where its vector table is, and whether the image goes to flash or, on a part without flash (STM32N6 in
development boot), into RAM to be started there.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from edgepose.boards import Board
from edgepose.codegen.elf import board_name
from edgepose.codegen.firmware import code_region
from edgepose.errors import BoardError, DeviceError

METHODS = ("gdb", "openocd", "pyocd", "stm32cubeprogrammer", "stm32loader")
RAM_METHODS = ("gdb", "openocd")  # the ones that can load an image into RAM and start it there
OPENOCD_TARGETS = {"stm32f4": "stm32f4x", "stm32h7": "stm32h7x", "stm32u5": "stm32u5x", "stm32n6": "stm32n6x"}


def flash_command(method: str, board: Board, elf: Path, gdb: str = "127.0.0.1:3333", port: str | None = None) -> list:
    check_elf_board(elf, board)
    elf = str(Path(elf).resolve())
    in_ram = board.placement.load == "ram"
    if in_ram and method not in RAM_METHODS:
        raise BoardError(
            f"{board.name} has no flash: its firmware is loaded into RAM by a debugger, so flash it with "
            f"--method {' or '.join(RAM_METHODS)} (docs/boards.md says how)"
        )
    vectors = vector_table(board)
    if method == "gdb":
        reset = ["-ex", "monitor reset halt"] if in_ram else []  # a core reset: a system reset clears AXISRAM
        return [
            "gdb-multiarch", "-q", "-batch", "-nx", elf,
            "-ex", "set confirm off", "-ex", f"target extended-remote {gdb}", *reset, "-ex", "load",
            "-ex", f"set $sp = *(unsigned int *){vectors:#x}", "-ex", f"set $pc = *(unsigned int *){vectors + 4:#x}",
            "-ex", "detach",
        ]  # fmt: skip
    if method == "openocd":
        target = ["-f", "interface/stlink.cfg", "-f", f"target/{_openocd_target(board)}.cfg"]
        if in_ram:
            start = (f"init; reset halt; load_image {elf}; reg sp [read_memory {vectors:#x} 32 1]; "
                     f"reg pc [read_memory {vectors + 4:#x} 32 1]; resume; exit")  # fmt: skip
            return ["openocd", *target, "-c", start]
        return ["openocd", *target, "-c", f"program {elf} verify reset exit"]
    if method == "pyocd":
        return ["pyocd", "flash", "--target", _pyocd_target(board), elf]
    if method == "stm32cubeprogrammer":
        return ["STM32_Programmer_CLI", "-c", "port=SWD", "-w", elf, "-v", "-rst"]
    if method == "stm32loader":
        if not port:
            raise BoardError("flashing through the UART bootloader needs --port")
        return ["stm32loader", "-p", port, "-e", "-w", "-v", elf]
    raise BoardError(f"unknown flash method '{method}'; one of {', '.join(METHODS)}")


def check_elf_board(elf: Path, board: Board) -> None:
    """An ELF built by edgepose for another board is refused: its clock, UART and memory map are that board's."""
    if not Path(elf).is_file():
        raise BoardError(f"{elf}: no such firmware file; build it with `edgepose compile`")
    built_for = board_name(Path(elf))
    if built_for is not None and built_for != board.name:
        raise BoardError(
            f"{elf} was built for {built_for}, not {board.name}; build one for this board with "
            f"`edgepose compile MODEL --target {board.name}`"
        )


def flash(method: str, board: Board, elf: Path, gdb: str, port: str | None, timeout: float = 120.0) -> str:
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


def vector_table(board: Board) -> int:
    """Where the board's firmware has its vector table: the start of the region its code is placed in."""
    return int(code_region(board).origin)


def _openocd_target(board: Board) -> str:
    family = board.mcu.family if board.mcu else None
    if family not in OPENOCD_TARGETS:
        raise BoardError(f"board '{board.name}': OpenOCD has no target for the '{family}' family; use --method gdb")
    return OPENOCD_TARGETS[family]


def _pyocd_target(board: Board) -> str:
    """pyOCD's name for the part: built in for the H743, else the CMSIS-pack one (``pyocd pack install``)."""
    part = (board.mcu.part if board.mcu else None) or board.name
    return "stm32h743xx" if part.upper().startswith("STM32H743") else part.lower() + "tx"
