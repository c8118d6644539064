"""Where int8 loses accuracy, and what 16x8 buys: each zoo model, trained briefly with the default recipe
on the synthetic set, quantized int8 (TFLite per-channel) and 16x8 on the same calibration set; keypoint
accuracy (mean OKS, PCK@0.2, AP) float vs int8 vs 16x8 side by side; the per-layer table (worst SQNR
first) and the mixed-precision advice for every output (the layers adding most error, and the output's
SNR with the whole model in 16x8 and with those layers in float, each measured by quantizing again).

    .venv/bin/python benchmarks/bench_mixed_precision.py [--models tiny,...] [--epochs tiny=N] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _record import record  # noqa: E402

from edgepose.config import load_config  # noqa: E402
from edgepose.convert.metadata import Normalization  # noqa: E402
from edgepose.data.sources import load_splits, synthetic_paths  # noqa: E402
from edgepose.quantize import report  # noqa: E402
from edgepose.quantize.calibration import build_set  # noqa: E402
from edgepose.quantize.ptq import QuantizeJob, quantize  # noqa: E402
from edgepose.quantize.tflite_ptq import TfliteSettings  # noqa: E402
from edgepose.runs import Run  # noqa: E402
from edgepose.runtime import open_runner  # noqa: E402

EPOCHS = {"tiny": 8, "mobilenetv2_heatmaps": 4, "movenet_like": 2}
CALIBRATION = 100
KEYS = ("mean_oks", "pck@0.2", "AP")


def trained_model(name: str, epochs: int, overrides: list[str], scratch: Path) -> tuple[Path, float]:
    from edgepose.train.trainer import train

    config = load_config(None, [f"model.name={name}", f"training.epochs={epochs}", *overrides])
    run = Run.create("train", scratch / f"train-{name}", config=config)
    start = time.perf_counter()
    with run:
        train(config, run)
    return run.path / "best.keras", (time.perf_counter() - start) / 60


def quantized(model: Path, calib: Path, activations: str, config, out: Path) -> tuple[Path, dict]:
    """The TFLite per-channel artifact (int8 or 16x8) and its report; int8 gets advice for every output."""
    out.mkdir(parents=True)
    io = "int16" if activations == "int16" else "int8"
    job = QuantizeJob(model, out, calib, Normalization.from_config(config), "tflite", CALIBRATION)
    job.tflite = TfliteSettings(input_type=io, output_type=io, activations=activations)
    job.advice, job.advice_below_db = activations == "int8", math.inf
    result = quantize(job, config, None)
    return next(out / a["file"] for a in result["artifacts"] if a["role"] == "int8"), result


def bench_model(name: str, model: Path, overrides: list[str], scratch: Path) -> dict:
    config = load_config(None, [f"model.name={name}", *overrides])
    splits = load_splits(config.dataset)
    with open_runner(model) as reference:
        size = reference.input_shape[:2]
        scores = {"float": report.accuracy(reference, splits.val, config)}
    train_json, _ = synthetic_paths(config.dataset)
    normalization = Normalization.from_config(config)
    calib = build_set(train_json, scratch / f"calib-{name}", CALIBRATION, "stratified", 0, normalization, size, config)
    results = {}
    for activations, label in (("int8", "int8"), ("int16", "16x8")):
        artifact, results[label] = quantized(model, calib, activations, config, scratch / f"{name}-{label}")
        with open_runner(artifact) as runner:
            scores[label] = report.accuracy(runner, splits.val, config)
    advice = results["int8"]["advice"]
    for label in ("float", "int8", "16x8"):
        print(f"{name:22s} {label:6s} " + "  ".join(f"{k} {scores[label][k]:.4f}" for k in KEYS))
    for output, entry in advice["outputs"].items():
        alternatives = (entry.get("int16x8_snr_db"), entry.get("float_layers_snr_db"))
        print(f"{name:22s} {output}: SNR int8 {entry['snr_db']:.1f} dB, 16x8 / named layers in float {alternatives}")
    return {
        "accuracy": scores,
        "output_snr_db": {
            label: {output: e["snr_db"] for output, e in r["output_error"]["litert"].items()}
            for label, r in results.items()
        },
        "worst_layers_int8": results["int8"]["per_layer"]["layers"][:10],
        "advice": advice,
        "bytes": {
            label: next(a["bytes"] for a in r["artifacts"] if a["role"] == "int8") for label, r in results.items()
        },
        "val_people": len(splits.val),
    }


def _quantized_bytes(result: dict) -> int:
    return next(a["bytes"] for a in result["artifacts"] if a["role"] == "int8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(EPOCHS))
    parser.add_argument("--epochs", action="append", default=[], help="NAME=N training epochs")
    parser.add_argument("overrides", nargs="*", help="config KEY=VALUE overrides")
    args = parser.parse_args()
    os.environ.setdefault("EDGEPOSE_CACHE", str(Path(tempfile.gettempdir()) / "edgepose-bench-cache"))
    epochs = {**EPOCHS, **{name: int(n) for name, n in (item.split("=", 1) for item in args.epochs)}}
    scratch = Path(tempfile.mkdtemp(prefix="bench-mixed-"))
    results = {}
    for name in args.models.split(","):
        model, minutes = trained_model(name, epochs[name], args.overrides, scratch)
        results[name] = {"epochs": epochs[name], "train_minutes": round(minutes, 1)}
        results[name].update(bench_model(name, model, args.overrides, scratch))
    record("bench_mixed_precision", {"overrides": args.overrides, "calibration_images": CALIBRATION, "models": results})


if __name__ == "__main__":
    main()
