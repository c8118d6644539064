"""Firmware for the STM32 boards on users' desks, proven as far as this machine can: register tables checked
against the vendors' descriptions, drivers that use nothing else, a firmware for every listed board whose
ELF sits in that board's memory map, the NUCLEO-F446RE's firmware running for real on an emulated STM32F4
(QEMU netduinoplus2) over USART2, and `flash` refusing a firmware built for another board."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from modelfiles import small_tflite

from edgepose.backends import flash as flashing
from edgepose.backends.qemu import PTY_LINE, qemu_command
from edgepose.boards import find_board, load_boards
from edgepose.codegen import registers
from edgepose.codegen.elf import allocated_sections, board_name, entry_and_vectors
from edgepose.codegen.firmware import DRIVERS, firmware_dir
from edgepose.errors import BoardError

MCU_BOARDS = sorted(name for name, board in load_boards().items() if board.is_mcu)
PHYSICAL = sorted(name for name in MCU_BOARDS if find_board(name).backend == "stm32")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return small_tflite(tmp_path_factory.mktemp("boards") / "small_int8.tflite", int8=True, size=32)


@pytest.fixture(scope="module")
def built(model, tmp_path_factory):
    """The compile of ``model`` for a board, once per board: {board: (out folder, compile report)}."""
    from edgepose.codegen.compile import compile_for_board

    root, cache = tmp_path_factory.mktemp("firmware"), {}

    def build(board: str):
        if board not in cache:
            out = root / board
            cache[board] = out, compile_for_board(model, board, out)
        return cache[board]

    return build


# ---- register tables ----


def test_every_driver_family_has_a_table_whose_entries_name_their_sources():
    assert set(registers.families()) == set(DRIVERS) | {"cortex_m"}
    for family in registers.families():
        table = registers.load_table(family)
        assert table.peripherals and all(table.sources.values())
        for p in table.peripherals.values():
            assert set(p.sources) <= set(table.sources)
            for r in p.registers:
                assert set(r.sources) <= set(table.sources)
                assert all(set(f.sources) <= set(table.sources) for f in r.fields)


def _pyocd_svd(name: str) -> dict:
    return registers.read_svd(registers.pyocd_svd(name))


def test_the_stm32f4_table_agrees_with_the_svds_in_pyocds_wheel():
    table = registers.load_table("stm32f4")
    f41x, f429 = _pyocd_svd("STM32F41x.svd"), _pyocd_svd("STM32F429x.svd")
    checked_f41x, wrong_f41x = registers.check_against_svd(table, f41x, "pyocd-f41x")
    checked_f429, wrong_f429 = registers.check_against_svd(table, f429, "pyocd-f429")
    assert wrong_f41x == [] and wrong_f429 == []
    # every peripheral, register and field of the table is under one of the two checks
    entries = [(p.sources, p.name) for p in table.peripherals.values()]
    entries += [(r.sources, r.name) for p in table.peripherals.values() for r in p.registers]
    entries += [(f.sources, f.name) for p in table.peripherals.values() for r in p.registers for f in r.fields]
    assert all({"pyocd-f41x", "pyocd-f429"} & set(sources) for sources, _ in entries)
    assert checked_f41x + checked_f429 >= len(entries) == 73


def test_a_wrong_bit_or_address_in_a_table_is_caught(tmp_path):
    text = registers.load_table("stm32f4").path.read_text()
    wrong = text.replace("HSERDY: 17", "HSERDY: 18").replace("base: 0x40004400", "base: 0x40004800")
    (tmp_path / "stm32f4.yaml").write_text(wrong)
    table = registers.read_table(tmp_path / "stm32f4.yaml")
    _, found = registers.check_against_svd(table, _pyocd_svd("STM32F41x.svd"), "pyocd-f41x")
    assert found == ["RCC.CR.HSERDY: bits (18, 1), vendor (17, 1)", "USART2: base 0x40004800, vendor 0x40004400"]


def test_a_device_header_is_read_like_an_svd():
    """U5 and N6 tables are checked against ST's CMSIS device headers where no SVD is at hand: the reader
    gives the same structure, here on a header excerpt in that format."""
    header = """
