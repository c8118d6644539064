"""YOLO Darknet pose, as the STM32 model zoo uses it: ``image.jpg`` beside ``image.txt``, one person per
line ``class cx cy w h x1 y1 v1 ... xK yK vK``, all coordinates normalized to [0, 1] by the image size
(``x y`` pairs without ``v`` are accepted too). Normalized ``x`` maps to ``x · width`` pixels.

A bad line (not numbers, a wrong keypoint count, a box or keypoint outside the image) skips that person
with a warning naming ``file:line``; an image that cannot be read skips its people.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgepose.data.samples import PersonSample, SkipLog, box_inside, keypoints_inside, passes_filters
from edgepose.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def image_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` read from the file's header, ``None`` if it is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.verify()  # checks the file's structure without decoding every pixel
            width, height = image.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None
    return height, width


def find_images(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (a YOLO pose set is a folder of images and .txt labels)")
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return images


def load_yolo(
    folder: Path, keypoints: int = 17, min_visible: int = 1, min_area: float = 0.0, log: SkipLog | None = None
) -> list[PersonSample]:
    log = log if log is not None else SkipLog()
    samples = []
    for image in find_images(folder):
        label = image.with_suffix(".txt")
        if not label.is_file():
            log.skip(str(image), "image without a label file", quiet=True)
            continue
        size = image_size(image)
        if size is None:
            log.skip(str(image), "unreadable image")
            continue
        try:
            lines = label.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            log.skip(str(label), "unreadable label file", str(exc))
            continue
        for number, line in enumerate(lines, start=1):
            if line.strip():
                sample = parse_line(line, f"{label}:{number}", image, size, keypoints, log)
                if sample is not None and passes_filters(sample, min_visible, min_area, log):
                    samples.append(sample)
    return samples


def parse_line(
    line: str, where: str, image: Path, size: tuple[int, int], keypoints: int, log: SkipLog
) -> PersonSample | None:
    try:
        values = np.asarray([float(v) for v in line.split()], dtype=np.float32)
    except ValueError:
        log.skip(where, "malformed line", "expected numbers: class cx cy w h x1 y1 v1 ...")
        return None
    count = len(values) - 5
    if count == keypoints * 3:
        kpts = values[5:].reshape(keypoints, 3).copy()
    elif count == keypoints * 2:
        xy = values[5:].reshape(keypoints, 2)
        kpts = np.concatenate([xy, np.where((xy > 0).any(axis=1, keepdims=True), 2.0, 0.0)], axis=1)
    else:
        log.skip(where, "wrong keypoint count", f"{count / 3:g} keypoints, expected {keypoints}")
        return None
    height, width = size
    cx, cy, w, h = values[1:5]
    bbox = np.array([(cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height], np.float32)
    kpts[:, 0] *= width
    kpts[:, 1] *= height
    kpts[kpts[:, 2] <= 0] = 0.0
    if not box_inside(bbox, size):
        log.skip(where, "box outside the image", f"cx cy w h = {cx:g} {cy:g} {w:g} {h:g}")
        return None
    if not keypoints_inside(kpts, size):
        log.skip(where, "keypoint outside the image")
        return None
    if not (kpts[:, 2] > 0).any():
        log.skip(where, "no labelled keypoints", quiet=True)
        return None
    return PersonSample(image, bbox, kpts, size, float(bbox[2] * bbox[3]), where)


def format_line(sample: PersonSample, class_id: int = 0) -> str:
    """One label line for a sample (the inverse of ``parse_line``)."""
    height, width = sample.image_size
    x, y, w, h = (float(v) for v in sample.bbox)
    fields = [(x + w / 2) / width, (y + h / 2) / height, w / width, h / height]
    for kx, ky, v in sample.keypoints:
        fields += [kx / width, ky / height, v] if v > 0 else [0.0, 0.0, 0.0]
    return " ".join([str(class_id), *(f"{f:.6f}".rstrip("0").rstrip(".") or "0" for f in fields)])
