"""Training throughput of each zoo model at its default size, and the input pipeline's own throughput.

The pipeline must deliver at least twice the images per second the model trains on, so that on this
machine the model, not the data, sets the pace. Both are measured in the same run, on the same
synthetic images, and reported as a ratio.

    .venv/bin/python benchmarks/bench_train.py [--images 256] [--batch-size 32] [--steps 12]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from _record import record  # noqa: E402

from edgepose.config import load_config  # noqa: E402
from edgepose.data.pipeline import PipelineSpec, training_dataset  # noqa: E402
from edgepose.data.sources import load_splits  # noqa: E402
from edgepose.models.registry import build_model, model_info, model_names  # noqa: E402
from edgepose.train.losses import HeatmapLoss  # noqa: E402


def pipeline_rate(samples, spec: PipelineSpec, batch_size: int, batches: int) -> float:
    stream = iter(training_dataset(samples, spec, batch_size, seed=0, repeat=True))
    next(stream)  # tracing and the first parallel calls
    start = time.perf_counter()
    for _ in range(batches):
        next(stream)
    return batches * batch_size / (time.perf_counter() - start)


def model_rate(model, spec: PipelineSpec, samples, batch_size: int, steps: int) -> float:
    """Training steps on batches held in memory: the model's speed without waiting for data."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=HeatmapLoss())
    batch = next(iter(training_dataset(samples, spec, batch_size, seed=0, repeat=True)))
    model.train_on_batch(*batch)  # compile the step
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*batch)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    args = parser.parse_args()
    os.environ.setdefault("EDGEPOSE_CACHE", str(Path(tempfile.gettempdir()) / "edgepose-bench-cache"))
    config = load_config(None, [f"dataset.synthetic.train_size={args.images}", "dataset.synthetic.val_size=8"])
    samples = load_splits(config.dataset).train
    rows = []
    for name in model_names():
        info = model_info(name)
        keras.backend.clear_session()
        model = build_model(name, keypoints=17)
        spec = PipelineSpec.from_config(config, info.default_input_size)
        data = pipeline_rate(samples, spec, args.batch_size, args.steps * 2)
        train = model_rate(model, spec, samples, args.batch_size, args.steps)
        rows.append(
            {
                "model": name,
                "input_size": list(info.default_input_size),
                "train_images_per_s": round(train, 1),
                "pipeline_images_per_s": round(data, 1),
                "pipeline_to_model": round(data / train, 2),
            }
        )
        print(
            f"{name:24s} {info.default_input_size}  train {train:8.1f} img/s  pipeline {data:8.1f} img/s  "
            f"ratio {data / train:5.2f}"
        )
    record(
        "bench_train",
        {
            "batch_size": args.batch_size,
            "augmentation": list(dict(config.data_augmentation.pipeline())),
            "models": rows,
        },
    )


if __name__ == "__main__":
    main()