#define PERIPH_BASE_NS           (0x40000000UL)
#define APB2PERIPH_BASE_NS       (PERIPH_BASE_NS + 0x00010000UL)
#define USART1_BASE_NS           (APB2PERIPH_BASE_NS + 0x3800UL)
typedef struct
{
  __IO uint32_t CR1;         /*!< USART Control register 1,                 Address offset: 0x00  */
  __IO uint32_t ISR;         /*!< USART Interrupt and status register,      Address offset: 0x1C  */
} USART_TypeDef;
#define USART_ISR_TXE_Pos                   (7U)
#define USART_ISR_TXE_Msk                   (0x1UL << USART_ISR_TXE_Pos)
#define USART_CR1_UE_Pos                    (0U)
#define USART_CR1_UE_Msk                    (0x1UL << USART_CR1_UE_Pos)
"""
    found = registers.read_device_header(header)
    assert found["USART1"]["base"] == 0x40013800
    assert found["USART"]["registers"]["ISR"] == {"offset": 0x1C, "fields": {"TXE": (7, 1)}}


def _driver_files(family: str) -> list[Path]:
    common = [firmware_dir() / name for name in ("board.c", "timer.c", "cortex_m.c", "startup.c")]
    return common + [firmware_dir() / "drivers" / name for name in DRIVERS[family]]


@pytest.mark.parametrize("family", sorted(DRIVERS))
def test_drivers_touch_only_registers_and_fields_from_the_tables(family):
    defined = set(re.findall(r"#define (\w+)", registers.header("cortex_m", family)))
    for path in _driver_files(family):
        code = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        addresses = set(re.findall(r"\b0x[0-9A-Fa-f]{5,}", code)) - {"0xC5ACCE55"}  # the DWT unlock key, a value
        assert not addresses, f"{path.name} spells addresses itself: {addresses}"
        enums = " ".join(re.findall(r"enum\s*\{([^}]*)\}", code))
        local = set(re.findall(r"#define (\w+)", code)) | set(re.findall(r"(\w+)\s*=", enums))
        used = set(re.findall(r"\b[A-Z][A-Z0-9]*_\w+", code)) - local  # local names are values
        used = {name for name in used if not name.startswith("EP_")}  # the board's facts, from ep_board.h
        assert used <= defined, f"{path.name} uses {sorted(used - defined)}, which no table defines"
        for register, field in re.findall(r"EP_FIELD\((\w+), (\w+),", code):
            assert f"{register}_{field}_Msk" in defined, f"{path.name}: {register}.{field} is in no table"


# ---- boards and their YAML ----


def test_board_yaml_mistakes_are_one_line(tmp_path):
    source = find_board("nucleo-h743zi2").source.read_text()
    cases = {
        "clock": (source.replace("n: 240", "n: 200"), "= 400000000 Hz, but cpu.clock_hz is 480000000"),
        "placement": (source + "placement: {arena: SRAM9}\n", "placement.arena: no memory region named 'SRAM9'"),
        "pins": (source.replace("tx: PD8, ", ""), "needs tx, rx and af"),
        "pin": (source.replace("tx: PD8", "tx: PD18"), "uart.tx"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(BoardError) as info:
            find_board(str(path))
        message = str(info.value)
        assert expected in message and "\n" not in message, (name, message)


# ---- a firmware for every listed board ----


@pytest.mark.slow
@pytest.mark.parametrize("name", MCU_BOARDS)
def test_every_board_gets_a_firmware_laid_out_in_its_own_memory_map(built, name):
    board = find_board(name)
    out, report = built(name)
    elf = out / "firmware" / "firmware.elf"
    regions = {r.name: r for r in board.memory}
    placement = report["placement"]

    def region_of(address: int) -> str:
        return next(r.name for r in board.memory if r.origin <= address < r.end)

    entry, vectors, stack_top, reset = entry_and_vectors(elf)
    assert board_name(elf) == name
    assert vectors == regions[placement["code"]].origin  # the vector table opens the code region
    assert reset == entry and reset & 1 and region_of(entry & ~1) == placement["code"]  # Thumb code, in its region
    assert region_of(stack_top - 4) == placement["stack"]
    sections = {s.name: s for s in allocated_sections(elf)}
    where = {
        ".text": "code",
        ".rodata": "weights",
        ".data": "stack",
        ".bss": "stack",
        ".arena": "arena",
        ".stack": "stack",
    }
    assert set(where) - {".data"} <= set(sections)  # .data may be empty, so absent
    for section, part in where.items():
        if section not in sections:
            continue
        s = sections[section]
        assert region_of(s.address) == region_of(s.address + s.size - 1) == placement[part], section
    loaded = [s for s in sections.values() if s.loaded]
    if board.placement.load == "flash":  # everything the loader writes goes to flash
        assert {regions[region_of(s.load_address)].kind for s in loaded} == {"flash"}
    else:
        assert {regions[region_of(s.load_address)].kind for s in loaded} == {"ram"}
    # the linker script's MEMORY is the YAML's, region by region
    script = (out / "firmware" / "board.ld").read_text()
    for region_name in set(placement.values()):
        r = regions[region_name]
        assert f"{r.name} (rwx) : ORIGIN = {r.origin:#x}, LENGTH = {int(r.size)}" in script
    # the compile report: the clock set up, and the fit of each region used
    assert report["clock"]["core_hz"] == (board.clock.sysclk_hz if board.clock else board.cpu.clock_hz)
    for r in report["regions"]:
        assert 0 < r["used"] <= r["size"] == int(regions[r["name"]].size) and r["free"] == r["size"] - r["used"]


@pytest.mark.slow
def test_the_h7_firmware_runs_from_dtcm_and_takes_its_board_facts_from_the_yaml(built):
    out, report = built("nucleo-h743zi2")
    assert report["placement"] == {
        "code": "FLASH", "weights": "FLASH", "arena": "DTCM", "stack": "DTCM", "hot_weights": "DTCM"
    }  # fmt: skip
    # the most-read weights run from DTCM, copied there from flash at start-up: all of them, in so small a model
    hot = next(s for s in allocated_sections(out / "firmware" / "firmware.elf") if s.name == ".hot_weights")
    network = json.loads((out / "network" / "network.json").read_text())
    every_array = sum(-(-size // 16) * 16 for layer in network["layers_detail"] for size in layer["constants"].values())
    assert hot.size >= every_array - 16 and hot.address >> 28 == 0x2 and hot.load_address >> 24 == 0x08
    header = (out / "firmware" / "ep_board.h").read_text()
    for line in ("EP_UART_BASE USART3_BASE", "EP_UART_TX_PORT GPIOD_BASE", "EP_UART_TX_PIN 8u", "EP_UART_AF 7u",
                 "EP_UART_GATE RCC_APB1LENR", "EP_UART_BUS_HZ 120000000u", "EP_PLL_RANGE 2u", "EP_VOLTAGE_SCALE 0",
                 "EP_CACHES 1", "EP_MPU_V8 0", "EP_DWT_LOCKED 1"):  # fmt: skip
        assert f"#define {line}" in header
    assert "EP_SYSTICK_HZ" not in header  # a board's SysTick runs at the clock the firmware set


def test_hot_weights_are_the_most_read_bytes_that_fit_the_tcm():
    from edgepose.codegen.firmware import hot_weights

    board = find_board("nucleo-h743zi2")
    layers = [
        {"macs": 5_000_000, "constants": {"big": 200_000}},  # 25 reads a byte, but larger than the DTCM
        {"macs": 1_000, "constants": {"rare": 100}},  # 10 reads a byte
        {"macs": 100_000, "constants": {"hot": 1_000, "bias": 0}},  # 100 reads a byte; an empty array stays
        {"macs": 0, "constants": {"table": 256}},  # a view: never read by a MAC
    ]
    network = {"arena_bytes": 100_000, "input_bytes": 0, "layers_detail": layers}
    in_axi = {"code": "FLASH", "weights": "FLASH", "arena": "AXI_SRAM", "stack": "AXI_SRAM"}
    assert hot_weights(board, in_axi, network) == ("DTCM", ["hot", "rare"])
    network["arena_bytes"] = 131_072 - 1_100  # the arena in DTCM leaves room for "hot" only
    assert hot_weights(board, in_axi | {"arena": "DTCM"}, network) == ("DTCM", ["hot"])
    assert hot_weights(find_board("stm32n6570-dk"), in_axi, network) == (None, [])  # runs from RAM already


@pytest.mark.slow
def test_hot_weights_that_overflow_their_region_are_left_in_flash_not_the_model_refused(model, tmp_path, monkeypatch):
    """The room for hot weights is an estimate; where it is wrong the firmware links again without them."""
    from edgepose.codegen import firmware
    from edgepose.codegen.compile import compile_for_board

    boards = tmp_path / "boards"
    boards.mkdir()
    source = find_board("nucleo-h743zi2").source.read_text()
    (boards / "small-dtcm.yaml").write_text(
        source.replace("origin: 0x20000000, size: 128K", "origin: 0x20000000, size: 4K")
    )
    monkeypatch.setenv("EDGEPOSE_BOARDS_PATH", str(boards))
    every_array = []

    def too_many(board, placement, network):  # every array, into the 4 KB DTCM the arena already holds
        every_array[:] = [name for layer in network["layers_detail"] for name in layer["constants"]]
        return "DTCM", every_array

    monkeypatch.setattr(firmware, "hot_weights", too_many)
    report = compile_for_board(model, "small-dtcm", tmp_path / "out")
    assert every_array and report["placement"]["arena"] == "DTCM" and "hot_weights" not in report["placement"]
    sections = {s.name: s for s in allocated_sections(tmp_path / "out" / "firmware" / "firmware.elf")}
    hot = sections.get(".hot_weights")
    assert hot is None or (hot.size < 16 and hot.address >> 24 == 0x08)  # alignment at most: all in flash


@pytest.mark.slow
def test_an_arena_no_region_holds_spans_adjacent_ones_and_stays_bit_exact(edgepose, tmp_path):
    """Two 16 KB TCM regions that follow each other hold a 29 KB arena between them (faster than the 1 MB
    region that could hold it alone); on the emulated M7 the outputs stay byte for byte TFLite's."""
    model = small_tflite(tmp_path / "small96_int8.tflite", int8=True, size=96)
    boards = tmp_path / "boards"
    boards.mkdir()
    source = find_board("qemu-m7").source.read_text()
    ram = "  - {name: SSRAM23, kind: ram, origin: 0x20000000, size: 4M, note: ZBT SSRAM2 and 3}"
    assert ram in source
    split = (
        "  - {name: RAM_A, kind: ram, origin: 0x20000000, size: 16K, speed: tcm}\n"
        "  - {name: RAM_B, kind: ram, origin: 0x20004000, size: 16K, speed: tcm}\n"
        "  - {name: RAM_C, kind: ram, origin: 0x20100000, size: 1M}"
    )
    (boards / "split-m7.yaml").write_text(source.replace(ram, split))
    env = {"EDGEPOSE_BOARDS_PATH": str(boards)}
    done = edgepose("compile", str(model), "--target", "split-m7", "--out", str(tmp_path / "c"), env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "c" / "compile_report.json").read_text())
    assert report["placement"]["arena"] == "RAM_A+RAM_B" and report["placement"]["stack"] == "RAM_C"
    arena = report["arena_bytes"]
    regions = {r["name"]: r for r in report["regions"]}
    assert 16 * 1024 < arena <= 32 * 1024 and regions["RAM_A"]["used"] == 16 * 1024
    assert regions["RAM_A"]["used"] + regions["RAM_B"]["used"] >= arena and ".arena" in regions["RAM_B"]["sections"]
    assert (
        "RAM_A_RAM_B (rwx) : ORIGIN = 0x20000000, LENGTH = 32768"
        in (tmp_path / "c" / "firmware" / "board.ld").read_text()
    )
    run = edgepose(
        "benchmark", str(model), "--target", "split-m7", "--runs", "1", "--out", str(tmp_path / "r.json"), env=env
    )
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "r.json").read_text())["output_check"]["passed"]


