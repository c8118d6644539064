"""Calibration sets: the images a quantizer measures activation ranges on, chosen reproducibly and
recorded with the preprocessing they were made for.

A set is a folder (``calibration/NAME/`` by default) holding ``images/*.png`` — model-sized crops as 8-bit
pixels, before rescaling — and ``manifest.yaml``: the source, the selection rule (strategy, count, seed),
the sha256 of each image, and the preprocessing (input size, colour order, ``scale``/``offset``). Crops are
stored rather than whole images so that calibration sees exactly what the model sees at inference: the
top-down crop of a labelled person, or the letterboxed frame of an unlabelled image.

Strategies: ``random`` (a seeded permutation) and ``stratified`` (equal shares of each stratum, so that a
small set still covers small and large people, few and many visible keypoints; for an unlabelled folder the
strata are its sub-folders). The same source, strategy, count and seed always give the same set.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from edgepose import atomic
from edgepose.convert.metadata import Normalization
from edgepose.errors import DataError
from edgepose.hashing import sha256_file

MANIFEST = "manifest.yaml"
SCHEMA = "edgepose.calibration/1"
STRATEGIES = ("random", "stratified")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
DEFAULT_ROOT = Path("calibration")


@dataclass
class CalibrationSet:
    path: Path
    images: np.ndarray  # (N, H, W, C) uint8, model-sized, colour order of the preprocessing
    preprocessing: dict  # input_size [h, w], color, scale, offset
    manifest: dict

    @property
    def name(self) -> str:
        return self.manifest.get("name", self.path.name)

    def inputs(self) -> np.ndarray:
        """The model inputs: ``scale * pixel + offset`` as float32 ``(N, H, W, C)``."""
        return (self.images.astype(np.float32) * self.preprocessing["scale"] + self.preprocessing["offset"]).astype(
            np.float32
        )

    def check_matches(self, normalization: Normalization, input_shape: tuple[int, ...], model: Path) -> None:
        """Refuse a set made for other preprocessing than the model's, naming both."""
        wanted = {
            "input_size": [int(input_shape[0]), int(input_shape[1])],
            "color": normalization.color,
            "scale": round(normalization.scale, 9),
            "offset": round(normalization.offset, 9),
        }
        have = {key: self.preprocessing.get(key) for key in wanted}
        have["scale"], have["offset"] = round(float(have["scale"]), 9), round(float(have["offset"]), 9)
        if have != wanted:
            diff = ", ".join(f"{k} {have[k]} vs {wanted[k]}" for k in wanted if have[k] != wanted[k])
            raise DataError(
                f"calibration set {self.path} was made for other preprocessing than {model} ({diff}, set vs model); "
                "rebuild it with `edgepose data calib` for this model"
            )


def preprocessing_for(normalization: Normalization, input_size: tuple[int, int]) -> dict:
    return {
        "input_size": [int(input_size[0]), int(input_size[1])],
        "color": normalization.color,
        "scale": float(normalization.scale),
        "offset": float(normalization.offset),
        "aspect_ratio": "padding",
    }


# ---------------------------------------------------------------------------------------------- building


