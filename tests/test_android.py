"""Phones: TensorFlow Lite's ``benchmark_model`` output read into the common report (the formats its source
prints: with and without op profiling, with and without percentiles, several delegates, an older tool's),
``edgepose report import``, and ``edgepose benchmark --target`` of an Android board driven through adb.

No phone can be attached where tests run, so the adb driven here is a STAND-IN (``tests/standin_adb.py``):
a script on PATH that records every call and answers as a phone would, replaying ``benchmark_model``
output. Everything else — the CLI, the checks, the waiting for the phone to cool, the parser, the report —
is the real code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from modelfiles import small_tflite

from edgepose.bench.benchmark_model import parse, report_from_log
from edgepose.bench.report import load_report
from edgepose.errors import DataError

LOGS = Path(__file__).parent / "data" / "benchmark_model"
STANDIN = Path(__file__).parent / "standin_adb.py"
SERIAL = "R5CT20ABCDE"


# ---------------------------------------------------------------------------------------------- the parser


def test_a_run_with_percentiles_and_op_profiling_is_read_whole():
    log = parse((LOGS / "xnnpack_op_profiling.log").read_text())
    assert log.delegate == "xnnpack" and log.threads == 4
    assert (log.warmup.count, log.inference.count) == (198, 412)
    assert (log.inference.min, log.inference.median, log.inference.p95) == (2281, 2367, 2796)
    assert log.timings_us == {
        "Init": 21804,
        "First inference": 6114,
        "Warmup (avg)": 2525.19,
        "Inference (avg)": 2426.77,
    }
    assert log.memory_mb == {"init": 7.5625, "overall": 9.98047, "peak": 14.1172}
    # the timed runs' Run Order, the node index after the name dropped; initialization apart
    assert [(op["type"], op["name"], op["avg_ms"]) for op in log.ops] == [
        ("TfLiteXNNPackDelegate", "tiny/heatmaps/BiasAdd;tiny/heatmaps/conv", 2.204),
        ("QUANTIZE", "heatmaps", 0.053),
    ]
    assert [op["type"] for op in log.init_ops] == ["ModifyGraphWithDelegate", "AllocateTensors"]
    assert [(t["type"], t["count"], t["percent"]) for t in log.op_types] == [
        ("TfLiteXNNPackDelegate", 1, 97.651),
        ("QUANTIZE", 1, 2.349),
    ]
    assert "Explicitly applied XNNPACK delegate" in " ".join(log.delegation)


def test_a_gpu_run_without_percentiles_reports_the_average_as_such():
    log = parse((LOGS / "gpu.log").read_text())
    assert log.delegate == "gpu" and log.ops == [] and log.inference.median is None
    report = report_from_log(log, {"name": "pixel", "backend": "android"})
    latency = report["latency"]
    assert latency["p50"] == 1536.2 and latency["p50_is_mean"] is True and "p95" not in latency
    assert (latency["runs"], latency["min"], latency["max"], latency["std"]) == (651, 1431, 2877, 98)
    assert report["first_inference"] == 9412 and report["load_ms"] == 412.51
    assert (report["warmup"]["runs"], report["warmup"]["mean"], report["warmup"]["max"]) == (311, 1603.4, 9412)
    assert report["model"]["name"] == "tiny_fp16.tflite" and report["model"]["bytes"] == 327104
    assert report["output_check"]["passed"] is None and report["profile"] is None
    assert any("Replacing 53 out of 53 node(s)" in line for line in report["delegation"])


def test_an_older_tool_without_log_prefixes_and_with_a_start_column_is_read():
    log = parse((LOGS / "nnapi_older_tool.log").read_text())
    assert log.delegate == "nnapi" and log.threads == 1
    assert log.warmup.count == 1 and log.warmup.min == log.warmup.max == 8201  # "count=1 curr=8201"
    assert log.timings_us == {"Init": 95100, "Warmup (avg)": 8201, "Inference (avg)": 7821.5}
    assert [(op["start_ms"], op["avg_ms"]) for op in log.ops] == [(0.0, 7.79), (7.791, 0.028)]
    report = report_from_log(log, {"name": "old-phone", "backend": "android"})
    assert report["first_inference"] == 8201  # the warmup's first run: the older tool prints no "First inference"


def test_a_run_that_failed_is_one_line_naming_the_file_and_the_tools_error():
    with pytest.raises(DataError) as error:
        parse((LOGS / "gpu_failed.log").read_text(), "gpu_failed.log")
    message = str(error.value)
    assert message.startswith("gpu_failed.log: no benchmark_model timings")
    assert "Failed to create GPU delegate: OpenCL library not loaded" in message and "\n" not in message


# ---------------------------------------------------------------------------------------------- report import


def test_report_import_writes_a_report_that_show_reads(edgepose, tmp_path):
    out = tmp_path / "phone.json"
    done = edgepose("report", "import", str(LOGS / "xnnpack_op_profiling.log"), "--device", "pixel7", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = load_report(out)
    assert report["target"]["name"] == "pixel7" and report["runtime"]["delegate"] == "xnnpack"
    assert report["latency"]["unit"] == "us" and report["latency"]["p50"] == 2367
    assert report["memory"]["peak_footprint_bytes"] == round(14.1172 * 2**20)
    shown = edgepose("report", "show", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "not checked" in shown.stdout and "2,367.0 µs" in shown.stdout and "TfLiteXNNPackDelegate" in shown.stdout


def test_report_import_of_a_failed_run_writes_nothing(edgepose, tmp_path):
    out = tmp_path / "phone.json"
    done = edgepose("report", "import", str(LOGS / "gpu_failed.log"), "--device", "pixel7", "--out", str(out))
    assert done.returncode == 2 and "OpenCL library not loaded" in done.stderr
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- adb


def _elf(path: Path, machine: int) -> Path:
    """An executable's ELF header for ``machine`` (183: AArch64, 62: x86-64): what the ABI check reads."""
    path.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44))
    return path


