"""Quantization-aware fine-tuning: the fake-quantized model computes what TFLite's int8 model computes, the
fine-tuning trains the weights through it with the BatchNormalization statistics frozen, and the quantize
command fine-tunes (or says why not) and refuses what it cannot fine-tune in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_errors import refused
from modelfiles import tiny_with_calibration

from edgepose.config import load_config
from edgepose.config.schema import AwareTraining
from edgepose.convert.metadata import Normalization
from edgepose.quantize.calibration import load_set
from edgepose.quantize.ptq import QuantizeJob, quantize
from edgepose.quantize.tflite_ptq import TfliteSettings

RGB = Normalization()
SMALL = [
    "dataset.synthetic.train_size=16",
    "dataset.synthetic.val_size=8",
    "dataset.synthetic.image_size=96",
    "training.batch_size=8",
]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    return tiny_with_calibration(tmp_path_factory.mktemp("qat"))


@pytest.fixture(scope="module")
def calibration(models) -> np.ndarray:
    return load_set(models / "calib96", RGB, (96, 96, 3)).inputs()


def _int8_outputs(model, inputs: np.ndarray, granularity: str, tmp_path: Path) -> np.ndarray:
    """The TFLite int8 model of ``model`` (calibrated on ``inputs``) run by LiteRT, dequantized."""
    from edgepose.convert.export import saved_model_from_keras
    from edgepose.quantize.tflite_ptq import quantize_saved_model
    from edgepose.runtime import open_runner

    saved = saved_model_from_keras(model, tmp_path / "saved")
    (tmp_path / "m.tflite").write_bytes(
        quantize_saved_model(saved, inputs, TfliteSettings(granularity=granularity), tmp_path / "m")
    )
    with open_runner(tmp_path / "m.tflite") as runner:
        (heatmaps,) = runner.run_all(inputs).values()
        return heatmaps


@pytest.mark.parametrize("granularity", ["per-channel", "per-tensor"])
def test_the_fake_quantized_model_computes_what_the_int8_model_computes(models, calibration, granularity, tmp_path):
    from edgepose.quantize.qat import FakeQuantized
    from edgepose.runtime.keras_runner import KerasRunner

    model = KerasRunner.from_file(models / "tiny.keras").model
    fake = FakeQuantized(model, granularity == "per-channel")
    fake.calibrate(calibration)
    int8 = _int8_outputs(model, calibration, granularity, tmp_path)
    as_float = model.predict(calibration, verbose=0)
    as_fake = fake.model.predict(calibration, verbose=0)
    step = (int8.max() - int8.min()) / 255
    # The float model is a quantization step or more away from the int8 one; the fake-quantized model
    # rounds as the int8 model does (weights folded with BN, ADD's in-place range, the input's grid).
    off_float, off_fake = np.abs(int8 - as_float).mean() / step, np.abs(int8 - as_fake).mean() / step
    assert off_float > 0.25  # measured 0.33 steps on average
    assert off_fake < 0.25 * off_float  # measured 0.04 (per-channel) and 0.07 (per-tensor)
    assert np.abs(int8 - as_fake).max() <= 1.001 * step  # a tie rounded the other way, at most
    residual_inputs = {name: add for name, add in fake.shares_range.items()}
    assert residual_inputs and all(add.endswith("_add") for add in residual_inputs.values())
    assert not any(name.endswith(("_conv", "_dw")) for name in fake.ranges)  # fused into their BN/ReLU
    assert {"heatmaps"} <= set(fake.ranges)


@pytest.mark.slow
def test_finetuning_trains_the_weights_through_int8_and_keeps_bn_statistics(models, tmp_path, monkeypatch):
    from edgepose.runtime.keras_runner import KerasRunner

    monkeypatch.setenv("EDGEPOSE_CACHE", str(tmp_path / "cache"))
    config = load_config(None, ["model.name=tiny", *SMALL])
    out = tmp_path / "q"
    out.mkdir()
    job = QuantizeJob(models / "tiny.keras", out, models / "calib96", RGB, "tflite", calibration_size=16)
    job.aware_training = AwareTraining(epochs=1, learning_rate=1e-3)
    report = quantize(job, config)
    aware = report["aware_training"]
    assert aware["model"] == "tiny_qat.keras" and len(aware["history"]["loss"]) == 1
    assert aware["fake_quantized"]["weights"] == sum(
        1 for layer in KerasRunner.from_file(models / "tiny.keras").model.layers if type(layer).__name__
        in ("Conv2D", "DepthwiseConv2D")
    )  # fmt: skip
    assert report["source"]["path"] == str(models / "tiny.keras")  # accuracy is against the original
    assert [a["role"] for a in report["artifacts"]] == ["fine-tuned", "float", "int8"]
    assert {"tiny_qat.keras", "tiny_qat_float32.tflite", "tiny_qat_int8.tflite", "quant_report.json"} <= {
        p.name for p in out.iterdir()
    }
    sidecar = json.loads((out / "tiny_qat_int8.tflite.json").read_text())
    assert sidecar["source"]["path"] == str(out / "tiny_qat.keras")  # the landed model, not a scratch copy
    original = KerasRunner.from_file(models / "tiny.keras").model
    tuned = KerasRunner.from_file(out / "tiny_qat.keras").model
    changed = 0
    for before, after in zip(original.layers, tuned.layers, strict=True):
        for a, b in zip(before.get_weights(), after.get_weights(), strict=True):
            if type(before).__name__ == "BatchNormalization":
                assert np.array_equal(a, b), before.name  # gamma/beta/statistics: frozen
            else:
                changed += not np.array_equal(a, b)
        assert before.trainable == after.trainable
    assert changed > 20


@pytest.mark.slow
def test_quantize_cli_fine_tunes_only_when_ptq_loses_too_much(edgepose, models, tmp_path):
    from edgepose.data.synthetic import render_dataset

    labels = render_dataset(tmp_path / "val", 8, 17, 96, seed=5)
    cache = {"EDGEPOSE_CACHE": str(tmp_path / "cache")}
    common = ["quantize", str(models / "tiny.keras"), "--calib", str(models / "calib96"), "--val", str(labels)]
    done = edgepose(
        *common, "--qat-epochs", "1", "--out", "within", "quantization.aware_training.only_above_drop=100", *SMALL,
        env=cache,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "quantization-aware fine-tuning not needed" in done.stdout
    report = json.loads((tmp_path / "within/quant_report.json").read_text())
    assert "within only_above_drop 100" in report["aware_training"]["skipped"]
    assert not list((tmp_path / "within").glob("*_qat*"))
    done = edgepose(*common, "--qat-epochs", "1", "--out", "tuned", "training.batch_size=8", *SMALL, env=cache)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "tuned/quant_report.json").read_text())
    aware = report["aware_training"]
    assert aware["ptq_ap_drop_points"] is not None and aware["ap_drop_points"] is not None
    assert aware["fine_tuned_float"]["AP"] is not None
    assert "quantization-aware fine-tuning, 1 epoch(s) → tiny_qat.keras: AP drop" in done.stdout
    manifest = json.loads((tmp_path / "tuned/manifest.json").read_text())
    assert {"tiny_qat.keras", "tiny_qat_int8.tflite"} <= {o["path"] for o in manifest["outputs"]}


def test_quantize_cli_refuses_what_it_cannot_fine_tune(edgepose, models, tmp_path):
    calib = ["--calib", str(models / "calib96")]
    from edgepose.convert.export import export_model

    float_tflite = export_model(models / "tiny.keras", "tflite", tmp_path).path
    done = edgepose("quantize", str(float_tflite), *calib, "--qat-epochs", "1", "--out", "q1")
    refused(done, str(float_tflite), "Keras model")
    assert not list((tmp_path / "q1").glob("*.tflite"))
    done = edgepose(
        "quantize", str(models / "tiny.keras"), *calib, "--qat-epochs", "1", "--out", "q2",
        "quantization.aware_training.only_above_drop=0.5",
    )  # fmt: skip
    refused(done, "only_above_drop", "--val")
    int16 = "quantization.activations=int16"
    done = edgepose("quantize", str(models / "tiny.keras"), *calib, "--qat-epochs", "1", int16)
    refused(done, "aware_training", "int16")
