"""The benchmark firmware for a board: the generated network + ``targets/firmware`` (wire protocol server,
startup, timer, caches/MPU, one driver family) linked with arm-none-eabi-gcc by ``targets/firmware/Makefile``.

Drivers are chosen by the board's peripheral family (``mcu.family``), never by board: a new board of a
supported family is one YAML file. This module writes what is board-specific — ``ep_regs.h`` (from the
family's register table), ``ep_board.h`` (clock plan, console UART and pins, MPU regions), the linker script
(from the memory regions and the placement) and ``ep_info.c`` (the INFO JSON) — runs make, and reads back
from the ELF where every part landed and how full each region is.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from edgepose.boards import AHB_DIVS, APB_DIVS, SPEED_RANK, Board, MemoryRegion
from edgepose.codegen.elf import BOARD_SECTION, allocated_sections
from edgepose.codegen.graph import read_graph
from edgepose.codegen.registers import header, load_table
from edgepose.errors import BoardError, EdgeposeError
from edgepose.hashing import sha256_path

STACK_BYTES = 8 * 1024
# what .data/.bss hold besides the input copy: timings, parser buffers, INFO (8 KB), and per layer its profile
# entry and tick count (64 B)
DATA_BYTES, DATA_BYTES_PER_LAYER = 8 * 1024, 64
FAST_ARENA_MARGIN = 4 * 1024  # the stack region's size is an estimate: what the fast arena leaves beside it
CODE_BYTES = 64 * 1024  # about what the firmware's code takes besides the weights (20-30 KB today)
RUNTIME_INFO_BYTES = 512  # the clock and timer the firmware appends to INFO

DRIVERS = {
    "cmsdk": ["cmsdk.c"],
    "stm32f4": ["stm32f4.c", "stm32_gpio.c"],
    "stm32h7": ["stm32h7.c", "stm32_gpio.c", "stm32_usart.c"],
    "stm32u5": ["stm32u5.c", "stm32_gpio.c", "stm32_usart.c"],
    "stm32n6": ["stm32n6.c", "stm32_gpio.c", "stm32_usart.c"],
}
CORES_WITH_DWT = ("cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")
MPU_KINDS = {"flash": 0, "ram": 1, "ram-code": 2}


@dataclass
class FirmwareBuild:
    elf: Path
    text: int
    data: int
    bss: int
    flash_bytes: int  # text + data (initial values)
    ram_bytes: int  # data + bss + stack
    placement: dict = field(default_factory=dict)  # part -> region name
    regions: list = field(default_factory=list)  # per region: size, used, free, the sections in it

    def to_dict(self) -> dict:
        return {**asdict(self), "elf": str(self.elf)}


def firmware_dir() -> Path:
    return Path(str(resources.files("edgepose.targets") / "firmware"))


def driver_sources(board: Board) -> list[str]:
    if board.mcu is None or board.mcu.family not in DRIVERS:
        raise BoardError(f"board '{board.name}': set mcu.family in its YAML to one of {', '.join(DRIVERS)}")
    return [f"drivers/{name}" for name in DRIVERS[board.mcu.family]]


def cpu_flags(board: Board) -> list[str]:
    flags = [f"-mcpu={board.cpu.core}", "-mthumb"]
    if board.cpu.fpu and board.cpu.fpu != "auto":
        flags += [f"-mfpu={board.cpu.fpu}", "-mfloat-abi=hard"]
    elif board.cpu.fpu == "auto":
        flags += ["-mfloat-abi=hard"]
    return flags


# ---- placement: which memory region holds what ----


def hot_weights(board: Board, placement: dict[str, str], network: dict) -> tuple[str | None, list[str]]:
    """The constant arrays worth copying from flash into a tightly coupled RAM at start-up, and that RAM:
    the most-read bytes first (a layer reads each weight once per output position, so MACs / bytes), as
    many as fit the room the arena and the stack leave there. None where the board has no such RAM or the
    image runs from RAM anyway."""
    if board.placement.load == "ram":
        return None, []
    room = {r.name: int(r.size) for r in _data_ram(board) if r.speed == "tcm"}
    for part, need in (("arena", main_arena_bytes(network)), ("stack", stack_bytes(network))):
        _occupy(room, placement[part], need)
    if "fast_arena" in placement:
        _occupy(room, placement["fast_arena"], network["fast_arena_bytes"])
    if not room:
        return None, []
    region, budget = max(room.items(), key=lambda item: item[1])
    arrays = [
        (layer["macs"] / size, name, size + 15 & ~15)  # 16-byte aligned in the section
        for layer in network.get("layers_detail", [])
        for name, size in layer.get("constants", {}).items()
        if size and layer["macs"]
    ]
    chosen = []
    for _, name, size in sorted(arrays, reverse=True):
        if size <= budget:
            chosen.append(name)
            budget -= size
    return (region if chosen else None), chosen


def main_arena_bytes(network: dict) -> int:
    """What the arena's region takes: the activations but those in the fast arena, and with a fast arena the
    firmware's copy of the uploaded input (read once per run, it leaves the fast RAM to the activations)."""
    split = network.get("fast_arena_bytes", 0)
    return network["arena_bytes"] - split + (network["input_bytes"] if split else 0)


