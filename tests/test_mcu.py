"""The STM32 path on emulated boards: `edgepose compile` (generated C + benchmark firmware, memory report
beside TFLite Micro's arena), `edgepose benchmark` on QEMU Cortex-M7, Cortex-M55 and Cortex-M4 machines over a pty
with outputs checked byte for byte against the tflite-micro interpreter, `edgepose flash` through QEMU's
real gdbstub with gdb-multiarch, and the board fit check."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from modelfiles import small_tflite
from opmodels import LANDMARK_HEADS, landmark_tflite
from processes import wait_until_computing, wait_until_listening

from edgepose.boards import find_board


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return small_tflite(tmp_path_factory.mktemp("mcu") / "small_int8.tflite", int8=True, size=32)


def test_compile_writes_c_firmware_and_a_memory_report_beside_tflite_micro(edgepose, model, tmp_path):
    done = edgepose("compile", str(model), "--target", "qemu-m7", "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "out" / "compile_report.json").read_text())
    for name in ("ep_network.c", "ep_network.h", "ep_weights.c", "ep_kernels.c", "README.md"):
        assert (tmp_path / "out" / "network" / name).is_file()
    assert (tmp_path / "out" / "firmware" / "firmware.elf").is_file()
    assert report["tflm_arena_bytes"] > report["arena_bytes"] > 0
    assert report["ram_vs_tflm"] == round(report["arena_bytes"] / report["tflm_arena_bytes"], 3)
    assert report["code_bytes"] > 0 and report["weights_bytes"] > 0
    assert report["firmware"]["ram_bytes"] >= report["arena_bytes"]
    assert "RAM vs TFLite Micro" in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-m7", "qemu-m55", "qemu-m4", "qemu-m33"])
def test_benchmark_on_an_emulated_board_matches_the_reference_byte_for_byte(edgepose, model, board, tmp_path):
    done = edgepose(
        "benchmark", str(model), "--target", board, "--runs", "4", "--warmup", "1", "--profile",
        "--out", str(tmp_path / "report.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    check = report["output_check"]
    assert check["passed"] and check["outputs"][0]["identical"] == 1.0 and check["outputs"][0]["max_abs_diff"] == 0
    assert report["target"]["backend"] == "qemu" and report["runtime"]["name"] == "edgepose-c"
    # by default the fastest kernels the core runs: Helium on the M55, the DSP extension on the others
    assert report["runtime"]["kernels"] == ("mve" if board == "qemu-m55" else "dsp")
    assert report["timer"]["emulated"].startswith("qemu -icount")
    instructions = report["latency"]
    assert (
        instructions["unit"] == "instructions" and instructions["p50"] > 10_000 and "throughput_ips" not in instructions
    )
    assert (instructions["max"] - instructions["min"]) / instructions["p50"] < 1e-3  # -icount: deterministic
    layers = report["profile"]
    assert [entry["name"] for entry in layers] == ["0:CONV_2D", "1:DEPTHWISE_CONV_2D", "2:CONV_2D"]
    total = sum(entry["ticks"] for entry in layers)
    assert 0.9 < total / (sum(report["samples_ticks"]) / len(report["samples_ticks"])) <= 1.0


@pytest.mark.slow
def test_emulated_instructions_are_never_shown_as_time_nor_compared_with_it(edgepose, model, tmp_path):
    for target in ("host", "qemu-m7"):
        done = edgepose("benchmark", str(model), "--target", target, "--runs", "5", "--warmup", "1", "--profile",
                        "--out", str(tmp_path / f"{target}.json"))  # fmt: skip
        assert done.returncode == 0, done.stderr
    emulated = json.loads((tmp_path / "qemu-m7.json").read_text())
    assert emulated["latency"]["unit"] == "instructions" and "throughput_ips" not in emulated["latency"]
    assert all(isinstance(v, int) for v in emulated["samples"]) and isinstance(emulated["first_inference"], int)
    shown = edgepose("report", "show", str(tmp_path / "qemu-m7.json"))
    assert shown.returncode == 0, shown.stderr
    assert "instructions" in shown.stdout and not re.search(r"µs|\bms\b|inferences/s", shown.stdout), shown.stdout
    assert "layers by cost" in shown.stdout and "2:CONV_2D" in shown.stdout
    # a measured report and an emulated one are not one scale: no ratio between them, no regression
    pictures = ("--png", str(tmp_path / "c.png"), "--html", str(tmp_path / "c.html"))
    compared = edgepose("report", "compare", str(tmp_path / "host.json"), str(tmp_path / "qemu-m7.json"),
                        "--fail-over", "5", *pictures)  # fmt: skip
    assert compared.returncode == 0, compared.stdout
    rows = [line for line in compared.stdout.splitlines() if "small_int8" in line]
    assert len(rows) == 2 and all("baseline" in row for row in rows)
    emulated_row = next(row for row in rows if "qemu-m7" in row)
    assert "instructions" in emulated_row and "µs" not in emulated_row
    page = (tmp_path / "c.html").read_text()
    assert "compared only with each other" in page


@pytest.fixture(scope="module")
def landmark_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("landmarks")
    return {n: landmark_tflite(folder / f"landmarks{n}.tflite", n) for n in sorted(LANDMARK_HEADS)}


@pytest.mark.slow
@pytest.mark.parametrize("board", ["qemu-m7", "qemu-m55"])
def test_every_output_of_models_with_several_outputs_is_served_bit_exact(edgepose, landmark_models, board, tmp_path):
    """The firmware runs the network on the arena's own input and output locations (no copies), so this
    also proves the layout of several outputs in the arena on the device."""
    from edgepose.runtime.tflite_io import tflite_io

    for count, model in landmark_models.items():
        report_path = tmp_path / f"{count}.json"
        done = edgepose(
            "benchmark", str(model), "--target", board, "--runs", "2", "--warmup", "0", "--out", str(report_path)
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(report_path.read_text())
        _, specs = tflite_io(model.read_bytes())
        served = report["device_info"]["outputs"]
        assert [o["bytes"] for o in served] == [int(np.prod(s.shape)) for s in specs]
        check = report["output_check"]
        assert [o["name"] for o in check["outputs"]] == [o["name"] for o in served] and len(served) == count
        for output in check["outputs"]:
            assert output["passed"] and output["identical"] == 1.0 and output["max_abs_diff"] == 0, (count, output)
        assert check["passed"]


def _dsp_layers(x):
    """Every shape path of the fast kernels: im2col with K = 27, the 3x3 depthwise ring at stride 1 and 2 with a
    partial channel group, a 5x5 depthwise, 1x1 with an odd channel count and an odd K, a strided 1x1, and a
    residual ADD over an element count that is not a multiple of 4 (17 x 15 x 7)."""
    from keras import layers

    x = layers.Conv2D(12, 3, strides=2, padding="same", activation="relu6")(x)
    x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = layers.Conv2D(7, 1)(x)
    x = layers.Add()([x, layers.DepthwiseConv2D(3, padding="same")(x)])
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = layers.DepthwiseConv2D(5, activation="relu")(x)
    return layers.Conv2D(5, 1, strides=2)(x)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("board", "kernels"),
    [("qemu-m4", "dsp"), ("qemu-m7", "dsp"), ("qemu-m33", "dsp"), ("qemu-m55", "dsp"), ("qemu-m55", "mve")],
)
def test_the_fast_kernels_are_bit_exact_on_every_emulated_core(edgepose, board, kernels, tmp_path):
    """The DSP kernels' assembly and the Helium vector code run only on an Arm core: here, against tflite-micro,
    on each emulated one."""
    from opmodels import int8_tflite

    model = int8_tflite(tmp_path / "dsp_layers.tflite", _dsp_layers, (33, 29, 3), seed=7)
    done = edgepose("compile", str(model), "--target", board, "--kernels", kernels, "--no-firmware", "--out", "c")
    assert done.returncode == 0, done.stderr
    network = (tmp_path / "c" / "network" / "ep_network.c").read_text()
    assert network.count("_dsp_s8(") + network.count("_mve_s8(") == 8 and "ep_add_s8(" not in network
    assert network.count("_mve_s8(") == (8 if kernels == "mve" else 0)
    report_path = tmp_path / "report.json"
    done = edgepose(
        "benchmark", str(model), "--target", board, "--kernels", kernels, "--runs", "2", "--warmup", "0",
        "--out", str(report_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(report_path.read_text())
    assert report["runtime"]["kernels"] == kernels
    assert report["output_check"]["passed"] and report["output_check"]["outputs"][0]["identical"] == 1.0


def test_the_fastest_kernels_that_fit_are_chosen_and_a_named_variant_is_never_swapped(edgepose, tmp_path):
    """The DSP kernels keep int16 weights in flash: on a board with room for the int8 ones only, auto falls back
    to the portable kernels and says so; asked for dsp, compile refuses with the numbers."""
    from opmodels import int8_tflite

    def build(x):
        from keras import layers

        return layers.Conv2D(64, 3, padding="same")(x)

    model = int8_tflite(tmp_path / "wide.tflite", build, (8, 8, 64), seed=2)  # 36,864 int8 weights
    boards = tmp_path / "boards"
    boards.mkdir()
    text = (Path(__file__).parents[1] / "targets" / "qemu-m7.yaml").read_text()
    (boards / "small-flash-m7.yaml").write_text(text.replace("size: 4M, note: ZBT SSRAM1", "size: 80K, note: ZBT"))
    env = {"EDGEPOSE_BOARDS_PATH": str(boards)}
    done = edgepose("compile", str(model), "--target", "small-flash-m7", "--out", "auto", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "auto" / "compile_report.json").read_text())
    assert report["kernels"] == "portable" and "dsp" in report["kernels_not_fitting"]
    assert "the dsp kernels do not fit" in done.stderr
    done = edgepose("compile", str(model), "--target", "small-flash-m7", "--kernels", "dsp", "--out", "d", env=env)
    assert done.returncode == 2 and "does not fit small-flash-m7" in done.stderr


@pytest.mark.slow
def test_a_16x8_model_runs_end_to_end_bit_exact_on_emulated_boards(edgepose, tmp_path):
    """quantization.activations=int16: quantize a Keras landmark model, then benchmark the 16x8 file on
    the emulated Cortex-M7 and M55, every output byte equal to tflite-micro."""
    from modelfiles import image_folder
    from opmodels import landmark_keras

    model = landmark_keras(tmp_path / "landmarks.keras", 5)
    made = edgepose("data", "calib", "--from", str(image_folder(tmp_path / "frames", count=8)), "--n", "8",
                    "--input-size", "64", "--name", "frames", "--root", str(tmp_path / "calib"))  # fmt: skip
    assert made.returncode == 0, made.stderr
    settings = ("quantization.activations=int16", "quantization.advice=false")
    done = edgepose("quantize", str(model), "--calib", str(tmp_path / "calib" / "frames"), *settings,
                    "--out", str(tmp_path / "q"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    quantized = tmp_path / "q" / "landmarks_int16x8.tflite"
    assert (
        json.loads((tmp_path / "q" / "quant_report.json").read_text())["artifacts"][1]["inputs"][0]["dtype"] == "int16"
    )
    for board in ("qemu-m7", "qemu-m55"):
        report_path = tmp_path / f"{board}.json"
        ran = edgepose("benchmark", str(quantized), "--target", board, "--runs", "2", "--warmup", "0",
                       "--out", str(report_path))  # fmt: skip
        assert ran.returncode == 0, ran.stderr
        report = json.loads(report_path.read_text())
        assert report["model"]["kind"] == "int16x8"
        assert len(report["output_check"]["outputs"]) == 5
        assert (
            all(o["identical"] == 1.0 for o in report["output_check"]["outputs"]) and report["output_check"]["passed"]
        )


def _qemu_running(elf_folder: Path) -> int:
    """The pid of the qemu-system-arm whose firmware was built under ``elf_folder``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if entry.name.isdigit() and command.startswith("qemu-system-arm") and str(elf_folder) in command:
                return int(entry.name)
        time.sleep(0.2)
    raise AssertionError(f"no qemu-system-arm running a firmware from {elf_folder}")


