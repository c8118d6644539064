"""COCO keypoints: ``person_keypoints_*.json`` plus an image folder → one ``PersonSample`` per person.

Crowd annotations and people without labelled keypoints are skipped (counted, not warned: COCO is full
of them). Everything else that is wrong with one annotation — an unknown image, a missing image file, a
wrong keypoint count, a box or keypoint outside the image — skips that annotation with a warning naming
the file and annotation id. A file that is not COCO keypoints JSON at all is a ``DataError``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from edgepose.data.samples import PersonSample, SkipLog, box_inside, keypoints_inside, passes_filters
from edgepose.errors import DataError
from edgepose.skeletons import coco17_to_coco13, skeleton_for
from edgepose.textfile import read_text


def read_json(path: Path) -> Any:
    text = read_text(path, DataError)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None


def default_images_dir(annotations: Path) -> Path | None:
    """COCO's own layout (``annotations/person_keypoints_val2017.json`` beside ``val2017/``), else an
    ``images/`` folder beside the JSON, else the JSON's own folder if it holds images."""
    stem = annotations.stem.removeprefix("person_keypoints_")
    for candidate in (annotations.parent.parent / stem, annotations.parent / stem, annotations.parent / "images"):
        if candidate.is_dir():
            return candidate
    if any(p.suffix.lower() in (".jpg", ".jpeg", ".png") for p in annotations.parent.iterdir()):
        return annotations.parent
    return None


def load_coco(
    annotations: Path,
    images_dir: Path | None = None,
    keypoints: int | None = None,
    min_visible: int = 1,
    min_area: float = 0.0,
    log: SkipLog | None = None,
) -> list[PersonSample]:
    """Samples from a COCO keypoints file of 13, 17 or 21 keypoints (``None``: as many as the file has);
    ``keypoints=13`` from a 17-point file merges the face into one head point. Points named as one of
    edgepose's skeletons names them are put in its order; other names are taken in the file's order."""
    from edgepose.data.paths import settle

    annotations = Path(annotations)
    log = log if log is not None else SkipLog()
    data = read_json(annotations)
    for key in ("images", "annotations"):
        if not isinstance(data, dict) or not isinstance(data.get(key), list):
            raise DataError(f"{annotations}: no '{key}' list; expected a COCO keypoints file (person_keypoints_*.json)")
    declared = declared_keypoints(data, annotations) or keypoints or 17
    count = settle(keypoints, declared, annotations)
    order = _name_order(data, skeleton_for(declared).keypoints)
    images_dir = Path(images_dir) if images_dir else default_images_dir(annotations)
    if images_dir is None or not images_dir.is_dir():
        raise DataError(f"{annotations}: cannot find its image folder; set dataset.images_path")
    images = {img.get("id"): img for img in data["images"] if isinstance(img, dict)}
    samples = []
    for ann in data["annotations"]:
        sample = _sample(ann, images, images_dir, annotations.name, declared, log)
        if sample is None:
            continue
        if order is not None:
            sample.keypoints = sample.keypoints[order]
        if count == 13 and declared == 17:
            sample.keypoints = coco17_to_coco13(sample.keypoints)
        if passes_filters(sample, min_visible, min_area, log):
            samples.append(sample)
    return samples


def declared_keypoints(data: dict, path: Path) -> int | None:
    """How many keypoints a COCO file's people have: its category's names, else the first annotation;
    ``None`` for a file with neither (no people at all)."""
    categories = data.get("categories") if isinstance(data, dict) else None
    names = categories[0].get("keypoints") if categories and isinstance(categories[0], dict) else None
    if isinstance(names, list) and names:
        count = len(names)
    else:
        first = next((a for a in data.get("annotations") or [] if isinstance(a, dict)), None)
        if first is None:
            return None
        count = len(first.get("keypoints") or []) // 3
    if count not in (13, 17, 21):
        raise DataError(
            f"{path}: its people have {count} keypoints; edgepose knows 13 (STM32 model zoo), 17 (COCO) and 21 (hand)"
        )
    return count


def _name_order(data: dict, names: tuple[str, ...]) -> list[int] | None:
    """Indices that put the file's points in ``names``' order, when the file names the same points in
    another order; ``None`` when nothing moves."""
    categories = data.get("categories") or [{}]
    given = categories[0].get("keypoints") if isinstance(categories[0], dict) else None
    if not isinstance(given, list) or sorted(given) != sorted(names) or list(given) == list(names):
        return None
    return [given.index(name) for name in names]


def _sample(ann: Any, images: dict, images_dir: Path, name: str, expected: int, log: SkipLog) -> PersonSample | None:
    if not isinstance(ann, dict):
        log.skip(name, "malformed annotation", "not an object")
        return None
    where = f"{name}:annotation {ann.get('id')}"
    if ann.get("iscrowd"):
        log.skip(where, "crowd annotation", quiet=True)
        return None
    raw = ann.get("keypoints")
    if not isinstance(raw, list) or len(raw) != expected * 3:
        count = len(raw) / 3 if isinstance(raw, list) else 0
        log.skip(where, "wrong keypoint count", f"{count:g} keypoints, expected {expected}")
        return None
    try:
        kpts = np.asarray(raw, dtype=np.float32).reshape(expected, 3)
        bbox = np.asarray(ann.get("bbox"), dtype=np.float32).reshape(4)
    except (TypeError, ValueError):
        log.skip(where, "malformed annotation", "keypoints and bbox must be numbers")
        return None
    if not (kpts[:, 2] > 0).any():
        log.skip(where, "no labelled keypoints", quiet=True)
        return None
    image = images.get(ann.get("image_id"))
    if image is None or "file_name" not in image:
        log.skip(where, "unknown image", f"image_id {ann.get('image_id')!r} is not in 'images'")
        return None
    path = images_dir / image["file_name"]
    if not path.is_file():
        log.skip(where, "missing image", str(path))
        return None
    size = (int(image.get("height", 0)), int(image.get("width", 0)))
    if not box_inside(bbox, size):
        log.skip(where, "box outside the image", f"bbox {bbox.tolist()} in a {size[1]}x{size[0]} image")
        return None
    if not keypoints_inside(kpts, size):
        log.skip(where, "keypoint outside the image")
        return None
    area = float(ann.get("area") or bbox[2] * bbox[3])
    return PersonSample(path, bbox, kpts, size, area, where)


def write_coco(samples: list[PersonSample], path: Path, keypoint_names: tuple[str, ...], limbs=()) -> Path:
    """Write samples as a COCO keypoints file; image paths are stored relative to ``path``'s folder."""
    from edgepose import atomic

    image_ids: dict[Path, int] = {}
    images, annotations = [], []
    for sample in samples:
        if sample.image not in image_ids:
            image_ids[sample.image] = len(image_ids) + 1
            height, width = sample.image_size
            relative = Path(os.path.relpath(Path(sample.image).resolve(), Path(path).resolve().parent))
            entry = {"id": image_ids[sample.image], "file_name": relative.as_posix(), "height": height, "width": width}
            images.append(entry)
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": image_ids[sample.image],
                "category_id": 1,
                "iscrowd": 0,
                "bbox": [round(float(v), 3) for v in sample.bbox],
                "area": round(float(sample.area), 3),
                "num_keypoints": sample.visible,
                "keypoints": [round(float(v), 3) for v in sample.keypoints.reshape(-1)],
            }
        )
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(keypoint_names),
        "skeleton": [[a + 1, b + 1] for a, b in limbs],
    }
    document = {"images": images, "annotations": annotations, "categories": [category]}
    return atomic.write_text(Path(path), json.dumps(document))