def stack_bytes(network: dict) -> int:
    """About what the stack region takes: the stack, .data, .bss, and the input copy where no fast arena
    moved it beside the arena."""
    data = STACK_BYTES + DATA_BYTES + DATA_BYTES_PER_LAYER * network.get("layers", 0)
    return data + (0 if network.get("fast_arena_bytes") else network.get("input_bytes", 0))


def fast_ram(board: Board, layers: int) -> tuple[str, int, int] | None:
    """The on-chip RAM faster than every other one (an H7's DTCM), its size, and the room it has for a second
    arena beside the stack, .data and .bss: where the whole arena does not fit in it, the planner puts the
    most-used activations there. None where the board names the arena's region or no RAM is faster."""
    ram = sorted(_data_ram(board), key=lambda r: SPEED_RANK[r.speed])
    if board.placement.arena is not None or len(ram) < 2 or ram[0].speed == ram[1].speed:
        return None
    fast = ram[0]
    stack = stack_bytes({"layers": layers, "fast_arena_bytes": 1})  # the input copy then goes with the arena
    beside = stack if board.placement.stack in (None, fast.name) else 0
    room = (int(fast.size) - beside - FAST_ARENA_MARGIN) // 16 * 16
    return (fast.name, int(fast.size), room) if room > 0 else None


def place(board: Board, network: dict) -> dict[str, str]:
    """The region of each part (code, weights, arena, stack with .data/.bss): the board's placement where
    it names one, else the fastest on-chip region with room, in YAML order among equals. Off-chip memory is
    used only where named: it needs its controller set up first."""
    chosen = {part: getattr(board.placement, part) for part in ("code", "weights", "arena", "stack")}
    room = {r.name: int(r.size) for r in board.memory}
    on_chip_flash = [r for r in board.memory if r.kind == "flash" and not r.external]
    ram = sorted(_data_ram(board), key=lambda r: SPEED_RANK[r.speed])
    code = code_region(board)
    chosen["code"] = code.name
    if chosen["weights"] is None:  # with the code if both fit there, else the first on-chip flash that holds them
        room[code.name] -= CODE_BYTES
        fits = [r for r in on_chip_flash if room[r.name] >= network["weights_bytes"]] or [code]
        chosen["weights"] = code.name if code in fits else fits[0].name
    if not ram:
        raise BoardError(f"board '{board.name}' lists no on-chip RAM region")
    spans = contiguous_spans(board)
    if network.get("fast_arena_bytes"):  # the planner sized it for the fastest RAM, beside the stack
        chosen["fast_arena"] = ram[0].name
        _occupy(room, ram[0].name, network["fast_arena_bytes"])
    for part, need in (("arena", main_arena_bytes(network)), ("stack", stack_bytes(network))):
        if chosen[part] is None:
            # the fastest place with room; the arena may also span regions that follow each other in the address
            # space, where that is faster than any single region holding it (or none does)
            free = [(SPEED_RANK[r.speed], 0, r.name) for r in ram if room[r.name] >= need]
            if part == "arena" and "fast_arena" in chosen:  # the rest of the fast RAM is the stack's
                free = [c for c in free if c[2] != chosen["fast_arena"]]
            if part == "arena":
                rank = [(max(SPEED_RANK[r.speed] for r in span), 1, _span_name(span)) for span in spans]
                free += [c for c, span in zip(rank, spans, strict=True) if sum(room[r.name] for r in span) >= need]
            free.sort(key=lambda c: c[:2])  # stable: YAML order among equals
            # where nothing has room, the roomiest: the linker then says by how much it overflows
            chosen[part] = free[0][2] if free else max(ram, key=lambda r: room[r.name]).name
        _occupy(room, chosen[part], need)
    return chosen


