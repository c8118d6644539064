"""Where samples come from: the ``dataset`` config section → training / validation / test samples.

A path ending in ``.json`` is COCO keypoints; a folder is YOLO Darknet pose. With no path configured the
synthetic set is rendered once into the cache (``$EDGEPOSE_CACHE``, default ``~/.cache/edgepose``) and
reused by every later run with the same settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose import console
from edgepose.config.schema import Dataset
from edgepose.data.coco import load_coco
from edgepose.data.samples import PersonSample, SkipLog
from edgepose.data.yolo import load_yolo
from edgepose.errors import DataError

CACHE_ENV = "EDGEPOSE_CACHE"


@dataclass
class Splits:
    train: list[PersonSample]
    val: list[PersonSample]
    log: SkipLog = field(default_factory=SkipLog)
    origin: str = ""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edgepose")


def load_path(path: Path, dataset: Dataset, log: SkipLog) -> list[PersonSample]:
    """Every person in one COCO file or YOLO folder, filtered by the dataset's selection rules."""
    path = Path(path)
    options = {"keypoints": dataset.keypoints, "min_visible": dataset.min_visible_keypoints, "log": log}
    options["min_area"] = dataset.min_area
    if path.suffix.lower() == ".json":
        return load_coco(path, dataset.images_path, **options)
    if path.is_dir():
        return load_yolo(path, **options)
    raise DataError(f"{path}: not a COCO keypoints .json file nor a YOLO pose folder")


def synthetic_paths(dataset: Dataset) -> tuple[Path, Path]:
    """The synthetic set's training and validation JSON files, rendered on first use."""
    from edgepose.data.synthetic import render_dataset

    settings = dataset.synthetic
    name = f"synthetic-k{dataset.keypoints}-s{settings.image_size}-seed{settings.seed}"
    root = cache_dir() / name
    paths = []
    for split, count, seed in (
        ("train", settings.train_size, settings.seed),
        ("val", settings.val_size, settings.seed + 1_000_003),  # disjoint from training's draws
    ):
        folder = root / f"{split}-{count}"
        found = sorted(folder.glob("*.json")) if folder.is_dir() else []
        if not found:
            console.err.print(f"rendering {count} synthetic {split} images into {folder}")
            found = [render_dataset(folder, count, dataset.keypoints, settings.image_size, seed, progress=True)]
        paths.append(found[0])
    return paths[0], paths[1]


def load_splits(dataset: Dataset) -> Splits:
    """Training and validation samples; without a validation path, a seeded split by image."""
    log = SkipLog()
    if dataset.format == "synthetic" and dataset.training_path is None:
        train_path, val_path = synthetic_paths(dataset)
        return Splits(load_path(train_path, dataset, log), load_path(val_path, dataset, log), log, str(train_path))
    if dataset.training_path is None:
        raise DataError("dataset.training_path is not set; name a COCO .json file or a YOLO folder to train on")
    train = load_path(dataset.training_path, dataset, log)
    if dataset.validation_path is not None:
        val = load_path(dataset.validation_path, dataset, log)
    else:
        train, val = split_by_image(train, dataset.validation_split, dataset.seed)
    if not train:
        raise DataError(f"{dataset.training_path}: no usable samples ({log.summary()})")
    return Splits(train, val, log, str(dataset.training_path))


def split_by_image(
    samples: list[PersonSample], fraction: float, seed: int
) -> tuple[list[PersonSample], list[PersonSample]]:
    """Hold out ``fraction`` of the images (all people in an image go to the same side: no leaks)."""
    images = sorted({str(s.image) for s in samples})
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(images)[: round(len(images) * fraction)].tolist())
    return [s for s in samples if str(s.image) not in held], [s for s in samples if str(s.image) in held]


def evaluation_samples(dataset: Dataset, data: Path | None = None) -> tuple[list[PersonSample], SkipLog, str]:
    """What ``evaluate`` scores: the ``--data`` path whole, else the test path, else the validation split."""
    log = SkipLog()
    path = data or dataset.test_path
    if path is not None:
        samples = load_path(path, dataset, log)
        origin = str(path)
    else:
        splits = load_splits(dataset)
        samples, log, origin = splits.val, splits.log, f"{splits.origin} (validation split)"
    if not samples:
        raise DataError(f"{origin}: no usable samples to evaluate ({log.summary()})")
    return samples, log, origin
