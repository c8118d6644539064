"""Host latency of every artifact: LiteRT (XNNPACK) and ONNX Runtime on this machine, 1 and 2 threads.

Timed: the engine's inference call alone (``invoke`` / ``session.run``) on an input set once; p50 of
``--runs`` after ``--warmup``.

For each model (fresh weights: latency does not depend on them): float32, float16-weight and
dynamic-range TFLite, int8 TFLite (per-channel), float ONNX (folded) and int8 ONNX (QDQ) — each timed in
its engine with 1 and 2 threads in one run, so the ratios between them are comparable.

    .venv/bin/python benchmarks/bench_host_latency.py [--models tiny,mobilenetv2_heatmaps] [--runs 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from _record import record  # noqa: E402

from edgepose.convert.export import export_model  # noqa: E402
from edgepose.convert.metadata import Normalization  # noqa: E402
from edgepose.models import build_model  # noqa: E402
from edgepose.quantize.calibration import build_set  # noqa: E402
from edgepose.quantize.ptq import QuantizeJob, quantize  # noqa: E402
from edgepose.runtime import open_runner  # noqa: E402


def artifacts(name: str, scratch: Path) -> list[Path]:
    keras_file = scratch / f"{name}.keras"
    model = build_model(name)
    model.save(keras_file)
    size = tuple(model.inputs[0].shape[1:3])
    frames = scratch / "frames"
    frames.mkdir(exist_ok=True)
    import cv2

    rng = np.random.default_rng(0)
    for index in range(16):
        cv2.imwrite(str(frames / f"{index}.png"), rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    calib = build_set(frames, scratch / f"calib-{name}", 16, "random", 0, Normalization(), size)
    made = [export_model(keras_file, fmt, scratch).path for fmt in ("tflite", "tflite-fp16", "tflite-dynamic")]
    for backend in ("tflite", "onnx"):
        out = scratch / f"{name}-{backend}"
        out.mkdir()
        quantize(QuantizeJob(keras_file, out, calib, Normalization(), backend, 16, per_layer=False), None)
        made += sorted(out.glob("*_int8.tflite" if backend == "tflite" else "*.onnx"))  # float .tflite: made above
    return made


def engine_call(runner):
    """The engine's own inference call on a prepared input: no Python-side (de)quantization timed."""
    sample = np.random.default_rng(1).uniform(-1, 1, (1, *runner.input_shape)).astype(np.float32)
    if runner.engine == "litert":
        runner.interpreter.set_tensor(runner._in, runner.inputs[0].to_model(sample))
        return runner.interpreter.invoke
    feed = {runner.input_name: sample.transpose(0, 3, 1, 2) if runner.nchw else sample}
    return lambda: runner.session.run(None, feed)


def latency(path: Path, threads: int, warmup: int, runs: int) -> dict:
    with open_runner(path, threads=threads) as runner:
        call = engine_call(runner)
        for _ in range(warmup):
            call()
        times = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            call()
            times.append((time.perf_counter_ns() - start) / 1e6)
        engine = runner.engine
    return {
        "engine": engine,
        "threads": threads,
        "p50_ms": round(statistics.median(times), 3),
        "p90_ms": round(float(np.percentile(times, 90)), 3),
        "mean_ms": round(statistics.fmean(times), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,mobilenetv2_heatmaps")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    rows = []
    for name in args.models.split(","):
        for path in artifacts(name, scratch):
            for threads in (1, 2):
                row = {"model": name, "artifact": path.name, "bytes": path.stat().st_size,
                       **latency(path, threads, args.warmup, args.runs)}  # fmt: skip
                rows.append(row)
                print(f"{name:22s} {path.name:34s} {row['engine']:12s} {threads} thr  p50 {row['p50_ms']:8.3f} ms")
    record("bench_host_latency", {"warmup": args.warmup, "runs": args.runs, "rows": rows})


if __name__ == "__main__":
    main()
