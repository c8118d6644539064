"""What a user who brings their own files meets when something is wrong: one line naming their file and
what to do, exit code 2, no traceback, nothing half-written left behind."""

from __future__ import annotations

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
