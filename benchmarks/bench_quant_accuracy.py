"""What int8 costs in accuracy: AP float vs int8 for each quantizer setting, and a calibration-size sweep.

For each model (trained here with the default recipe on the synthetic set, or given with
``--trained NAME=PATH``): float AP (Keras) on the synthetic validation set, then int8 AP for TFLite
per-channel and per-tensor (LiteRT) and ONNX Runtime QDQ with MinMax, Entropy and Percentile calibration
(ONNX Runtime), all on the same stratified calibration set; then TFLite per-channel with 10/50/200/500
calibration images, with the calibration time. Target: int8 loses <= 0.5 AP point, per-channel and
per-tensor, for every zoo model. A variant named "... + QAT" first fine-tunes the model through int8
rounding (``--qat-epochs``, on the synthetic training set) and quantizes the fine-tuned model the same way;
its drop is against the original float model.

    .venv/bin/python benchmarks/bench_quant_accuracy.py [--models tiny,mobilenetv2_heatmaps,movenet_like]
        [--epochs tiny=N] [--trained tiny=runs/train-.../best.keras] [--variants "tflite per-channel,..."]
        [--no-sweep] [--qat-epochs 2] [--suffix NAME] [KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _record import record  # noqa: E402

from edgepose.config import load_config  # noqa: E402
from edgepose.config.schema import AwareTraining  # noqa: E402
from edgepose.convert.metadata import Normalization  # noqa: E402
from edgepose.data.sources import load_splits, synthetic_paths  # noqa: E402
from edgepose.quantize import report  # noqa: E402
from edgepose.quantize.calibration import build_set  # noqa: E402
from edgepose.quantize.onnx_ptq import OnnxSettings  # noqa: E402
from edgepose.quantize.ptq import QuantizeJob, quantize  # noqa: E402
from edgepose.quantize.tflite_ptq import TfliteSettings  # noqa: E402
from edgepose.runs import Run  # noqa: E402
from edgepose.runtime import open_runner  # noqa: E402

VARIANTS = {
    "tflite per-channel": ("tflite", {"granularity": "per-channel"}),
    "tflite per-tensor": ("tflite", {"granularity": "per-tensor"}),
    "onnx qdq minmax": ("onnx", {"method": "minmax"}),
    "onnx qdq entropy": ("onnx", {"method": "entropy"}),
    "onnx qdq percentile": ("onnx", {"method": "percentile"}),
}
QAT = " + QAT"
SWEEP = (10, 50, 200, 500)


def trained_model(name: str, epochs: int | None, overrides: list[str], scratch: Path) -> tuple[Path, float]:
    from edgepose.train.trainer import train

    extra = [f"training.epochs={epochs}"] if epochs else []
    config = load_config(None, [f"model.name={name}", *extra, *overrides])
    run = Run.create("train", scratch / f"train-{name}", config=config)
    start = time.perf_counter()
    with run:
        train(config, run)
    return run.path / "best.keras", (time.perf_counter() - start) / 60


def int8_scores(
    model: Path, calib: Path, backend: str, settings: dict, size: int, val, config, out: Path, qat_epochs: int = 0
) -> dict:
    norm = Normalization.from_config(config)
    job = QuantizeJob(model, out, calib, norm, backend, calibration_size=size, per_layer=False)
    job.aware_training = AwareTraining(epochs=qat_epochs)
    if backend == "tflite":
        job.tflite = TfliteSettings(**settings)
    else:
        job.onnx = OnnxSettings(**settings)
    out.mkdir(parents=True)
    started = time.perf_counter()
    result = quantize(job, config, None)
    minutes = (time.perf_counter() - started) / 60
    engine = "litert" if backend == "tflite" else "onnxruntime"
    int8 = next(a["file"] for a in result["artifacts"] if a["role"] == "int8")
    with open_runner(out / int8) as r:
        scores = report.accuracy(r, val, config)
    extra = {}
    if qat_epochs:  # the fine-tuning trains too: its own float model says how much of the change is rounding
        tuned = next(a["file"] for a in result["artifacts"] if a["role"] == "fine-tuned")
        with open_runner(out / tuned) as r:
            tuned_ap = report.accuracy(r, val, config)["AP"]
        extra = {
            "qat_epochs": qat_epochs,
            "quantize_minutes": round(minutes, 1),
            "fine_tuned_float_AP": tuned_ap,
            "AP_drop_vs_fine_tuned_float_points": round(100 * (tuned_ap - scores["AP"]), 2),
        }
    return {**scores, "calibration_s": result["calibration"]["seconds"], "engine": engine, **extra}


def bench_model(
    name: str, model: Path, overrides: list[str], scratch: Path, variants: list[str], sweep_on: bool, qat_epochs: int
) -> dict:
    config = load_config(None, [f"model.name={name}", *overrides])
    splits = load_splits(config.dataset)
    with open_runner(model) as runner:
        size = runner.input_shape[:2]
        float_scores = report.accuracy(runner, splits.val, config)
    norm = Normalization.from_config(config)
    train_json, _ = synthetic_paths(config.dataset)
    calib = build_set(train_json, scratch / f"calib-{name}", max(SWEEP), "stratified", 0, norm, size, config)
    rows = {}
    for label in variants:
        backend, settings = VARIANTS[label.removesuffix(QAT)]
        epochs = qat_epochs if label.endswith(QAT) else 0
        out = scratch / f"{name}-{label}"
        scores = int8_scores(model, calib, backend, settings, 200, splits.val, config, out, epochs)
        scores["AP_drop_points"] = round(100 * (float_scores["AP"] - scores["AP"]), 2)
        rows[label] = scores
        print(f"{name:22s} {label:22s} AP {scores['AP']:.4f} (float {float_scores['AP']:.4f})")
    sweep = {}
    for count in SWEEP if sweep_on else ():
        settings = {"granularity": "per-channel"}
        scores = int8_scores(model, calib, "tflite", settings, count, splits.val, config, scratch / f"{name}-n{count}")
        sweep[count] = {"AP": scores["AP"], "calibration_s": scores["calibration_s"]}
        print(f"{name:22s} calibration {count:4d} images: AP {scores['AP']:.4f} in {scores['calibration_s']:.1f} s")
    return {"float": float_scores, "int8": rows, "calibration_sweep": sweep, "val_people": len(splits.val)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,mobilenetv2_heatmaps,movenet_like")
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help=f"comma-separated from {', '.join(VARIANTS)}; each may end{QAT}"
    )
    parser.add_argument("--qat-epochs", type=int, default=2, help="fine-tuning epochs of the + QAT variants")
    parser.add_argument("--suffix", default="", help="recorded as bench_quant_accuracy-SUFFIX")
    parser.add_argument("--no-sweep", action="store_true", help="skip the calibration-size sweep")
    parser.add_argument("--epochs", action="append", default=[], help="NAME=N training epochs (default: the recipe's)")
    parser.add_argument("--trained", action="append", default=[], help="NAME=PATH of an already trained model")
    parser.add_argument("overrides", nargs="*", help="config KEY=VALUE overrides")
    args = parser.parse_args()
    os.environ.setdefault("EDGEPOSE_CACHE", str(Path(tempfile.gettempdir()) / "edgepose-bench-cache"))
    given = dict(item.split("=", 1) for item in args.trained)
    epochs = {name: int(count) for name, count in (item.split("=", 1) for item in args.epochs)}
    scratch = Path(tempfile.mkdtemp(prefix="bench-quant-"))
    results = {}
    for name in args.models.split(","):
        if name in given:
            model, minutes = Path(given[name]), None
        else:
            model, minutes = trained_model(name, epochs.get(name), args.overrides, scratch)
        results[name] = {"model": str(model), "train_minutes": minutes and round(minutes, 1)}
        variants = [v.strip() for v in args.variants.split(",")]
        unknown = [v for v in variants if v.removesuffix(QAT) not in VARIANTS]
        if unknown:
            parser.error(f"unknown variant(s) {unknown}")
        results[name].update(
            bench_model(name, model, args.overrides, scratch, variants, not args.no_sweep, args.qat_epochs)
        )
    record(
        "bench_quant_accuracy" + (f"-{args.suffix}" if args.suffix else ""),
        {"epochs": epochs, "overrides": args.overrides, "target": {"AP_drop_points": 0.5}, "models": results},
    )


if __name__ == "__main__":
    main()
