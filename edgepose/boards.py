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


Speed = Literal["tcm", "fast", "normal", "slow"]
SPEED_RANK = {"tcm": 0, "fast": 1, "normal": 2, "slow": 3}


class MemoryRegion(Section):
    name: str
    kind: Literal["flash", "ram"] = Field(description="flash: code and weights; ram: activations, stack")
    origin: HexInt
    size: ByteSize = Field(gt=0)
    speed: Speed = Field(
        "normal", description="tcm: zero wait states at the core clock; fast: on-chip SRAM on the core's bus; "
        "normal; slow: across a bridge or off-chip. The firmware's placement prefers faster regions"
    )  # fmt: skip
    external: bool = Field(False, description="off-chip memory on the board (QSPI flash, SDRAM)")
    note: str | None = None

    @property
    def end(self) -> int:
        return int(self.origin) + int(self.size)


PIN = r"^P[A-K]([0-9]|1[0-5])$"


class Uart(Section):
    peripheral: str = Field(description="as the vendor names it: USART3, UART0 ...")
    base: HexInt | None = None
    baud: int = Field(115200, ge=1200)
    tx: str | None = Field(None, pattern=PIN, description="the TX pin, e.g. PD8")
    rx: str | None = Field(None, pattern=PIN, description="the RX pin, e.g. PD9")
    af: int | None = Field(None, ge=0, le=15, description="the pins' alternate function number")
    pins: str | None = Field(None, description="in words, where the UART comes out (ST-LINK VCP ...)")


Family = Literal["stm32f4", "stm32h7", "stm32u5", "stm32n6", "cmsdk"]


class Mcu(Section):
    family: Family = Field(description="the peripheral family whose drivers the firmware uses")
    part: str | None = Field(None, description="the chip, e.g. STM32H743ZI")


class Pll(Section):
    m: int = Field(ge=1, le=63, description="input divider")
    n: int = Field(ge=4, le=512, description="multiplier")
    p: int = Field(ge=1, le=128, description="divider to the system clock")
    q: int = Field(2, ge=1, le=128)
    r: int = Field(2, ge=1, le=128)


AHB_DIVS = {1: 0b0000, 2: 0b1000, 4: 0b1001, 8: 0b1010, 16: 0b1011, 64: 0b1100, 128: 0b1101, 256: 0b1110, 512: 0b1111}
APB_DIVS = {1: 0b000, 2: 0b100, 4: 0b101, 8: 0b110, 16: 0b111}


class ClockPlan(Section):
    """How the firmware brings the core to its clock: oscillator -> PLL -> bus prescalers (the encodings
    of HPRE and PPRE are the same on STM32F4, H7 and U5)."""

    oscillator: Literal["hse-bypass", "hse-crystal", "hsi", "msis"] = Field(
        description="hse-bypass: an external clock (the ST-LINK's MCO on NUCLEOs); hse-crystal; hsi/msis: internal"
    )
    oscillator_hz: int = Field(ge=1)
    reset_hz: int = Field(ge=1, description="the clock the core starts on; it stays there if the plan fails")
    pll: Pll | None = Field(None, description="null: the core stays on the oscillator it starts on")
    ahb_div: int = Field(1, description="system clock -> AHB (HCLK)")
    apb1_div: int = Field(1, description="AHB -> APB1 (and the H7's APB3/APB4)")
    apb2_div: int = Field(1, description="AHB -> APB2")
    flash_latency: int = Field(0, ge=0, le=15, description="flash wait states at this clock")
    voltage_scale: int = Field(1, ge=0, le=3, description="regulator scale (H7: 0 is VOS0, the 480 MHz one)")
    overdrive: bool = Field(False, description="STM32F4: the regulator's over-drive (above 168 MHz)")
    supply: Literal["ldo", "direct-smps"] | None = Field(
        None, description="STM32H7: the power supply configuration, written once after reset (the board's wiring)"
    )

    @property
    def sysclk_hz(self) -> int:
        if self.pll is None:
            return self.reset_hz
        return self.oscillator_hz * self.pll.n // (self.pll.m * self.pll.p)

    @model_validator(mode="after")
    def _dividers(self) -> ClockPlan:
        if self.ahb_div not in AHB_DIVS:
            raise ValueError(f"ahb_div {self.ahb_div}: one of {sorted(AHB_DIVS)}")
        for name in ("apb1_div", "apb2_div"):
            if getattr(self, name) not in APB_DIVS:
                raise ValueError(f"{name} {getattr(self, name)}: one of {sorted(APB_DIVS)}")
        return self


