"""Board definitions: the built-in ones are complete, users can add their own, bad ones are one line."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgepose.boards import BOARDS_PATH_ENV, find_board, load_board_file, load_boards
from edgepose.console import human_bytes
from edgepose.errors import BoardError

REPO = Path(__file__).resolve().parents[1]
REQUIRED = {
    "host",
    "rpi4",
    "rpi5",
    "nucleo-h743zi2",
    "stm32h747i-disco",
    "nucleo-f446re",
    "nucleo-u575zi-q",
    "stm32n6570-dk",
    "qemu-m7",
    "qemu-m55",
    "qemu-m4",
    "qemu-m33",
}
MINIMAL = "backend: rpi\ndescription: test board\ncpu: {core: cortex-a53}\nlinux: {arch: aarch64}\n"


def test_built_in_boards_load():
    boards = load_boards()
    assert set(boards) >= REQUIRED
    for name, board in boards.items():
        assert board.name == name and board.source.name == f"{name}.yaml"


@pytest.mark.parametrize("name", sorted(n for n in REQUIRED if n.startswith(("nucleo", "stm32", "qemu"))))
def test_mcu_boards_have_what_firmware_needs(name):
    board = find_board(name)
    assert board.is_mcu
    assert board.total("flash") > 0 and board.total("ram") > 0
    assert board.uart is not None and board.uart.base is not None
    assert board.cpu.clock_hz and board.cpu.core.startswith("cortex-m")


def test_emulated_boards_name_their_qemu_machine():
    machines = {name: find_board(name).qemu.machine for name in ("qemu-m7", "qemu-m55", "qemu-m4", "qemu-m33")}
    assert machines == {
        "qemu-m7": "mps2-an500", "qemu-m55": "mps3-an547", "qemu-m4": "netduinoplus2", "qemu-m33": "mps2-an505"
    }  # fmt: skip
    assert find_board("qemu-m7").cpu.cycle_counter == "systick"  # QEMU has no DWT cycle counter


def test_sizes_and_addresses_parse():
    board = find_board("nucleo-f446re")
    flash = next(r for r in board.memory if r.kind == "flash")
    assert (flash.origin, flash.size) == (0x08000000, 512 * 1024)
    assert board.total("ram") == 128 * 1024
    assert board.usb.vid == 0x0483


def test_user_boards_extend_and_replace_built_ins(tmp_path, monkeypatch):
    (tmp_path / "my-pi.yaml").write_text(MINIMAL)
    (tmp_path / "rpi5.yaml").write_text(MINIMAL.replace("test board", "my own rpi5"))
    monkeypatch.setenv(BOARDS_PATH_ENV, str(tmp_path))
    boards = load_boards()
    assert boards["my-pi"].cpu.core == "cortex-a53"
    assert boards["rpi5"].description == "my own rpi5"
    assert "qemu-m7" in boards


def test_board_from_a_file_path(tmp_path):
    path = tmp_path / "bench-rig.yaml"
    path.write_text(MINIMAL)
    assert find_board(str(path)).name == "bench-rig"


def test_unknown_board_suggests_the_closest():
    with pytest.raises(BoardError, match=r"unknown board 'nucleo-f446'; did you mean 'nucleo-f446re'\?"):
        find_board("nucleo-f446")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL + "colour: 3\n", "bad.yaml:5: colour: unknown key"),
        (MINIMAL.replace("rpi", "esp32"), "bad.yaml:1: backend: input should be 'host', 'rpi'"),
        (
            "backend: qemu\ndescription: x\ncpu: {core: cortex-m3}\n",
            "bad.yaml: a 'qemu' board needs memory (at least one flash and one ram region), uart, mcu (its peripheral "
            "family), qemu",
        ),
        (
            "backend: stm32\ndescription: x\ncpu: {core: cortex-m0}\nuart: {peripheral: U1}\n"
            "memory:\n  - {name: F, kind: flash, origin: 0x0, size: 12Q}\n",
            "bad.yaml:6: memory[0].size: expected a size such as 512K or 2M",
        ),
        ("- a\n", "bad.yaml: expected a mapping"),
        ("backend: [\n", "YAML syntax error"),
    ],
)
def test_bad_board_file_is_one_line(tmp_path, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(BoardError) as info:
        load_board_file(path)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_boards_path_that_is_not_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(BOARDS_PATH_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(BoardError, match="is not a folder"):
        load_boards()


@pytest.mark.slow
def test_wheel_ships_the_board_definitions(tmp_path):
    """An installed (not editable) edgepose finds targets/ inside its own package."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    wheel = next(tmp_path.glob("edgepose-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for board in REQUIRED:
        assert f"edgepose/targets/{board}.yaml" in names
    assert "edgepose/cli/__init__.py" in names and "edgepose/config/schema.py" in names


def test_targets_list_figures_agree_with_each_boards_description(edgepose):
    """What a board's description says of its flash and RAM is what the table shows (within ST's rounding:
    "786 KB" of RAM is 784 KiB plus a backup SRAM)."""
    import re

    from edgepose.boards import load_boards

    table = edgepose("targets", "list").stdout
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[1:]] for line in table.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}  # fmt: skip
    units = {"KB": 1024, "MB": 1024 * 1024}
    checked = 0
    for board in load_boards().values():
        for kind, label in (("flash", "flash"), ("ram", "RAM")):
            said = re.search(rf"([\d.]+) (KB|MB) {label}\b", board.description)
            if not said or not board.is_mcu:
                continue
            described = float(said.group(1)) * units[said.group(2)]
            listed = board.total(kind, external=False)
            assert abs(listed - described) <= 0.03 * described, (board.name, kind, listed, described)
            column = 4 if kind == "flash" else 5
            assert rows[board.name][column] == human_bytes(listed), (board.name, rows[board.name])
            checked += 1
    assert checked >= 10


def test_the_kernel_variant_comes_from_the_core_and_a_missing_one_is_refused():
    assert find_board("qemu-m7").kernels() == "dsp" and find_board("qemu-m7").kernels("portable") == "portable"
    assert find_board("host").kernels() == "portable" and find_board("qemu-m55").kernels() == "mve"
    with pytest.raises(BoardError, match="cannot run the 'dsp' kernels"):
        find_board("host").kernels("dsp")
