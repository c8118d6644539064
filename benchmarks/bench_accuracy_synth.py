"""Accuracy of ``tiny`` trained with the default recipe on the synthetic set, and the wall time it took.

Target: validation COCO AP >= 0.70 within 15 minutes on 2 CPU cores. The recipe is the config defaults;
anything given as KEY=VALUE overrides it (and is recorded with the result).

    .venv/bin/python benchmarks/bench_accuracy_synth.py [KEY=VALUE ...]

e.g. ``training.loss=mse`` to compare losses, or ``model.name=mobilenetv2_heatmaps training.epochs=12`` for
that model's recipe. The default 25 epochs is what fits in 15 minutes on a 2-core VM.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _record import record  # noqa: E402

from edgepose.config import load_config  # noqa: E402
from edgepose.data.sources import load_splits  # noqa: E402
from edgepose.evaluate.evaluation import evaluate  # noqa: E402
from edgepose.runs import Run  # noqa: E402
from edgepose.runtime import open_runner  # noqa: E402
from edgepose.train.trainer import train  # noqa: E402


def decoding_table(runner, samples, overrides: list[str]) -> list[dict]:
    """The same model decoded every way ``evaluation`` offers: what refinement and flip test add."""
    rows = []
    for refine in ("quarter", "dark", "integral"):
        for flip_test in (False, True):
            config = load_config(None, [*overrides, f"evaluation.refine={refine}", f"evaluation.flip_test={flip_test}"])
            scores = evaluate(runner, samples, config)
            rows.append({"refine": refine, "flip_test": flip_test, "AP": scores["AP"], "mean_oks": scores["mean_oks"]})
            print(f"  refine {refine:8s} flip test {'on ' if flip_test else 'off'}: AP {scores['AP']:.3f}")
    return rows


def main() -> None:
    overrides = ["model.name=tiny", *sys.argv[1:]]
    os.environ.setdefault("EDGEPOSE_CACHE", str(Path(tempfile.gettempdir()) / "edgepose-bench-cache"))
    config = load_config(None, overrides)
    load_splits(config.dataset)  # render the synthetic set before the clock starts: it is cached for users too
    run = Run.create("train", Path(tempfile.mkdtemp(prefix="bench-accuracy-")) / "run", config=config)
    start = time.perf_counter()
    with run:
        result = train(config, run)
    minutes = (time.perf_counter() - start) / 60
    splits = load_splits(config.dataset)
    with open_runner(run.path / "best.keras") as runner:
        scores = evaluate(runner, splits.val, config)
        input_size = list(runner.input_shape[:2])
        decodings = decoding_table(runner, splits.val, overrides)
    per_epoch = len(splits.train) * result.epochs / (minutes * 60)
    print(
        f"{config.model.name}: AP {scores['AP']:.3f}  AP50 {scores['AP50']:.3f}  mean OKS {scores['mean_oks']:.3f}  "
        f"PCK@0.2 {scores['pck@0.2']:.3f}  in {minutes:.1f} min ({result.epochs} epochs, {per_epoch:.0f} img/s)"
    )
    suffix = "" if config.model.name == "tiny" else f"-{config.model.name}"
    record(
        f"bench_accuracy_synth-{config.training.loss}{suffix}",  # one file per loss and model, compared side by side
        {
            "overrides": overrides,
            "train_people": len(splits.train),
            "val_people": len(splits.val),
            "recipe": {  # the defaults change over time; record the ones this run used
                "batch_size": config.training.batch_size,
                "optimizer": config.training.optimizer,
                "heatmap_sigma": config.training.heatmap_sigma,
                "input_size": input_size,
            },
            "epochs": result.epochs,
            "wall_minutes": round(minutes, 2),
            "train_images_per_s": round(per_epoch, 1),
            "validation": {k: v for k, v in scores.items() if k not in ("per_keypoint", "model", "settings")},
            "per_keypoint": scores["per_keypoint"],
            "by_decoding": decodings,
            "target": {"AP": 0.70, "wall_minutes": 15},
            "run_dir": str(run.path),
        },
    )


if __name__ == "__main__":
    main()
