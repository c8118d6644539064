"""Conversion between COCO keypoints and YOLO Darknet pose, for 13, 17 and 21 keypoints (a 13-point COCO
file names the STM32 model zoo's points). How a path names a dataset is ``edgepose.data.paths``'s to say.
Converted sets are written to a new folder, atomically: it appears complete or not at all.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edgepose import atomic
from edgepose.data.coco import load_coco, write_coco
from edgepose.data.paths import data_keypoints, detect, settle
from edgepose.data.samples import PersonSample, SkipLog
from edgepose.data.synthetic import dataset_json
from edgepose.data.yolo import format_line, load_yolo
from edgepose.errors import DataError
from edgepose.skeletons import Skeleton, skeleton_for


def open_dataset(
    path: Path, keypoints: int | None, images: Path | None, log: SkipLog
) -> tuple[str, list[PersonSample], int]:
    """``(kind, samples, keypoint count)`` of the dataset at ``path``, through the ordinary loaders."""
    kind, found = detect(path)
    count = settle(keypoints, data_keypoints(kind, found), found, "--keypoints")
    if kind == "coco":
        return kind, load_coco(found, images, count, log=log), count
    return kind, load_yolo(found, count, log=log), count


def _new_folder(out: Path) -> Path:
    out = Path(out).absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not empty; choose a new folder for the converted set")
    return out


def _relative_images(samples: list[PersonSample]) -> dict[Path, Path]:
    """Each image's path relative to the folder that holds them all, so a copy keeps subfolders apart."""
    sources = sorted({Path(s.image).absolute() for s in samples})
    root = Path(os.path.commonpath([p.parent for p in sources])) if sources else Path()
    return {p: p.relative_to(root) for p in sources}


def _place_image(source: Path, target: Path, link: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if link:
        target.symlink_to(source.resolve())
    else:
        shutil.copyfile(source, target)


def write_yolo_set(samples: list[PersonSample], out: Path, skeleton: Skeleton, link: bool = False) -> Path:
    """A YOLO pose folder: each image (copied or symlinked) beside a ``.txt`` with one line per person."""
    out = _new_folder(out)
    relative = _relative_images(samples)
    lines: dict[Path, list[str]] = {}
    for sample in samples:
        lines.setdefault(Path(sample.image).absolute(), []).append(format_line(sample))
    with atomic.atomic_directory(out) as tmp:
        labels: dict[Path, Path] = {}
        for source, rows in lines.items():
            label = relative[source].with_suffix(".txt")
            if label in labels:
                raise DataError(f"{source} and {labels[label]} would share the label file {label}; rename one")
            labels[label] = source
            _place_image(source, tmp / relative[source], link)
            (tmp / label).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def write_coco_set(samples: list[PersonSample], out: Path, skeleton: Skeleton, link: bool = False) -> Path:
    """A folder with ``person_keypoints_<folder>.json`` and ``images/`` (copies; with ``link`` the JSON
    refers to the images where they are). Returns the JSON's path."""
    labels = dataset_json(_new_folder(out))
    relative = _relative_images(samples)
    with atomic.atomic_directory(labels.parent) as tmp:
        if not link:
            for source, rel in relative.items():
                _place_image(source, tmp / "images" / rel, link=False)
            samples = [replace(s, image=tmp / "images" / relative[Path(s.image).absolute()]) for s in samples]
        write_coco(samples, tmp / labels.name, skeleton.keypoints, skeleton.limbs)
    return labels


WRITERS = {"coco": write_coco_set, "yolo": write_yolo_set}


def writer_for(to: str) -> Callable[[list[PersonSample], Path, Skeleton, bool], Path]:
    """``write_coco_set`` or ``write_yolo_set`` for the format name ``to``; a ``DataError`` otherwise."""
    if to not in WRITERS:
        raise DataError(f"--to {to!r}: unknown format; use {' or '.join(WRITERS)}")
    return WRITERS[to]


@dataclass(frozen=True)
class Converted:
    """What ``convert_dataset`` did: the source's format, how many persons in how many images it wrote,
    where (the YOLO folder or the COCO JSON), and the samples it skipped."""

    source_format: str
    persons: int
    images: int
    target: Path
    log: SkipLog


def convert_dataset(
    source: Path, to: str, out: Path, keypoints: int | None = None, images: Path | None = None, link: bool = False
) -> Converted:
    """Read the dataset at ``source`` (COCO or YOLO, detected) and write it as ``to`` into the new folder
    ``out``; with ``link`` the images are symlinked (YOLO) or referred to where they are (COCO)."""
    write = writer_for(to)
    log = SkipLog()
    kind, samples, count = open_dataset(source, keypoints, images, log)
    if not samples:
        raise DataError(f"{source}: no usable samples to convert ({log.summary()})")
    target = write(samples, out, skeleton_for(count), link)
    return Converted(kind, len(samples), len({s.image for s in samples}), target, log)
