"""int8 quantization with TFLite and ONNX Runtime: artifacts that run in LiteRT, ONNX Runtime and the
tflite-micro interpreter, models users bring, the report, and every bad input named in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_errors import refused
from modelfiles import image_folder, nchw_onnx, tiny_with_calibration, two_output_keras

from edgepose.convert.export import export_model
from edgepose.convert.inspect import describe, read_tflite
from edgepose.convert.metadata import Normalization
from edgepose.errors import ModelError, UnsupportedOpError
from edgepose.quantize.calibration import build_set
from edgepose.quantize.onnx_ptq import OnnxSettings
from edgepose.quantize.ptq import QuantizeJob, quantize
from edgepose.quantize.tflite_ptq import TfliteSettings
from edgepose.runtime import open_runner

RGB = Normalization()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tiny_with_calibration(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def inputs(models) -> np.ndarray:
    from edgepose.quantize.calibration import load_set

    return load_set(models / "calib96", RGB, (96, 96, 3)).inputs()[:4]


def _job(models: Path, out: Path, backend: str, **settings) -> QuantizeJob:
    out.mkdir(parents=True, exist_ok=True)
    job = QuantizeJob(models / "tiny.keras", out, models / "calib96", RGB, backend, calibration_size=16)
    if backend == "tflite":
        job.tflite = TfliteSettings(**settings)
    else:
        job.onnx = OnnxSettings(**settings)
    return job


def _per_channel_weights(path: Path) -> int:
    """How many tensors carry more than one scale (per-channel weights and their biases)."""
    graph = read_tflite(path.read_bytes()).subgraphs[0]
    return sum(1 for t in graph.tensors if t.quantization is not None and t.quantization.scale is not None
               and len(t.quantization.scale) > 1)  # fmt: skip


def _assert_per_layer_table(per_layer: dict) -> None:
    """SQNR, cosine and max error for each compared layer, worst first, whatever the source."""
    layers = per_layer["layers"]
    assert per_layer["metric"] == "sqnr_db" and len(layers) >= 2, per_layer
    for layer in layers:
        assert {"layer", "op", "sqnr_db", "cosine", "max_abs_error", "error_added_db"} <= set(layer)
        assert layer["cosine"] is None or -1 <= layer["cosine"] <= 1.000001
    sqnr = [layer["sqnr_db"] for layer in layers if layer["sqnr_db"] is not None]
    assert sqnr == sorted(sqnr)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.ravel(a) @ np.ravel(b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.slow
def test_tflite_int8_runs_in_litert_and_tflite_micro(models, inputs, tmp_path):
    report = quantize(_job(models, tmp_path / "pc", "tflite"), None)
    int8 = tmp_path / "pc/tiny_int8.tflite"
    spec = describe(int8)["inputs"][0]
    assert spec["dtype"] == "int8" and spec["scale"] == pytest.approx(1 / 127.5, rel=1e-3)
    assert _per_channel_weights(int8) > 20
    reference = open_runner(models / "tiny.keras").run(inputs)
    for engine in ("litert", "tflite-micro"):
        assert _cosine(reference, open_runner(int8, engine).run(inputs)) > 0.98
        assert report["output_error"][engine]["heatmaps"]["cosine"] > 0.98
    # The reference interpreter and LiteRT run the same integer arithmetic.
    litert, micro = open_runner(int8, "litert").run(inputs), open_runner(int8, "tflite-micro").run(inputs)
    assert np.abs(litert - micro).max() <= describe(int8)["outputs"][0]["scale"] * 1.01
    layers = report["per_layer"]["layers"]
    assert len(layers) == sum(describe(int8)["ops"].values())  # every op's output, matched by name
    _assert_per_layer_table(report["per_layer"])
    assert json.loads((tmp_path / "pc/quant_report.json").read_text())["calibration"]["images"] == 16
    assert json.loads((tmp_path / "pc/tiny_int8.tflite.json").read_text())["normalization"]["scale"] == 1 / 127.5

    quantize(_job(models, tmp_path / "pt", "tflite", granularity="per-tensor"), None)
    assert _per_channel_weights(tmp_path / "pt/tiny_int8.tflite") == 0


@pytest.mark.slow
def test_onnx_runtime_qdq_and_qoperator(models, inputs, tmp_path):
    report = quantize(_job(models, tmp_path / "qdq", "onnx", method="entropy"), None)
    ops = describe(tmp_path / "qdq/tiny_int8.onnx")["ops"]
    assert ops["QuantizeLinear"] > 0 and ops["DequantizeLinear"] > ops["QuantizeLinear"]
    reference = open_runner(models / "tiny.keras").run(inputs)
    assert _cosine(reference, open_runner(tmp_path / "qdq/tiny_int8.onnx").run(inputs)) > 0.98
    assert report["output_error"]["onnxruntime"]["heatmaps"]["snr_db"] > 15
    _assert_per_layer_table(report["per_layer"])
    quantize(_job(models, tmp_path / "qop", "onnx", format="qoperator", method="percentile"), None)
    assert describe(tmp_path / "qop/tiny_int8.onnx")["ops"].get("QLinearConv", 0) > 0


@pytest.mark.slow
def test_float16_tflite_with_two_outputs_is_quantized_and_compared_by_output(tmp_path):
    keras_file = two_output_keras(tmp_path / "landmarks.keras")
    fp16 = export_model(keras_file, "tflite-fp16", tmp_path).path
    assert describe(fp16)["ops"]["DEQUANTIZE"] > 0
    build_set(image_folder(tmp_path / "frames"), tmp_path / "calib", 12, "random", 0, RGB, (64, 48))
    out = tmp_path / "q"
    out.mkdir()
    report = quantize(QuantizeJob(fp16, out, tmp_path / "calib", RGB, "tflite"), None)
    for engine in ("litert", "tflite-micro"):
        assert set(report["output_error"][engine]) == {"heatmaps", "score"}
        assert report["output_error"][engine]["heatmaps"]["cosine"] > 0.95
    _assert_per_layer_table(report["per_layer"])  # a brought .tflite: its tensors matched by name
    runner = open_runner(out / "landmarks_fp16_int8.tflite", "tflite-micro")
    assert runner.output_shapes == {"heatmaps": (16, 12, 5), "score": (3,)}


@pytest.mark.slow
def test_an_int8_file_made_from_float16_weights_carries_only_what_runs(models, inputs, tmp_path):
    fp32 = export_model(models / "tiny.keras", "tflite", tmp_path).path
    fp16 = export_model(models / "tiny.keras", "tflite-fp16", tmp_path).path
    for source in (fp32, fp16):
        job = QuantizeJob(source, tmp_path, models / "calib96", RGB, "tflite", calibration_size=16, per_layer=False)
        quantize(job, None)
    int8, from_fp32 = tmp_path / "tiny_fp16_int8.tflite", tmp_path / "tiny_float32_int8.tflite"
    graph = read_tflite(int8.read_bytes()).subgraphs[0]
    assert not [t.name for t in graph.tensors if t.type == 1]  # no float16 tensor left behind
    # as small as the int8 file made from the float32 weights (before: 1.8x the float16 file, 2x that one)
    assert int8.stat().st_size <= 1.01 * from_fp32.stat().st_size < fp16.stat().st_size
    assert describe(int8)["params"] == describe(fp32)["params"] == describe(fp16)["params"]
    reference = open_runner(fp32).run(inputs)
    assert _cosine(reference, open_runner(int8, "tflite-micro").run(inputs)) > 0.98


@pytest.mark.slow
def test_advice_names_the_layers_behind_a_poor_output_and_measures_16x8_and_float(tmp_path):
    from modelfiles import outlier_keras

    model = outlier_keras(tmp_path / "outlier.keras")
    build_set(image_folder(tmp_path / "frames", count=16), tmp_path / "calib", 16, "random", 0, RGB, (32, 32))
    out = tmp_path / "q"
    out.mkdir()
    report = quantize(QuantizeJob(model, out, tmp_path / "calib", RGB, "tflite", calibration_size=16), None)
    errors, advice = report["output_error"]["litert"], report["advice"]
    assert errors["heatmaps"]["snr_db"] < 10 < 40 < errors["score"]["snr_db"]
    assert set(advice["outputs"]) == {"heatmaps"}  # the score head does not pass the outlier layer
    heatmaps = advice["outputs"]["heatmaps"]
    assert any("outlier" in layer for layer in heatmaps["layers"])
    assert heatmaps["int16x8_snr_db"] > heatmaps["snr_db"] + 20  # measured, by quantizing again
    assert heatmaps["float_layers_snr_db"] > heatmaps["snr_db"] + 20
    assert advice["float_layers"]["layers"] == heatmaps["layers"]
    saved = json.loads((out / "quant_report.json").read_text())["advice"]
    assert saved["outputs"]["heatmaps"]["layers"] == heatmaps["layers"]

    # per-tensor weights: TFLite has no per-tensor 16x8, so the 16x8 alternative is measured per-channel
    job = QuantizeJob(model, out, tmp_path / "calib", RGB, "tflite", calibration_size=16)
    job.tflite.granularity = "per-tensor"
    advice = quantize(job, None)["advice"]
    assert advice["outputs"]["heatmaps"]["int16x8_snr_db"] > advice["outputs"]["heatmaps"]["snr_db"] + 20


@pytest.mark.slow
def test_nchw_onnx_with_a_non_square_input_is_quantized(tmp_path):
    model = nchw_onnx(tmp_path / "net.onnx")
    out = tmp_path / "q"
    out.mkdir()
    job = QuantizeJob(model, out, image_folder(tmp_path / "frames"), RGB, "onnx")
    job.onnx.reduce_range = True  # exact on any CI machine: x86 ones without VNNI saturate full-range weights
    report = quantize(job, None)
    assert report["output_error"]["onnxruntime"]["output"]["cosine"] > 0.99
    runner = open_runner(out / "net_int8.onnx")
    assert runner.nchw and runner.input_shape == (96, 64, 3)
    _assert_per_layer_table(report["per_layer"])  # a brought .onnx: its activations matched by name
    with pytest.raises(ModelError, match="use --backend onnx"):
        quantize(QuantizeJob(model, out, tmp_path / "frames", RGB, "tflite"), None)


# ---------------------------------------------------------------------------------------------- the CLI


@pytest.mark.slow
def test_quantize_cli_reports_accuracy_for_every_engine(edgepose, models, tmp_path):
    from edgepose.data.synthetic import render_dataset

    labels = render_dataset(tmp_path / "val", 8, 17, 96, seed=5)
    done = edgepose(
        "quantize", str(models / "tiny.keras"), "--calib", str(models / "calib96"), "--val", str(labels),
        "--out", "q", "quantization.calibration_size=8",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "q/quant_report.json").read_text())
    assert list(report["accuracy"]) == ["float", "litert", "tflite-micro"]
    for scores in report["accuracy"].values():
        assert {"AP", "AP50", "mean_oks", "pck@0.2"} <= set(scores)
    assert "AP_points" in report["accuracy"]["litert"]["drop"]
    assert "tflite-micro" in done.stdout and "accuracy" in done.stdout
    manifest = json.loads((tmp_path / "q/manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {"tiny_float32.tflite", "tiny_int8.tflite"} <= {o["path"] for o in manifest["outputs"]}
    # `edgepose evaluate` on the int8 file, fed as its sidecar says, scores what the report says.
    done = edgepose("evaluate", "q/tiny_int8.tflite", "--data", str(labels), "--engine", "tflite-micro", "--out", "ev")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "ev/metrics.json").read_text())
    assert metrics["model"]["engine"] == "tflite-micro"
    assert metrics["mean_oks"] == pytest.approx(report["accuracy"]["tflite-micro"]["mean_oks"], abs=1e-6)


def test_quantize_cli_refuses_bad_input_in_one_line(edgepose, models, tmp_path):
    (tmp_path / "empty").mkdir()
    refused(edgepose("quantize", str(models / "tiny.keras")), "no calibration set")
    done = edgepose("quantize", str(models / "tiny.keras"), "--calib", str(tmp_path / "empty"), "--out", "q1")
    refused(done, "holds no images")
    assert not list((tmp_path / "q1").glob("*int8*"))
    assert json.loads((tmp_path / "q1/manifest.json").read_text())["status"] == "failed"
    corrupt = tmp_path / "model.tflite"
    corrupt.write_bytes(b"\x00" * 32)
    refused(edgepose("quantize", str(corrupt), "--calib", str(models / "calib96"), "--out", "q2"), str(corrupt))


@pytest.mark.slow
def test_quantize_cli_refuses_mismatched_sets_and_unknown_nodes(edgepose, models, tmp_path):
    build_set(models / "frames", tmp_path / "other", 4, "random", 0, Normalization(1 / 255, 0.0), (96, 96))
    done = edgepose("quantize", str(models / "tiny.keras"), "--calib", str(tmp_path / "other"), "--out", "q1")
    refused(done, str(tmp_path / "other"), "tiny.keras", "scale")
    assert not list((tmp_path / "q1").glob("*.tflite"))  # not even the float reference: nothing half-done
    build_set(models / "frames", tmp_path / "small", 4, "random", 0, RGB, (64, 64))
    done = edgepose("quantize", str(models / "tiny.keras"), "--calib", str(tmp_path / "small"), "--out", "q2")
    refused(done, "input_size [64, 64] vs [96, 96]")
    done = edgepose(
        "quantize", str(models / "tiny.keras"), "--calib", str(models / "calib96"), "--backend", "onnx",
        "--out", "q3", "quantization.exclude_nodes=[no_such_conv]", "quantization.calibration_size=4",
    )  # fmt: skip
    refused(done, "exclude_nodes", "no_such_conv")
    assert not list((tmp_path / "q3").glob("*int8*"))


@pytest.mark.slow
def test_ops_the_quantizer_leaves_in_float_are_named(tmp_path):
    """TFLite's converter keeps ops it cannot quantize in float without a word, even for int8-only
    targets; an MCU has no float kernels, so edgepose refuses such a model and names the ops."""
    import tensorflow as tf

    class Spectrum(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec((1, 16, 16, 3), tf.float32, name="image")])
        def serve(self, image):
            return {"out": tf.math.abs(tf.signal.rfft(tf.transpose(image, [0, 3, 1, 2])))}

    module = Spectrum()
    tf.saved_model.save(module, str(tmp_path / "spectrum"), signatures={"serving_default": module.serve})
    calib = build_set(image_folder(tmp_path / "frames", count=4), tmp_path / "calib", 4, "random", 0, RGB, (16, 16))
    out = tmp_path / "q"
    out.mkdir()
    with pytest.raises(UnsupportedOpError, match="left op.s. COMPLEX_ABS, RFFT2D in float"):
        quantize(QuantizeJob(tmp_path / "spectrum", out, calib, RGB, "tflite"), None)
    assert not list(out.glob("*int8*"))


def test_a_heatmaps_snr_is_measured_about_each_maps_own_mean():
    """Log-probability heatmaps are mostly a constant; noise that drowns their peaks hides in a plain SNR."""
    from edgepose.quantize.report import output_error

    rng = np.random.default_rng(0)
    peaks = rng.normal(0, 0.05, (2, 16, 16, 3))
    reference = {"heatmaps": -6.0 + peaks, "score": np.array([[1.0, -2.0]])}
    candidate = {"heatmaps": -6.0 + peaks + rng.normal(0, 0.05, peaks.shape), "score": np.array([[1.0, -2.0]])}
    errors = output_error(reference, candidate)["heatmaps"]
    assert errors["snr_db"] > 35 and abs(errors["spatial_snr_db"]) < 3  # the peaks are as large as the noise
    assert errors["quality_snr_db"] == errors["spatial_snr_db"]
    score = output_error(reference, candidate)["score"]
    assert "spatial_snr_db" not in score and score["quality_snr_db"] == score["snr_db"]