class Placement(Section):
    """Where the firmware's parts go; a region left out is chosen by speed (see docs/boards.md)."""

    load: Literal["flash", "ram"] = Field(
        "flash", description="ram: a debugger loads the image into RAM and starts it (parts without flash)"
    )
    code: str | None = Field(None, description="vectors and code")
    weights: str | None = Field(None, description="the model's constants")
    arena: str | None = Field(None, description="the activation arena")
    stack: str | None = Field(None, description="the stack, .data and .bss")


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


class Android(Section):
    """A phone reached with adb and measured with TensorFlow Lite's benchmark_model."""

    workdir: str = Field("/data/local/tmp/edgepose", description="where the model (and benchmark_model) are pushed")
    benchmark_model: str | None = Field(
        None, description="benchmark_model's path on the phone where it is already (null: <workdir>/benchmark_model)"
    )
    max_temp_c: float = Field(
        45.0, gt=0.0, description="a run waits until the hottest CPU thermal zone is at most this warm"
    )
    cool_timeout_s: float = Field(600.0, ge=0.0, description="how long to wait for the phone to cool")
    cool_poll_s: float = Field(15.0, ge=0.0, description="how often the thermal zones are read while it cools")


FlashMethod = Literal["gdb", "openocd", "pyocd", "stm32cubeprogrammer", "stm32loader", "qemu", "ssh", "adb"]


class Board(Section):
    backend: Backend
    description: str
    vendor: str | None = None
    url: str | None = None
    cpu: Cpu
    mcu: Mcu | None = None
    clock: ClockPlan | None = Field(None, description="null: the core runs at cpu.clock_hz as it starts")
    memory: list[MemoryRegion] = Field(default_factory=list)
    placement: Placement = Field(default_factory=Placement)
    uart: Uart | None = None
    usb: Usb | None = None
    flash_methods: list[FlashMethod] = Field(default_factory=list)
    qemu: Qemu | None = None
    linux: Linux | None = None
    android: Android | None = None

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
            if not self.total("ram") or not (self.total("flash") or self.placement.load == "ram"):
                missing.append("memory (at least one flash and one ram region)")
            if self.uart is None:
                missing.append("uart")
            if self.mcu is None:
                missing.append("mcu (its peripheral family)")
        if self.backend == "qemu" and self.qemu is None:
            missing.append("qemu")
        if self.backend in ("host", "rpi") and self.linux is None:
            missing.append("linux")
        if self.backend == "android" and self.android is None:
            missing.append("android")
        if missing:
            raise ValueError(f"a '{self.backend}' board needs {', '.join(missing)}")
        self._check_mcu()
        return self

    def _check_mcu(self) -> None:
        if self.clock and self.clock.pll and self.clock.sysclk_hz != self.cpu.clock_hz:
            c = self.clock
            raise ValueError(
                f"clock: {c.oscillator_hz} Hz / m {c.pll.m} * n {c.pll.n} / p {c.pll.p} = {c.sysclk_hz} Hz, but "
                f"cpu.clock_hz is {self.cpu.clock_hz}"
            )
        names = {r.name for r in self.memory}
        for part in ("code", "weights", "arena", "stack"):
            chosen = getattr(self.placement, part)
            if chosen is not None and chosen not in names:
                raise ValueError(f"placement.{part}: no memory region named '{chosen}' (regions: {', '.join(names)})")
        if self.mcu and self.mcu.family != "cmsdk" and self.uart and None in (self.uart.tx, self.uart.rx, self.uart.af):
            raise ValueError(f"uart: an {self.mcu.family} console needs tx, rx and af (pins and alternate function)")


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