def build_set(
    source: str | Path,
    out: Path,
    count: int,
    strategy: str,
    seed: int,
    normalization: Normalization,
    input_size: tuple[int, int],
    config=None,
) -> Path:
    """Select ``count`` images from ``source`` and write the set into ``out`` (atomically)."""
    if strategy not in STRATEGIES:
        raise DataError(f"unknown calibration strategy '{strategy}'; choose {' or '.join(STRATEGIES)}")
    if count < 1:
        raise DataError(f"--n {count}: a calibration set needs at least one image")
    crops, origins, population, description = _select(source, count, strategy, seed, normalization, input_size, config)
    if not crops:
        raise DataError(f"{source}: no usable images to calibrate with")
    if len(crops) < count:
        from edgepose import console

        console.warn(
            f"{source}: {len(crops)} usable images, fewer than the {count} asked for; the set holds {len(crops)}"
        )
    import cv2

    with atomic.atomic_directory(out) as folder:
        (folder / "images").mkdir()
        entries = []
        for index, (crop, origin) in enumerate(zip(crops, origins, strict=True)):
            name = f"images/{index:06d}.png"
            pixels = crop if crop.shape[-1] == 1 or normalization.color == "bgr" else crop[..., ::-1]
            if not cv2.imwrite(str(folder / name), pixels):
                raise DataError(f"{folder / name}: could not write the calibration image")
            entries.append({"file": name, "sha256": sha256_file(folder / name), "origin": origin})
        manifest = {
            "schema": SCHEMA,
            "name": Path(out).name,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "source": description,
            "selection": {
                "strategy": strategy,
                "count": len(entries),
                "requested": count,
                "seed": seed,
                "population": population,
            },
            "preprocessing": preprocessing_for(normalization, input_size),
            "images": entries,
        }
        atomic.write_text(folder / MANIFEST, yaml.safe_dump(manifest, sort_keys=False))
    return Path(out)


def _select(source, count, strategy, seed, normalization, input_size, config):
    """The chosen crops, their origins, the population size and a description of the source."""
    path = Path(str(source))
    if str(source) != "synthetic" and path.is_dir() and not _is_dataset(path):
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise DataError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        strata = [str(p.parent.relative_to(path)) for p in files]
        chosen = _choose(len(files), count, strategy, seed, strata)
        crops = [_letterbox(files[i], normalization, input_size) for i in chosen]
        origins = [str(files[i].relative_to(path)) for i in chosen]
        return crops, origins, len(files), {"kind": "image folder", "path": str(path.resolve())}
    samples, description = _labelled(source, config)
    strata = _person_strata(samples)
    chosen = _choose(len(samples), count, strategy, seed, strata)
    picked = [samples[i] for i in chosen]
    crops = _crops(picked, normalization, input_size, config)
    origins = [s.source for s in picked]
    return crops, origins, len(samples), description


def _is_dataset(path: Path) -> bool:
    """A folder holding a COCO file or YOLO labels is a labelled dataset (people are cropped from it); a
    plain image folder has neither (its frames are letterboxed whole)."""
    from edgepose.data.paths import LOOKED_FOR, detect

    try:
        detect(path)
    except DataError as error:
        if LOOKED_FOR in str(error):
            return False
        raise
    return True


def _labelled(source, config):
    from edgepose.data.samples import SkipLog
    from edgepose.data.sources import load_path, synthetic_paths

    dataset = config.dataset
    if str(source) == "synthetic":
        train, _ = synthetic_paths(dataset)
        return load_path(train, dataset, SkipLog()), {"kind": "synthetic", "path": str(train)}
    from edgepose.data.paths import detect

    kind, found = detect(Path(source))
    return load_path(found, dataset, SkipLog()), {"kind": kind, "path": str(Path(found).resolve())}


def _person_strata(samples) -> list[str]:
    """3 box-size bins x 3 visible-keypoint bins, by terciles of the set itself."""
    if not samples:
        return []
    areas = np.array([s.area for s in samples], np.float64)
    visible = np.array([(s.keypoints[:, 2] > 0).sum() for s in samples], np.float64)
    area_bin = np.digitize(areas, np.quantile(areas, [1 / 3, 2 / 3]))
    visible_bin = np.digitize(visible, np.quantile(visible, [1 / 3, 2 / 3]))
    return [f"area{a}-visible{v}" for a, v in zip(area_bin, visible_bin, strict=True)]


def _choose(population: int, count: int, strategy: str, seed: int, strata: list[str]) -> list[int]:
    """Indices of the chosen items, in a reproducible order."""
    rng = np.random.default_rng(seed)
    if strategy == "random" or population <= count:
        return sorted(rng.permutation(population)[:count].tolist())
    groups: dict[str, list[int]] = defaultdict(list)
    for index in rng.permutation(population).tolist():
        groups[strata[index]].append(index)
    chosen: list[int] = []
    queues = [groups[key] for key in sorted(groups)]
    while len(chosen) < count:  # round-robin over strata: equal shares, small strata used up first
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop())
    return sorted(chosen)