def code_region(board: Board) -> MemoryRegion:
    """Where the vectors and code go: the region the placement names, else the first on-chip flash. Also
    where ``flash`` finds the vector table."""
    on_chip_flash = [r for r in board.memory if r.kind == "flash" and not r.external]
    if board.placement.code is not None:
        return next(r for r in board.memory if r.name == board.placement.code)
    if board.placement.load == "ram" or not on_chip_flash:
        raise BoardError(
            f"board '{board.name}' has no on-chip flash: placement.code must name the RAM region the image is loaded to"
        )
    return on_chip_flash[0]


def _occupy(room: dict[str, int], where: str, need: int) -> None:
    """Take ``need`` bytes of ``where``'s room; the regions of a span (``A+B``) are the arena's alone."""
    names = where.split("+")
    for name in names:
        if name in room:
            room[name] = room[name] - need if len(names) == 1 else 0


def contiguous_spans(board: Board) -> list[list[MemoryRegion]]:
    """Runs of two or more on-chip RAM regions that follow each other in the address space (STM32U5's
    SRAM1-3, the STM32N6's AXISRAMs), smallest first: an arena no single region holds can span one."""
    ram = sorted(_data_ram(board), key=lambda r: int(r.origin))
    spans = []
    for i in range(len(ram)):
        for j in range(i + 1, len(ram)):
            if int(ram[j].origin) != ram[j - 1].end:
                break
            spans.append(ram[i : j + 1])
    return sorted(spans, key=lambda span: (sum(int(r.size) for r in span), max(SPEED_RANK[r.speed] for r in span)))


def _span_name(span: list[MemoryRegion]) -> str:
    return "+".join(r.name for r in span)


def _data_ram(board: Board) -> list[MemoryRegion]:
    """The on-chip RAM data may go to by default: not a region at address 0 (the M7's ITCM), where the first
    array would be a null pointer to C."""
    return [r for r in board.memory if r.kind == "ram" and not r.external and int(r.origin) != 0]


