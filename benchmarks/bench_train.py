"""Training throughput of each zoo model at its default size, and the input pipeline's own throughput.

The pipeline must deliver at least twice the images per second the model trains on, so that on this
machine the model, not the data, sets the pace. Both are measured in the same run, on the same
synthetic images, and reported as a ratio — in images per second with the whole machine to each, and in
CPU time per image, which is what they share during training (the pipeline's threads and the model's
run on the same cores).

Where the pipeline's time goes: the stage profile cuts the tf.data pipeline after each stage (read and
decode, crop, augmentation, heatmap targets, batching and normalisation) and measures each cut, so the
difference between two cuts is what that stage costs per image.

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


def timed(stream, count: int, per_item: int) -> tuple[float, float]:
    """``(items per second, CPU ms per item)`` over ``count`` draws of ``per_item`` images each."""
    next(stream)  # tracing and the first parallel calls
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        next(stream)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return count * per_item / wall, 1000 * cpu / (count * per_item)


def pipeline_rate(samples, spec: PipelineSpec, batch_size: int, batches: int) -> tuple[float, float]:
    stream = iter(training_dataset(samples, spec, batch_size, seed=0, repeat=True))
    return timed(stream, batches, batch_size)


def model_rate(model, spec: PipelineSpec, samples, batch_size: int, steps: int) -> tuple[float, float]:
    """Training steps on batches held in memory: the model's speed without waiting for data."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=HeatmapLoss())
    batch = next(iter(training_dataset(samples, spec, batch_size, seed=0, repeat=True)))

    def steps_forever():
        while True:
            yield model.train_on_batch(*batch)

    return timed(steps_forever(), steps, batch_size)


def stage_profile(samples, spec: PipelineSpec, batch_size: int, images: int) -> list[dict]:
    """The pipeline cut after each stage, each cut timed: its images per second and CPU ms per image."""
    import dataclasses

    import tensorflow as tf

    from edgepose.data.pipeline import crop_sample, encode_heatmaps, read_image, sample_tensors

    plain = dataclasses.replace(spec, augmentation=None)
    rows = tf.data.Dataset.zip(
        tf.data.Dataset.from_tensor_slices(sample_tensors(samples)).repeat(), tf.data.Dataset.random(seed=0)
    )

    def seed(draw):
        return tf.stack([draw, tf.constant(0, tf.int64)])

    def targets(columns, draw):
        crop = crop_sample(columns, seed(draw), spec)
        return crop["image"], *encode_heatmaps(crop["keypoints"], spec)

    cuts = [
        ("read + decode", rows.map(lambda c, d: read_image(c["path"]), tf.data.AUTOTUNE), 1),
        ("+ crop", rows.map(lambda c, d: crop_sample(c, seed(d), plain)["image"], tf.data.AUTOTUNE), 1),
        ("+ augmentation", rows.map(lambda c, d: crop_sample(c, seed(d), spec)["image"], tf.data.AUTOTUNE), 1),
        ("+ heatmap targets", rows.map(targets, tf.data.AUTOTUNE), 1),
        ("+ batch + normalise", training_dataset(samples, spec, batch_size, seed=0, repeat=True), batch_size),
    ]  # fmt: skip
    profile, before = [], 0.0
    for name, dataset, per_item in cuts:
        rate, cpu_ms = timed(iter(dataset.prefetch(tf.data.AUTOTUNE)), images // per_item, per_item)
        profile.append({"stage": name, "images_per_s": round(rate, 1), "cpu_ms_per_image": round(cpu_ms, 3),
                        "stage_cpu_ms_per_image": round(cpu_ms - before, 3)})  # fmt: skip
        before = cpu_ms
    return profile


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
        data, data_cpu = pipeline_rate(samples, spec, args.batch_size, args.steps * 2)
        train, train_cpu = model_rate(model, spec, samples, args.batch_size, args.steps)
        rows.append(
            {
                "model": name,
                "input_size": list(info.default_input_size),
                "train_images_per_s": round(train, 1),
                "pipeline_images_per_s": round(data, 1),
                "pipeline_to_model": round(data / train, 2),
                "train_cpu_ms_per_image": round(train_cpu, 2),
                "pipeline_cpu_ms_per_image": round(data_cpu, 2),
                "pipeline_to_model_cpu": round(train_cpu / data_cpu, 2),
                "stage_profile": stage_profile(samples, spec, args.batch_size, args.steps * args.batch_size),
            }
        )
        print(
            f"{name:24s} {info.default_input_size}  train {train:8.1f} img/s  pipeline {data:8.1f} img/s  "
            f"ratio {data / train:5.2f}; CPU ms/image: model {train_cpu:.1f}, pipeline {data_cpu:.2f} "
            f"(ratio {train_cpu / data_cpu:.1f})"
        )
        for stage in rows[-1]["stage_profile"]:
            print(
                f"    {stage['stage']:22s} {stage['images_per_s']:8.1f} img/s  "
                f"{stage['stage_cpu_ms_per_image']:6.2f} CPU ms/image"
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
