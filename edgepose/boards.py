"""Board definitions: one YAML file per board in ``targets/`` (shipped as ``edgepose.targets``).

A board says what a backend needs to know about a piece of hardware — core, clock, memory regions,
console UART, how to flash it, how to emulate it — and nothing about how to build for it: that is the
backend's job. Users add boards without touching the package by putting YAML files in a folder named
by ``EDGEPOSE_BOARDS_PATH`` (several folders separated by ``os.pathsep``); a user board with the name of
a built-in one replaces it. The board's name is its file name without ``.yaml``.
"""

from __future__ import annotations

import difflib
import os
from importlib.resources import files
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationError, model_validator

from edgepose.config.types import ByteSize, HexInt, Section
from edgepose.errors import BoardError
from edgepose.yamlio import describe_validation_error, load_yaml

BOARDS_PATH_ENV = "EDGEPOSE_BOARDS_PATH"

Backend = Literal["host", "rpi", "android", "stm32", "qemu"]
MCU_BACKENDS = ("stm32", "qemu")

# The system tools each backend cannot work without (flashing tools are alternatives, so not listed).
BACKEND_TOOLS: dict[str, tuple[str, ...]] = {
    "host": (),
    "rpi": ("ssh",),
    "android": ("adb",),
    "stm32": ("arm-none-eabi-gcc",),
    "qemu": ("arm-none-eabi-gcc", "qemu-system-arm"),
}


class Cpu(Section):
    core: str = Field(description="cortex-m7, cortex-m55, cortex-a76, native ...")
    arch: str | None = Field(None, description="armv7e-m, armv8.1-m.main, aarch64 ...")
    fpu: str | None = Field(None, description="gcc -mfpu name, e.g. fpv5-d16; null: no FPU")
    clock_hz: int | None = Field(None, ge=1, description="core clock; null where the OS decides")
    cores: int = Field(1, ge=1)
    features: list[str] = Field(default_factory=list, description="dsp, mve, neon, trustzone ...")
    cycle_counter: Literal["dwt", "systick", "os"] = Field(
        "os", description="dwt: DWT->CYCCNT; systick: SysTick (emulators); os: the OS clock"
    )


class MemoryRegion(Section):
    name: str
    kind: Literal["flash", "ram"] = Field(description="flash: code and weights; ram: activations, stack")
    origin: HexInt
    size: ByteSize = Field(gt=0)
    external: bool = Field(False, description="off-chip memory on the board (QSPI flash, SDRAM)")
    note: str | None = None


class Uart(Section):
    peripheral: str = Field(description="as the vendor names it: USART3, UART0 ...")
    base: HexInt | None = None
    baud: int = Field(115200, ge=1200)
    pins: str | None = None


class Usb(Section):
    """How to find the board's virtual COM port when --port is omitted."""

    vid: HexInt
    pids: list[HexInt] = Field(default_factory=list)


class Qemu(Section):
    machine: str = Field(description="qemu-system-arm -M value")
    cpu: str | None = None
    icount_shift: int = Field(0, ge=0, le=10, description="-icount shift: 2^shift ns per instruction")


class Linux(Section):
    arch: Literal["aarch64", "armv7l", "x86_64", "native"] = "native"
    python: str = "python3"
    workdir: str = Field("~/edgepose", description="where deploy puts the model and the agent")
    runtimes: list[Literal["litert", "onnxruntime"]] = Field(default_factory=lambda: ["litert", "onnxruntime"])


FlashMethod = Literal["gdb", "openocd", "pyocd", "stm32cubeprogrammer", "stm32loader", "qemu", "ssh", "adb"]


class Board(Section):
    backend: Backend
    description: str
    vendor: str | None = None
    url: str | None = None
    cpu: Cpu
    memory: list[MemoryRegion] = Field(default_factory=list)
    uart: Uart | None = None
    usb: Usb | None = None
    flash_methods: list[FlashMethod] = Field(default_factory=list)
    qemu: Qemu | None = None
    linux: Linux | None = None

    _name: str = PrivateAttr("")
    _source: Path | None = PrivateAttr(None)

    @property
    def name(self) -> str:
        return self._name

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def is_mcu(self) -> bool:
        return self.backend in MCU_BACKENDS

    @property
    def kernel_variants(self) -> list[str]:
        """The generated C's kernel variants this core runs, fastest last: from ``cpu.features``."""
        features = self.cpu.features
        return ["portable"] + (["dsp"] if "dsp" in features else []) + (["mve"] if "mve" in features else [])

    def kernels(self, asked: str | None = None) -> str:
        """The variant to compile with: ``asked`` if this core runs it, else the fastest one it runs."""
        if asked is None or asked == "auto":
            return self.kernel_variants[-1]
        if asked not in self.kernel_variants:
            raise BoardError(
                f"board '{self.name}' ({self.cpu.core}) cannot run the '{asked}' kernels; it runs "
                f"{', '.join(self.kernel_variants)} (cpu.features in its YAML lists what the core has)"
            )
        return asked

    def total(self, kind: Literal["flash", "ram"], external: bool | None = None) -> int:
        """Bytes of all regions of one kind; ``external`` True or False counts off-chip or on-chip only."""
        return sum(r.size for r in self.memory if r.kind == kind and (external is None or r.external == external))

    @model_validator(mode="after")
    def _backend_needs(self) -> Board:
        missing = []
        if self.is_mcu:
            if not self.total("flash") or not self.total("ram"):
                missing.append("memory (at least one flash and one ram region)")
            if self.uart is None:
                missing.append("uart")
        if self.backend == "qemu" and self.qemu is None:
            missing.append("qemu")
        if self.backend in ("host", "rpi") and self.linux is None:
            missing.append("linux")
        if missing:
            raise ValueError(f"a '{self.backend}' board needs {', '.join(missing)}")
        return self


def board_dirs() -> list[Path]:
    """The built-in board folder, then the folders named by ``EDGEPOSE_BOARDS_PATH``."""
    extra = [Path(p) for p in os.environ.get(BOARDS_PATH_ENV, "").split(os.pathsep) if p]
    return [Path(str(files("edgepose.targets"))), *extra]


def load_board_file(path: Path) -> Board:
    doc = load_yaml(path, error=BoardError)
    if not isinstance(doc.data, dict):
        raise BoardError(f"{path}: expected a mapping (backend:, description:, cpu: ...)")
    try:
        board = Board.model_validate(doc.data)
    except ValidationError as exc:
        raise BoardError(describe_validation_error(exc, Board, doc.where)) from None
    board._name = path.stem
    board._source = path
    return board


def load_boards() -> dict[str, Board]:
    """Every board by name, sorted; later folders replace earlier ones' boards of the same name."""
    boards: dict[str, Board] = {}
    for folder in board_dirs():
        if not folder.is_dir():
            raise BoardError(f"{BOARDS_PATH_ENV}: {folder} is not a folder")
        for path in sorted(folder.glob("*.yaml")):
            boards[path.stem] = load_board_file(path)
    return dict(sorted(boards.items()))


def find_board(name: str) -> Board:
    """A board by name, or from a ``.yaml`` file path; an unknown name lists the known ones."""
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return load_board_file(Path(name))
    boards = load_boards()
    if name in boards:
        return boards[name]
    hint = difflib.get_close_matches(name, list(boards), n=1)
    suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
    raise BoardError(f"unknown board '{name}'{suggestion} (known: {', '.join(boards)})")