def linker_script(board: Board, placement: dict[str, str], hot: list[str] = ()) -> str:
    """The board's regions and where each part goes; ``hot`` constant arrays (their ``.rodata.NAME`` sections,
    one per array with -fdata-sections) are linked to run from ``placement["hot_weights"]`` and copied there
    from flash by the startup code, before the rest of .rodata claims them."""
    regions = {r.name: r for r in board.memory}
    entries = {}  # MEMORY entry -> (origin, length); a span of regions is one entry named A_B
    for value in dict.fromkeys(placement.values()):
        span = [regions[name] for name in value.split("+")]
        entries[value.replace("+", "_")] = (int(span[0].origin), sum(int(r.size) for r in span))
    memory = "\n".join(
        f"  {name} (rwx) : ORIGIN = {origin:#x}, LENGTH = {size}" for name, (origin, size) in entries.items()
    )
    code, weights, arena, stack = (placement[p].replace("+", "_") for p in ("code", "weights", "arena", "stack"))
    fast_arena = ""
    if "fast_arena" in placement:  # before .bss, whose *(.bss*) would take it otherwise
        region = placement["fast_arena"]
        fast_arena = f"  .fast_arena (NOLOAD) : {{ . = ALIGN(16); *(.bss.ep_fast_arena) }} > {region}\n"
    load = "" if board.placement.load == "ram" else f" AT > {code}"
    hot_region = (placement.get("hot_weights") or weights).replace("+", "_")
    hot_inputs = " ".join(f"*(.rodata.{name})" for name in hot)
    hot_to = hot_region + (f" AT > {code}" if hot and load else "")
    return f"""/* Generated by edgepose for {board.name}: code in {code}, weights in {weights}, arena in {arena},
   stack, .data and .bss in {stack}{" (the image is loaded into RAM by a debugger)" if load == "" else ""}. */
ENTRY(Reset_Handler)
MEMORY
{{
{memory}
}}
SECTIONS
{{
  .text : {{ KEEP(*(.vectors)) *(.text*) *(.glue_7*) }} > {code}
  .hot_weights : {{ . = ALIGN(16); __hot_start = .; {hot_inputs} . = ALIGN(4); __hot_end = .; }} > {hot_to}
  __hot_load = LOADADDR(.hot_weights);
  .rodata : {{ . = ALIGN(16); *(.rodata*) . = ALIGN(4); }} > {weights}
  .ARM.exidx : {{ *(.ARM.exidx*) }} > {code}
  .data : {{ . = ALIGN(4); __data_start = .; *(.data*) . = ALIGN(4); __data_end = .; }} > {stack}{load}
  __data_load = LOADADDR(.data);
{fast_arena}  .bss (NOLOAD) : {{ __bss_start = .; *(.bss*) *(COMMON) . = ALIGN(4); __bss_end = .; }} > {stack}
  .arena (NOLOAD) : {{ . = ALIGN(16); *(.arena) }} > {arena}
  .input (NOLOAD) : {{ . = ALIGN(16); *(.input) }} > {arena if fast_arena else stack}
  .stack (NOLOAD) : {{ . = ALIGN(8); . = . + {STACK_BYTES}; __stack_top = .; }} > {stack}
  {BOARD_SECTION} 0 (INFO) : {{ KEEP(*({BOARD_SECTION})) }}
  end = __bss_end;
}}
"""


# ---- ep_board.h: the board's facts for the drivers ----