@pytest.mark.slow
def test_an_emulator_killed_mid_run_is_one_line_no_report_and_no_build_left(landmark_models, tmp_path):
    """The emulated board's build goes to the temporary folder and is removed after the run, whether the
    run succeeds or the board dies under it."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    cli = Path(sys.executable).parent / "edgepose"
    env = {**os.environ, "TMPDIR": str(scratch)}
    ok = subprocess.run(
        [str(cli), "benchmark", str(landmark_models[2]), "--target", "qemu-m7", "--runs", "2", "--warmup", "0",
         "--out", str(tmp_path / "ok.json")],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert not list(scratch.glob("edgepose-qemu-*"))
    out = tmp_path / "r.json"
    run = subprocess.Popen(
        [str(cli), "benchmark", str(landmark_models[5]), "--target", "qemu-m7", "--runs", "256", "--warmup", "1000",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    qemu = _qemu_running(scratch)
    wait_until_computing(qemu, 3.0)  # booted, input uploaded: in the middle of the runs
    os.kill(qemu, signal.SIGKILL)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 2, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: qemu-m7 (qemu mps2-an500, /dev/pts/") and "Traceback" not in stderr, stderr
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))
    assert not list(scratch.glob("edgepose-qemu-*"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_flash_through_qemus_gdbstub_then_benchmark_over_its_uart(edgepose, model, tmp_path):
    assert edgepose("compile", str(model), "--target", "qemu-m7", "--out", str(tmp_path / "fw")).returncode == 0
    elf = tmp_path / "fw" / "firmware" / "firmware.elf"
    port = _free_port()
    board = find_board("qemu-m7")
    # an emulated board with empty memory, halted, its gdbstub listening: the firmware arrives only by gdb
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-M", board.qemu.machine, "-cpu", board.qemu.cpu, "-display", "none", "-monitor", "none",
         "-serial", "pty", "-icount", "shift=0", "-gdb", f"tcp:127.0.0.1:{port}", "-S"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        pty = re.search(r"/dev/pts/\d+", qemu.stdout.readline()).group(0)
        wait_until_listening(port)  # the gdbstub comes up after the serial port is announced
        flashed = edgepose("flash", str(elf), "--target", "qemu-m7", "--gdb", f"127.0.0.1:{port}")
        assert flashed.returncode == 0, flashed.stderr
        done = edgepose(
            "benchmark", str(model), "--target", "qemu-m7", "--port", pty, "--runs", "2", "--warmup", "0",
            "--out", str(tmp_path / "r.json"),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads((tmp_path / "r.json").read_text())["output_check"]["passed"]
    finally:
        qemu.kill()
        qemu.wait()


def test_a_model_too_big_for_the_board_is_refused_with_the_numbers(edgepose, model, tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    source = (find_board("qemu-m7").source).read_text()
    (boards / "tiny-ram.yaml").write_text(source.replace("size: 4M, note: ZBT SSRAM2 and 3", "size: 2K"))
    done = edgepose(
        "compile", str(model), "--target", "tiny-ram", "--out", str(tmp_path / "out"),
        env={"EDGEPOSE_BOARDS_PATH": str(boards)},
    )  # fmt: skip
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert "does not fit tiny-ram" in line and "2,048 B" in line and "arena" in line
    assert not (tmp_path / "out" / "network").exists()