def _crops(samples, normalization: Normalization, input_size, config) -> list[np.ndarray]:
    """The evaluation pipeline's un-augmented top-down crops, back in 8-bit pixels."""
    from edgepose.data.pipeline import PipelineSpec, evaluation_dataset

    spec = PipelineSpec.from_config(config, tuple(input_size), augment_data=False)
    spec = replace(
        spec, scale=1.0, offset=0.0, color_mode=normalization.color_mode
    )  # 8-bit pixels in the set's colour order
    crops: list[np.ndarray | None] = [None] * len(samples)
    for batch in evaluation_dataset(samples, spec, 32).as_numpy_iterator():
        for index, image in zip(batch["index"], batch["image"], strict=True):
            crops[index] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return [c for c in crops if c is not None]


def _letterbox(path: Path, normalization: Normalization, input_size) -> np.ndarray:
    """An unlabelled image scaled to fit ``input_size`` with its aspect ratio kept, padded with black."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: unreadable image; remove it from the folder or replace it")
    height, width = input_size
    factor = min(height / image.shape[0], width / image.shape[1])
    resized = cv2.resize(image, (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor))))
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
    if normalization.color == "gray":
        return cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)[..., None]
    return canvas if normalization.color == "bgr" else canvas[..., ::-1].copy()


# ---------------------------------------------------------------------------------------------- loading


def resolve_set_path(name_or_dir: str | Path, root: Path = DEFAULT_ROOT) -> Path:
    path = Path(name_or_dir)
    if path.is_dir():
        return path
    if (root / str(name_or_dir)).is_dir():
        return root / str(name_or_dir)
    raise DataError(
        f"calibration set '{name_or_dir}' not found (neither a folder nor {root / str(name_or_dir)}); "
        "build one with `edgepose data calib --from DATASET --name NAME`"
    )


def load_set(
    name_or_dir: str | Path, normalization: Normalization, input_shape: tuple[int, ...], limit: int | None = None
) -> CalibrationSet:
    """A built set (checked against the model's preprocessing), or a plain image folder letterboxed now."""
    path = resolve_set_path(name_or_dir)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        return _plain_folder(path, normalization, input_shape, limit)
    try:
        manifest = yaml.safe_load(manifest_path.read_text())
        entries = manifest["images"]
        preprocessing = manifest["preprocessing"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise DataError(f"{manifest_path}: not a calibration manifest ({exc}); rebuild the set") from None
    if not entries:
        raise DataError(f"{manifest_path}: the calibration set is empty; rebuild it with a larger --n")
    entries = entries[:limit] if limit else entries
    images = np.stack([_read_png(path / entry["file"], preprocessing["color"]) for entry in entries])
    return CalibrationSet(path, images, preprocessing, manifest)


def _plain_folder(path: Path, normalization: Normalization, input_shape, limit) -> CalibrationSet:
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{path}: the calibration folder holds no images and no {MANIFEST}")
    files = files[:limit] if limit else files
    size = (int(input_shape[0]), int(input_shape[1]))
    images = np.stack([_letterbox(f, normalization, size) for f in files])
    manifest = {"name": path.name, "source": {"kind": "image folder", "path": str(path)}, "images": len(files)}
    return CalibrationSet(path, images, preprocessing_for(normalization, size), manifest)


def _read_png(path: Path, color: str) -> np.ndarray:
    import cv2

    flag = cv2.IMREAD_GRAYSCALE if color == "gray" else cv2.IMREAD_COLOR
    image = cv2.imread(str(path), flag) if path.is_file() else None
    if image is None:
        raise DataError(f"{path}: missing or unreadable calibration image; rebuild the set")
    if color == "gray":
        return image[..., None]
    return image if color == "bgr" else image[..., ::-1].copy()