def board_header(board: Board, placement: dict[str, str], info_bytes: int) -> str:
    d = {"EP_BOARD_NAME": f'"{board.name}"', "EP_INFO_CAPACITY": f"{info_bytes + RUNTIME_INFO_BYTES}u"}
    clock, uart, family = board.clock, board.uart, board.mcu.family
    planned = clock.sysclk_hz if clock else board.cpu.clock_hz
    reset = clock.reset_hz if clock else board.cpu.clock_hz
    d |= {"EP_CPU_HZ": f"{planned}u", "EP_RESET_HZ": f"{reset}u"}
    d["EP_CLOCK_PLAN"] = int(bool(clock and clock.pll))
    no_pll = (
        f"no PLL in the board's clock plan: the core runs on {clock.oscillator}" if clock and not clock.pll else None
    )
    d["EP_CLOCK_NOTE"] = _c_string(no_pll) if no_pll else "0"
    if clock and clock.pll:
        p = clock.pll
        d |= {"EP_PLL_M": f"{p.m}u", "EP_PLL_N": f"{p.n}u", "EP_PLL_P": f"{p.p}u", "EP_PLL_Q": f"{p.q}u"}
        d |= {"EP_PLL_R": f"{p.r}u", "EP_PLL_RANGE": f"{pll_range(board)}u"}
        d |= {"EP_HSE_BYPASS": int(clock.oscillator == "hse-bypass"), "EP_FLASH_LATENCY": f"{clock.flash_latency}u"}
        d |= {"EP_HPRE": f"{AHB_DIVS[clock.ahb_div]:#x}u", "EP_PPRE1": f"{APB_DIVS[clock.apb1_div]:#x}u"}
        d |= {"EP_PPRE2": f"{APB_DIVS[clock.apb2_div]:#x}u", "EP_VOLTAGE_SCALE": clock.voltage_scale}
        d |= {"EP_OVERDRIVE": int(clock.overdrive), "EP_SUPPLY_DIRECT_SMPS": int(clock.supply == "direct-smps")}
    d |= {"EP_UART_BAUD": f"{uart.baud}u", "EP_UART_BUS_HZ": f"{uart_kernel_hz(board)}u"}
    d |= _uart_defines(board) if family != "cmsdk" else {"EP_UART_BASE": f"{int(uart.base):#x}u"}
    d |= {"EP_HAS_DWT": int(board.cpu.core in CORES_WITH_DWT), "EP_DWT_LOCKED": int(board.cpu.core == "cortex-m7")}
    if board.qemu:  # an emulator's SysTick runs at the machine's own rate, whatever the firmware sets
        d["EP_SYSTICK_HZ"] = f"{board.cpu.clock_hz}u"
        extra = f',"emulated":"qemu -icount shift={board.qemu.icount_shift}",'
        extra += f'"instructions_per_s":{10**9 // 2**board.qemu.icount_shift}'
        d["EP_TIMER_EXTRA"] = _c_string(extra)
    else:
        d["EP_TIMER_EXTRA"] = '""'
    caches = {"icache", "dcache"} <= set(board.cpu.features)
    d |= {"EP_CACHES": int(caches), "EP_MPU_V8": int(board.cpu.arch and board.cpu.arch.startswith("armv8") or 0)}
    d |= {"EP_MPU_FLASH": MPU_KINDS["flash"], "EP_MPU_RAM": MPU_KINDS["ram"], "EP_MPU_RAM_CODE": MPU_KINDS["ram-code"]}
    if caches:
        d["EP_MPU_REGIONS"] = "{" + ", ".join(_mpu_region(board, r, placement) for r in board.memory) + "}"
    lines = [f"/* Generated by edgepose for {board.name} from its YAML: do not edit. */", "#ifndef EP_BOARD_DEFS_H"]
    lines += ["#define EP_BOARD_DEFS_H"] + [f"#define {k} {v}" for k, v in d.items()] + ["#endif"]
    return "\n".join(lines) + "\n"


def pll_range(board: Board) -> int:
    """The PLL input range field for the reference clock oscillator / m (RM0433 PLL1RGE; RM0456 PLL1RGE)."""
    ref = board.clock.oscillator_hz // board.clock.pll.m
    if board.mcu.family == "stm32h7":  # 1-2, 2-4, 4-8, 8-16 MHz, each from its lower bound
        return sum(ref >= low for low in (2_000_000, 4_000_000, 8_000_000))
    if board.mcu.family == "stm32u5":  # 4-8 MHz, or 8-16 MHz
        return 0 if ref < 8_000_000 else 3
    return 0


def uart_kernel_hz(board: Board) -> int:
    """The console USART's clock once the plan is reached: its APB bus clock (the reset-default kernel clock)."""
    if not board.clock or not board.clock.pll or board.mcu.family == "cmsdk":
        return board.clock.reset_hz if board.clock else board.cpu.clock_hz
    _, _, bus = load_table(board.mcu.family).gate(board.uart.peripheral)
    apb = board.clock.apb2_div if bus == "apb2" else board.clock.apb1_div
    return board.clock.sysclk_hz // board.clock.ahb_div // apb