@pytest.fixture
def phone(tmp_path):
    """The stand-in adb on PATH, a phone description it answers from, and a board file for that phone that
    polls its temperature without pausing (``cool_poll_s: 0``)."""
    state, bin_dir, boards = tmp_path / "adb-state", tmp_path / "bin", tmp_path / "boards"
    for folder in (state, bin_dir, boards):
        folder.mkdir()
    adb = bin_dir / "adb"
    adb.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDIN} "$@"\n')
    adb.chmod(0o755)
    (boards / "test-phone.yaml").write_text(
        "backend: android\ndescription: a phone answered by the stand-in adb\n"
        "cpu: {core: cortex-a78, arch: aarch64}\nandroid: {max_temp_c: 45, cool_timeout_s: 600, cool_poll_s: 0}\n"
    )
    description = {
        "devices": {SERIAL: "device"},
        "properties": {
            "ro.product.model": "Pixel 7",
            "ro.product.manufacturer": "Google",
            "ro.soc.model": "GS201",
            "ro.product.cpu.abi": "arm64-v8a",
            "ro.build.version.release": "14",
        },  # fmt: skip
        "thermal": [
            {"cpu-1-0-usr": 52100, "battery": 31000},
            {"cpu-1-0-usr": 47300, "battery": 31000},
            {"cpu-1-0-usr": 43900, "battery": 30500},
        ],  # fmt: skip
        "benchmark_output": str(LOGS / "xnnpack_op_profiling.log"),
    }

    def describe(**changes) -> None:
        (state / "phone.json").write_text(json.dumps({**description, **changes}))

    describe()
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "STANDIN_ADB_STATE": str(state),
        "EDGEPOSE_BOARDS_PATH": str(boards),
    }
    return {"env": env, "state": state, "describe": describe, "tool": _elf(tmp_path / "benchmark_model", 183)}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return small_tflite(tmp_path_factory.mktemp("phone") / "small_int8.tflite", True)