# ---- the F4 driver family for real: the NUCLEO-F446RE's firmware in an emulated STM32F405 ----


@pytest.mark.slow
def test_the_nucleo_f446re_firmware_serves_the_benchmark_over_usart2_of_an_emulated_stm32f4(
    edgepose, built, model, tmp_path
):
    """QEMU's netduinoplus2 is an STM32F405: the F446 firmware's RCC, GPIO and USART2 code runs on it. QEMU
    emulates no RCC, so the HSE never starts: the firmware stays on its 16 MHz reset clock and says so, and
    QEMU's DWT does not count, so it times with SysTick and says that too."""
    out, _ = built("nucleo-f446re")
    command = qemu_command(find_board("qemu-m4"), out / "firmware" / "firmware.elf", console="USART2")
    assert command[command.index("-kernel") - 6 : command.index("-icount")] == ["-serial", "null", "-serial", "pty"]
    qemu = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        pty = next(m.group(1) for line in qemu.stdout if (m := PTY_LINE.search(line)))
        done = edgepose(
            "benchmark", str(model), "--target", "nucleo-f446re", "--port", pty, "--runs", "2", "--warmup", "1",
            "--out", str(tmp_path / "f446.json"),
        )  # fmt: skip
    finally:
        qemu.kill()
        qemu.wait()
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "f446.json").read_text())
    assert report["output_check"]["passed"] and report["device_info"]["board"] == "nucleo-f446re"
    clock, timer = report["device_info"]["clock"], report["device_info"]["timer"]
    assert clock == {
        "hz": 16_000_000, "planned_hz": 180_000_000, "source": "reset", "uart_kernel_hz": 16_000_000,
        "note": "HSE did not start: no clock on the oscillator pins",
    }  # fmt: skip
    assert timer == {"hz": 16_000_000, "source": "systick", "note": "the DWT cycle counter does not count"}
    assert "HSE did not start" in done.stdout and "DWT cycle counter does not count" in done.stdout


