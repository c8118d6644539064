"""What a user who brings their own files meets when something is wrong: one line naming their file and
what to do, exit code 2, no traceback, nothing half-written left behind."""

from __future__ import annotations

import json
import re

import pytest
from modelfiles import small_tflite


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory):
    return small_tflite(tmp_path_factory.mktemp("models") / "small_int8.tflite", int8=True, size=32)


def _one_line_error(done) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "verb",
    [("inspect",), ("evaluate",), ("benchmark",), ("compile", "--target", "qemu-m7", "--no-firmware")],
    ids=lambda verb: verb[0],
)
def test_a_truncated_tflite_is_one_line_in_every_verb(edgepose, int8_model, tmp_path, verb):
    truncated = tmp_path / "cut.tflite"
    truncated.write_bytes(int8_model.read_bytes()[:1500])
    line = _one_line_error(edgepose(verb[0], str(truncated), *verb[1:]))
    assert line.startswith("error: ") and "cut.tflite: not a readable .tflite file" in line and "export it" in line


def test_benchmark_with_a_runtime_that_cannot_run_the_file_says_how(edgepose, int8_model):
    line = _one_line_error(edgepose("benchmark", str(int8_model), "--runtime", "onnxruntime"))
    assert "small_int8.tflite: ONNX Runtime runs .onnx files" in line and "--backend onnx" in line
    line = _one_line_error(edgepose("benchmark", str(int8_model), "--runtime", "tensorrt"))
    assert "--runtime 'tensorrt': host runs litert or onnxruntime" in line


def test_a_normalization_assumed_for_a_brought_model_is_said_and_recorded(edgepose, tmp_path):
    brought = small_tflite(tmp_path / "brought.tflite", int8=False, size=32)  # no sidecar: from elsewhere
    done = edgepose("export", str(brought), "--format", "onnx", "--out", "assumed")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert "brought.tflite has no sidecar (brought.tflite.json): assuming its input is scale 0.00784314" in said
    manifest = json.loads((tmp_path / "assumed" / "manifest.json").read_text())
    (model,) = [entry for entry in manifest["inputs"] if entry["role"] == "model"]
    assert model["normalization_from"] == "assumed" and model["normalization"]["offset"] == -1.0
    flags = ("--scale", "1/255", "--offset", "0", "--color", "bgr")
    told = edgepose("export", str(brought), "--format", "onnx", *flags, "--out", "told")
    assert told.returncode == 0 and "no sidecar" not in told.stderr
    manifest = json.loads((tmp_path / "told" / "manifest.json").read_text())
    (model,) = [entry for entry in manifest["inputs"] if entry["role"] == "model"]
    assert model["normalization_from"] == "flags" and model["normalization"]["color"] == "bgr"


LIBRARY_LINES = re.compile(
    r"^[IWEF]\d{4} |oneDNN|cuda|XNNPACK|absl|TensorFlow|tensorflow|fully_quantize|onnxruntime|tf2onnx|UserWarning",
    re.MULTILINE,
)


@pytest.mark.parametrize("tf_level", [None, "0"], ids=["default", "TF_CPP_MIN_LOG_LEVEL=0"])
def test_no_library_log_lines_reach_the_terminal(edgepose, int8_model, tmp_path, tf_level):
    env = {"EDGEPOSE_CACHE": str(tmp_path / "cache")}
    if tf_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = tf_level
    float_model = small_tflite(tmp_path / "float.tflite", int8=False, size=32)
    runs = [
        ("benchmark", str(int8_model), "--runs", "3", "--out", "r.json"),
        ("export", str(float_model), "--format", "onnx", "--scale", "1/255", "--offset", "0", "--out", "ex"),
        ("compile", str(int8_model), "--target", "qemu-m7", "--no-firmware", "--out", "c"),
    ]
    for args in runs:
        done = edgepose(*args, env=env)
        assert done.returncode == 0, done.stderr
        assert not LIBRARY_LINES.search(done.stdout + done.stderr), (args[0], done.stdout + done.stderr)
    assert LIBRARY_LINES.search((tmp_path / "ex" / "edgepose.log").read_text())  # kept in the run's log
    assert "XNNPACK" in (tmp_path / "cache" / "logs" / "benchmark.log").read_text()
    shown = edgepose("--verbose", "benchmark", str(int8_model), "--runs", "3", "--out", "r2.json", env=env)
    assert shown.returncode == 0 and "XNNPACK" in shown.stdout + shown.stderr


def test_compile_on_a_model_that_is_not_int8_says_to_quantize_first(edgepose, tmp_path):
    from modelfiles import tiny_keras

    for model in (small_tflite(tmp_path / "float.tflite", int8=False, size=32), tiny_keras(tmp_path / "m.keras")):
        line = _one_line_error(edgepose("compile", str(model), "--target", "qemu-m7", "--out", "c"))
        assert f"{model.name}: a " in line and f"quantize it first: `edgepose quantize {model.name} --calib" in line
        assert not (tmp_path / "c").exists()


def test_an_int8_tflite_exports_to_a_quantized_onnx_that_computes_the_same(edgepose, int8_model, tmp_path):
    import numpy as np
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    done = edgepose("export", str(int8_model), "--format", "onnx", "--out", "ex")
    assert done.returncode == 0, done.stderr
    session = ort.InferenceSession(str(tmp_path / "ex" / "small_int8.onnx"), providers=["CPUExecutionProvider"])
    interpreter = Interpreter(model_path=str(int8_model))
    interpreter.allocate_tensors()
    image = np.random.default_rng(0).integers(-128, 128, (1, 32, 32, 3), dtype=np.int8)
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).astype(int)
    got = session.run(None, {session.get_inputs()[0].name: image})[0].astype(int)
    assert got.shape == expected.shape and np.abs(got - expected).max() <= 1  # one int8 step of rounding at most


def _in_a_terminal(*args: str, env: dict | None = None) -> tuple[int, str]:
    """Run the CLI on a pseudo-terminal, as a person does, and return its exit code and everything shown."""
    import os
    import pty
    import subprocess
    import sys
    from pathlib import Path

    cli = Path(sys.executable).parent / "edgepose"
    main, child = pty.openpty()
    process = subprocess.Popen([str(cli), *args], stdin=child, stdout=child, stderr=child,
                               env={**os.environ, "COLUMNS": "120", **(env or {})})  # fmt: skip
    os.close(child)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the other side closed: the process is done writing
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return process.wait(timeout=600), shown.decode(errors="replace")


def test_long_steps_show_progress_in_a_terminal(int8_model, tmp_path):
    code, shown = _in_a_terminal("models", "tiny")
    assert code == 0 and "building models: tiny" in shown and "tiny" in shown.split("building models")[-1]
    code, shown = _in_a_terminal("compile", str(int8_model), "--target", "qemu-m7", "--out", str(tmp_path / "c"))
    assert code == 0, shown
    # the step that takes seconds is shown while it runs (a step of milliseconds may come and go unseen)
    assert "generating C for small_int8.tflite" in shown and "linking the benchmark firmware for qemu-m7" in shown