def _calls(phone) -> list[list[str]]:
    lines = (phone["state"] / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_benchmark_pushes_waits_for_the_phone_to_cool_runs_benchmark_model_and_reports(
    edgepose, phone, model, tmp_path
):
    out = tmp_path / "phone.json"
    done = edgepose(
        "benchmark", str(model), "--target", "test-phone", "--benchmark-model", str(phone["tool"]),
        "--delegate", "gpu", "--threads", "4", "--warmup", "2", "--runs", "20", "--profile", "--out", str(out),
        env=phone["env"],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    calls = _calls(phone)
    assert calls[0] == ["devices"]
    shell = [" ".join(c[3:]) for c in calls if c[:3] == ["-s", SERIAL, "shell"]]
    pushed = [c[4] for c in calls if c[2:3] == ["push"]]
    assert pushed == ["/data/local/tmp/edgepose/benchmark_model", "/data/local/tmp/edgepose/small_int8.tflite"]
    thermal = [i for i, command in enumerate(shell) if command.startswith("for z in /sys/class/thermal")]
    (run,) = [i for i, command in enumerate(shell) if "benchmark_model --graph" in command]
    assert len(thermal) == 3 and thermal[-1] < run  # 52.1 and 47.3 °C: waited; 43.9 °C: ran
    flags = shell[run].split()[1:]
    for flag in ("--graph=/data/local/tmp/edgepose/small_int8.tflite", "--num_threads=4", "--warmup_runs=2",
                 "--num_runs=20", "--min_secs=0", "--use_gpu=true", "--enable_op_profiling=true"):  # fmt: skip
        assert flag in flags
    report = load_report(out)
    assert report["target"]["backend"] == "android" and report["target"]["board"] == "Google Pixel 7"
    assert report["target"]["cpu"]["abi"] == "arm64-v8a" and report["target"]["link"] == f"adb -s {SERIAL}"
    assert report["model"]["name"] == "small_int8.tflite" and report["model"]["kind"] == "int8"
    assert report["device_info"]["thermal_c"]["cpu-1-0-usr"] == pytest.approx(43.9)
    assert report["settings"]["delegate"] == "gpu" and report["latency"]["p50"] == 2367


@pytest.mark.parametrize(
    ("devices", "args", "expected"),
    [
        ({}, [], "no Android device attached (adb devices lists none)"),
        ({SERIAL: "unauthorized"}, [], f"Android device {SERIAL} is unauthorized: unlock it and accept"),
        ({SERIAL: "device", "emulator-5554": "device"}, [], "several Android devices attached"),
        ({SERIAL: "device"}, ["--device", "R5CT99"], "no Android device 'R5CT99' attached"),
        ({SERIAL: "offline"}, ["--device", SERIAL], f"Android device {SERIAL} is offline: reconnect it"),
    ],
)
def test_each_way_a_phone_is_not_ready_is_one_line(edgepose, phone, model, tmp_path, devices, args, expected):
    phone["describe"](devices=devices)
    out = tmp_path / "phone.json"
    done = edgepose("benchmark", str(model), "--target", "test-phone", "--out", str(out), *args, env=phone["env"])
    assert done.returncode == 2 and expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()


def test_adb_missing_from_path_is_one_line(edgepose, phone, model, tmp_path):
    env = {**phone["env"], "PATH": str(Path(sys.executable).parent)}  # this Python's folder only: no adb
    done = edgepose("benchmark", str(model), "--target", "test-phone", env=env)
    assert done.returncode == 2 and "'adb' not found on PATH" in done.stderr


def test_a_benchmark_model_built_for_another_abi_is_refused_before_it_is_pushed(edgepose, phone, model, tmp_path):
    (tmp_path / "x86").mkdir()
    x86 = _elf(tmp_path / "x86" / "benchmark_model", 62)
    done = edgepose("benchmark", str(model), "--target", "test-phone", "--benchmark-model", str(x86), env=phone["env"])
    assert done.returncode == 2 and "is built for x86_64, the phone runs arm64-v8a" in done.stderr
    assert not [c for c in _calls(phone) if "push" in c]


def test_a_benchmark_model_on_the_phone_that_cannot_run_there_is_named(edgepose, phone, model, tmp_path):
    # one pushed earlier for another ABI, already on the phone at the default path: the shell refuses it
    on_phone = phone["state"] / "fs" / "data" / "local" / "tmp" / "edgepose"
    on_phone.mkdir(parents=True)
    _elf(on_phone / "benchmark_model", 62).chmod(0o755)
    done = edgepose("benchmark", str(model), "--target", "test-phone", env=phone["env"])
    assert done.returncode == 2
    assert "/data/local/tmp/edgepose/benchmark_model on R5CT20ABCDE is not a arm64-v8a program" in done.stderr


def test_no_benchmark_model_on_the_phone_says_how_to_give_one(edgepose, phone, model):
    done = edgepose("benchmark", str(model), "--target", "test-phone", env=phone["env"])
    assert done.returncode == 2 and "no benchmark_model at /data/local/tmp/edgepose/benchmark_model" in done.stderr
    assert "--benchmark-model" in done.stderr


def test_a_phone_that_does_not_cool_is_an_error_not_a_throttled_number(edgepose, phone, model, tmp_path):
    boards = Path(phone["env"]["EDGEPOSE_BOARDS_PATH"])
    text = (boards / "test-phone.yaml").read_text().replace("cool_timeout_s: 600", "cool_timeout_s: 0")
    (boards / "test-phone.yaml").write_text(text)
    out = tmp_path / "phone.json"
    args = ("--benchmark-model", str(phone["tool"]), "--out", str(out))
    done = edgepose("benchmark", str(model), "--target", "test-phone", *args, env=phone["env"])
    assert done.returncode == 2 and "is still at 52.1 °C (cpu-1-0-usr)" in done.stderr and not out.exists()
    assert not [c for c in _calls(phone) if any("--graph=" in word for word in c)]


def test_a_pipeline_measures_a_phone_beside_the_host_and_compares_them(edgepose, phone, model, tmp_path):
    config = tmp_path / "phone.yaml"
    config.write_text(
        f"general: {{model_path: {model}, mlflow_uri: null}}\noperation_mode: benchmarking\n"
        f"benchmark: {{warmup: 2, runs: 20}}\n"
        f"targets:\n  - {{board: test-phone, benchmark_model: {phone['tool']}, delegate: nnapi}}\n  - host\n"
    )
    done = edgepose("pipeline", str(config), "--out", "run", env=phone["env"])
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads((tmp_path / "run" / "summary.json").read_text())["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [("benchmark", "done"), ("compare", "done")]
    phone_report = load_report(tmp_path / "run" / "benchmark" / "test-phone-nnapi.json")
    assert phone_report["settings"]["delegate"] == "nnapi" and phone_report["latency"]["unit"] == "us"
    (run,) = [c for c in _calls(phone) if any("--graph=" in word for word in c)]
    assert "--use_nnapi=true" in " ".join(run) and "--num_runs=20" in " ".join(run)
    page = (tmp_path / "run" / "compare" / "compare.html").read_text()
    assert "test-phone" in page and "host" in page
    from edgepose.summary import write_summary

    summary = write_summary(tmp_path / "run", tmp_path / "summary.html").read_text()
    (row,) = [r for r in summary.split("<tr>") if "test-phone" in r]
    assert "2.367 ms" in row and "not checked" in row and f"{round(14.1172 * 2**20):,} B" in row