def _uart_defines(board: Board) -> dict:
    table, uart = load_table(board.mcu.family), board.uart
    instance = table.peripherals.get(uart.peripheral)
    if instance is None:
        raise BoardError(f"board '{board.name}': uart.peripheral {uart.peripheral} is not in the {table.family} table")
    if uart.base is not None and int(uart.base) != instance.base:
        raise BoardError(
            f"board '{board.name}': uart.base {int(uart.base):#x} is not {uart.peripheral}'s base "
            f"{instance.base:#x} in targets/firmware/registers/{table.family}.yaml"
        )
    register, mask, _ = table.gate(uart.peripheral)
    d = {"EP_UART_BASE": f"{uart.peripheral}_BASE", "EP_UART_GATE": register, "EP_UART_GATE_MSK": mask}
    d["EP_UART_AF"] = f"{uart.af}u"
    for end, pin in (("TX", uart.tx), ("RX", uart.rx)):
        port = f"GPIO{pin[1]}"
        if port not in table.peripherals:
            raise BoardError(
                f"board '{board.name}': uart.{end.lower()} {pin}: port {port} is not in the {table.family} table"
            )
        register, mask, _ = table.gate(port)
        d |= {f"EP_UART_{end}_PORT": f"{port}_BASE", f"EP_UART_{end}_PIN": f"{int(pin[2:])}u"}
        d |= {f"EP_UART_{end}_GATE": register, f"EP_UART_{end}_GATE_MSK": mask}
    return d


def _mpu_region(board: Board, region: MemoryRegion, placement: dict[str, str]) -> str:
    kind = "flash" if region.kind == "flash" else "ram-code" if placement["code"] == region.name else "ram"
    size_log2 = max(5, math.ceil(math.log2(int(region.size))))
    v7 = not (board.cpu.arch or "").startswith("armv8")
    if v7 and int(region.origin) % (1 << size_log2):
        raise BoardError(
            f"board '{board.name}': memory region {region.name} at {int(region.origin):#x} is not aligned to its "
            f"size rounded to a power of two ({1 << size_log2:#x}), which an Armv7-M MPU region needs"
        )
    return f"{{{int(region.origin):#010x}u, {region.end - 1:#010x}u, {MPU_KINDS[kind]}u, {size_log2}u}}"


# ---- INFO, build, and reading the ELF back ----