# ---- flashing ----


@pytest.mark.slow
def test_flash_refuses_a_firmware_built_for_another_board(edgepose, built):
    out, _ = built("nucleo-f446re")
    elf = out / "firmware" / "firmware.elf"
    done = edgepose("flash", str(elf), "--target", "nucleo-h743zi2", "--method", "openocd", "--dry-run")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {elf} was built for nucleo-f446re, not nucleo-h743zi2; build one for this board with "
        "`edgepose compile MODEL --target nucleo-h743zi2`"
    )


@pytest.mark.slow
def test_flash_dry_run_takes_its_addresses_from_the_board(edgepose, built):
    h7 = built("nucleo-h743zi2")[0] / "firmware" / "firmware.elf"
    done = edgepose("flash", str(h7), "--target", "nucleo-h743zi2", "--method", "openocd", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "target/stm32h7x.cfg" in done.stdout and f"program {h7} verify reset exit" in done.stdout
    gdb = edgepose("flash", str(h7), "--target", "nucleo-h743zi2", "--dry-run", "--gdb", "127.0.0.1:9")
    assert "target extended-remote 127.0.0.1:9" in gdb.stdout and "*(unsigned int *)0x8000000'" in gdb.stdout
    # the N6 has no flash: the image is loaded into AXISRAM2 after a core reset and started from its vectors
    n6 = built("stm32n6570-dk")[0] / "firmware" / "firmware.elf"
    gdb = edgepose("flash", str(n6), "--target", "stm32n6570-dk", "--dry-run")
    assert "monitor reset halt" in gdb.stdout and "*(unsigned int *)0x34100000'" in gdb.stdout
    refused = edgepose("flash", str(n6), "--target", "stm32n6570-dk", "--method", "stm32cubeprogrammer", "--dry-run")
    assert refused.returncode == 2 and "has no flash" in refused.stderr
    assert flashing.vector_table(find_board("stm32n6570-dk")) == 0x34100000
