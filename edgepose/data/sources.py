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
from edgepose.data.paths import data_keypoints, detect, settle
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
    sources: list[tuple[str, Path]] = field(default_factory=list)  # (role, path) of each file read


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "edgepose")


def load_path(path: Path, dataset: Dataset, log: SkipLog, why: str = "") -> list[PersonSample]:
    """Every person in one COCO file or YOLO folder (a folder holding one COCO file counts as that file),
    filtered by the dataset's selection rules. The dataset's keypoint count is settled from the data
    when the config leaves it out (``why``: what else fixed the count, for the error)."""
    kind, found = detect(path)
    dataset.keypoints = settle(dataset.keypoints, data_keypoints(kind, found), Path(path), why=why)
    options = {"keypoints": dataset.keypoints, "min_visible": dataset.min_visible_keypoints, "log": log}
    options["min_area"] = dataset.min_area
    if kind == "coco":
        return load_coco(found, dataset.images_path, **options)
    return load_yolo(found, **options)


def settle_dataset(dataset: Dataset) -> Dataset:
    """Fill in what the config left to the data, so that a run's ``config.yaml`` records what ran: the
    keypoint count (17 for the synthetic set) and the format of the first configured path."""
    path = next((p for p in (dataset.training_path, dataset.validation_path, dataset.test_path) if p), None)
    if path is None:
        dataset.keypoints = dataset.keypoints or 17
        return dataset
    kind, found = detect(path)
    dataset.format = kind
    dataset.keypoints = settle(dataset.keypoints, data_keypoints(kind, found), Path(path))
    return dataset


def synthetic_paths(dataset: Dataset) -> tuple[Path, Path]:
    """The synthetic set's training and validation JSON files, rendered on first use."""
    from edgepose.data.synthetic import render_dataset

    dataset.keypoints = dataset.keypoints or 17
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
        train, val = load_path(train_path, dataset, log), load_path(val_path, dataset, log)
        return Splits(train, val, log, str(train_path), [("training data", train_path), ("validation data", val_path)])
    if dataset.training_path is None:
        raise DataError("dataset.training_path is not set; name a COCO .json file or a YOLO folder to train on")
    train = load_path(dataset.training_path, dataset, log)
    if dataset.validation_path is not None:
        val = load_path(dataset.validation_path, dataset, log)
    else:
        train, val = split_by_image(train, dataset.validation_split, dataset.seed)
    if not train:
        raise DataError(f"{dataset.training_path}: no usable samples ({log.summary()})")
    sources = [("training data", dataset.training_path)]
    sources += [("validation data", dataset.validation_path)] if dataset.validation_path is not None else []
    return Splits(train, val, log, str(dataset.training_path), sources)


def split_by_image(
    samples: list[PersonSample], fraction: float, seed: int
) -> tuple[list[PersonSample], list[PersonSample]]:
    """Hold out ``fraction`` of the images (all people in an image go to the same side: no leaks)."""
    images = sorted({str(s.image) for s in samples})
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(images)[: round(len(images) * fraction)].tolist())
    return [s for s in samples if str(s.image) not in held], [s for s in samples if str(s.image) in held]


def evaluation_samples(
    dataset: Dataset, data: Path | None = None, why: str = ""
) -> tuple[list[PersonSample], SkipLog, str]:
    """What ``evaluate`` scores: the ``--data`` path whole, else the test path, else the validation split."""
    log = SkipLog()
    path = data or dataset.test_path
    if path is not None:
        samples = load_path(path, dataset, log, why)
        origin = str(path)
    else:
        splits = load_splits(dataset)
        samples, log, origin = splits.val, splits.log, f"{splits.origin} (validation split)"
    if not samples:
        raise DataError(f"{origin}: no usable samples to evaluate ({log.summary()})")
    return samples, log, origin