def info_json(board: Board, model: Path, network: dict, placement: dict[str, str] | None = None) -> str:
    """The static part of INFO; the firmware closes it with the clock and timer it actually got."""
    graph = read_graph(model)

    def spec(index: int) -> dict:
        t = graph.tensors[index]
        return {
            "name": t.name,
            "dtype": t.dtype.lower(),
            "shape": list(t.shape),
            "bytes": t.nbytes,
            "scale": float(t.scale[0]) if len(t.scale) else None,
            "zero_point": int(t.zero_point[0]) if len(t.zero_point) else None,
        }

    tiling = network.get("tiling")
    untiled = {"arena_untiled_bytes": tiling["arena_before"]} if tiling else {}  # what patch-based execution saved
    info = {
        "protocol": 1,
        "target": board.backend,
        "board": board.name,
        "cpu": {"model": board.cpu.core, "arch": board.cpu.arch, "cores": 1, "clock_hz": board.cpu.clock_hz},
        "model": {"name": model.name, "sha256": sha256_path(model), "bytes": model.stat().st_size},
        "runtime": {"name": "edgepose-c", "version": "1", "threads": 1, "kernels": network.get("kernels", "portable")},
        "inputs": [spec(i) for i in graph.inputs],
        "outputs": [spec(i) for i in graph.outputs],
        "memory": {
            "arena_bytes": network["arena_bytes"],
            "weights_bytes": network["weights_bytes"],
            **untiled,
            **({"fast_arena_bytes": network["fast_arena_bytes"]} if network.get("fast_arena_bytes") else {}),
            **({"placement": placement} if placement else {}),
        },
        "load_ms": 0,
    }
    return json.dumps(info, separators=(",", ":"))[:-1]  # without its closing brace


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_firmware(network_dir: Path, model: Path, board: Board, build_dir: Path) -> FirmwareBuild:
    """Link the benchmark firmware for ``board``; raises BoardError when it does not fit."""
    for tool in ("arm-none-eabi-gcc", "arm-none-eabi-size", "make"):
        if shutil.which(tool) is None:
            raise EdgeposeError(f"'{tool}' not found: run `make setup` (installs gcc-arm-none-eabi) or apt-get it")
    network = json.loads((Path(network_dir) / "network.json").read_text())
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    drivers = driver_sources(board)
    placement = place(board, network)
    (build_dir / "ep_regs.h").write_text(header("cortex_m", board.mcu.family))
    info = info_json(board, Path(model), network, placement)
    (build_dir / "ep_board.h").write_text(board_header(board, placement, len(info.encode())))
    (build_dir / "ep_info.c").write_text(
        "#include <stdint.h>\n"
        f"const char ep_info_head[] = {_c_string(info)};\n"
        f"const uint32_t ep_info_head_size = {len(info.encode())}u;\n"
        f'__attribute__((section("{BOARD_SECTION}"), used)) const char ep_board_name[] = {_c_string(board.name)};\n'
    )
    command = [
        "make", "-s", "-f", str(firmware_dir() / "Makefile"),
        f"NETWORK={Path(network_dir).resolve()}", f"BUILD={build_dir.resolve()}",
        f"DRIVERS={' '.join(drivers)}", f"LDSCRIPT={(build_dir / 'board.ld').resolve()}",
        f"CPU_FLAGS={' '.join(cpu_flags(board))}",
    ]  # fmt: skip
    hot_region, hot = hot_weights(board, placement, network)
    # the room left for hot weights is an estimate (.bss is known only once linked): where they overflow the
    # region, the firmware is linked again without them, rather than refusing a model that fits
    for copies in [hot, []] if hot else [[]]:
        linked = {**placement, "hot_weights": hot_region} if copies else placement
        (build_dir / "board.ld").write_text(linker_script(board, linked, copies))
        result = subprocess.run(command, capture_output=True, text=True)
        if not result.returncode:
            break
    if result.returncode:
        overflow = re.search(r"region `(\w+)' overflowed by (\d+) bytes", result.stderr)
        if overflow:
            parts = ", ".join(p for p, r in placement.items() if r.replace("+", "_") == overflow.group(1))
            raise BoardError(
                f"{model.name} does not fit {board.name}: region {overflow.group(1)} ({parts}) overflowed by "
                f"{int(overflow.group(2))} bytes (arena {network['arena_bytes']} B, weights "
                f"{network['weights_bytes']} B); choose a smaller model or input size, or a bigger board"
            )
        raise EdgeposeError(f"firmware build for {board.name} failed: {result.stderr.strip()[-1500:]}")
    placement = linked
    build = _sizes(build_dir / "firmware.elf")
    build.placement = placement
    build.regions = region_use(build_dir / "firmware.elf", board)
    return build


def _sizes(elf: Path) -> FirmwareBuild:
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return FirmwareBuild(elf, text, data, bss, text + data, data + bss)


def region_use(elf: Path, board: Board) -> list[dict]:
    """How full each memory region of ``board`` is in ``elf``: every allocated section by its run address,
    and ``.data``'s initial values where they are loaded from."""
    use = {
        r.name: {"name": r.name, "origin": int(r.origin), "size": int(r.size), "used": 0, "sections": []}
        for r in board.memory
    }
    for section in allocated_sections(elf):
        for address, role in ((section.address, "run"), (section.load_address, "load")):
            if role == "load" and address == section.address:
                continue
            for region in board.memory:  # a section may span regions that follow each other
                overlap = min(address + section.size, region.end) - max(address, int(region.origin))
                if overlap > 0:
                    use[region.name]["used"] += overlap
                    what = section.name if role == "run" else f"{section.name} (initial values)"
                    use[region.name]["sections"].append(what)
    for entry in use.values():
        entry["free"] = entry["size"] - entry["used"]
    return [e for e in use.values() if e["sections"]]
