"""Emulated Cortex-M boards: the benchmark firmware in qemu-system-arm, its UART on a pty that pyserial
opens — the same link and protocol as a board on a desk.

QEMU runs with ``-icount shift=N``: the emulated clock advances 2^N ns per instruction, so timer ticks
count instructions (deterministic from run to run) rather than anything a real board would take. The
firmware's INFO says so (``timer.emulated``, ``timer.instructions_per_s``), and the report's latency is
in instructions, never shown as board time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from edgepose.backends import REFERENCE_RUNTIME, Connection, Request
from edgepose.bench.harness import Target
from edgepose.bench.links import SerialLink
from edgepose.boards import Board
from edgepose.errors import BoardError, DeviceError

PTY_LINE = re.compile(r"char device redirected to (/dev/pts/\d+)")
# The order in which QEMU's STM32F405 connects its -serial options to its U(S)ARTs (hw/arm/stm32f405_soc.c)
STM32F405_SERIALS = ("USART1", "USART2", "USART3", "UART4", "UART5", "USART6")


def qemu_command(
    board: Board, elf: Path, gdb_port: int | None = None, halted: bool = False, console: str | None = None
) -> list[str]:
    """The qemu-system-arm command line; ``console`` names the UART the pty goes to when the firmware talks
    on another one than the board's own (a NUCLEO-F446RE firmware on USART2 in a netduinoplus2)."""
    if board.qemu is None:
        raise BoardError(f"board '{board.name}' is not an emulated board (no qemu section)")
    command = ["qemu-system-arm", "-M", board.qemu.machine, "-display", "none", "-monitor", "none"]
    command += ["-cpu", board.qemu.cpu] if board.qemu.cpu else []
    console = console or board.uart.peripheral
    index = STM32F405_SERIALS.index(console) if board.qemu.machine == "netduinoplus2" else 0
    command += ["-serial", "null"] * index + ["-serial", "pty"]
    command += ["-icount", f"shift={board.qemu.icount_shift}", "-kernel", str(elf)]
    command += ["-gdb", f"tcp:127.0.0.1:{gdb_port}"] if gdb_port else []
    return command + (["-S"] if halted else [])


class QemuLink(SerialLink):
    """The UART of a firmware running in QEMU; closing the link stops QEMU."""

    def __init__(
        self, board: Board, elf: Path, gdb_port: int | None = None, halted: bool = False, console: str | None = None
    ) -> None:
        if shutil.which("qemu-system-arm") is None:
            raise DeviceError("qemu-system-arm not found: run `make setup` (installs qemu-system-arm) or apt-get it")
        self.temporary: Path | None = None  # a build folder of its own, removed with the link
        self.process = subprocess.Popen(
            qemu_command(board, elf, gdb_port, halted, console),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        pty = self._wait_for_pty()
        super().__init__(pty, 115200)
        self.baud = None  # a pty moves bytes as fast as QEMU emulates the UART: no wire rate to wait for
        self.name = f"{board.name} (qemu {board.qemu.machine}, {pty})"

    def _wait_for_pty(self, timeout: float = 20.0) -> str:
        deadline, seen = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            seen.append(line.strip())
            match = PTY_LINE.search(line)
            if match:
                return match.group(1)
        self.process.kill()
        raise DeviceError(f"qemu-system-arm did not start: {' | '.join(s for s in seen if s)[-400:]}")

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.process.kill()
            self.process.wait(timeout=10)
            if self.temporary:
                shutil.rmtree(self.temporary, ignore_errors=True)


def start(
    model: Path,
    board: Board,
    build_root: Path | None = None,
    kernels: str | None = None,
    max_recompute=None,
    split_arena: bool = True,
) -> QemuLink:
    """Compile ``model`` for ``board`` (generated C + firmware) and start it in QEMU. Without a
    ``build_root`` the build goes to a temporary folder that closing the link removes."""
    from edgepose.codegen.compile import compile_for_board

    temporary = None if build_root else Path(tempfile.mkdtemp(prefix="edgepose-qemu-"))
    try:
        out = Path(build_root or temporary) / f"{Path(model).stem}-{board.name}"
        budget = {} if max_recompute is None else {"max_recompute": max_recompute}
        report = compile_for_board(model, board.name, out, kernels=kernels, split_arena=split_arena, **budget)
        link = QemuLink(board, Path(report["firmware"]["elf"]))
    except BaseException:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    link.temporary = temporary
    return link


def connect(board: Board, request: Request) -> Connection:
    link = start(request.model, board, request.build_dir, request.kernels, request.max_recompute, request.split_arena)
    # the generated code must match TFLite's reference kernels, whatever runs the model elsewhere
    target = Target(board.name, board.backend, board.description, reference_runtime=REFERENCE_RUNTIME)
    return Connection(link, target)
