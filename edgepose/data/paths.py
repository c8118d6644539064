"""Datasets named by a path: which format they are in, and how many keypoints their people have.

- A ``.json`` file is COCO keypoints.
- A folder is COCO when it holds one COCO file: a ``person_keypoints_*.json`` (what ``data synth`` and
  ``data convert`` write) or a single ``.json`` at its top.
- A folder is YOLO Darknet pose when it holds images with ``.txt`` labels beside them, as the STM32 model
  zoo's ``single/13kpts/train`` does. A folder whose labelled images sit in several splits
  (``train/`` and ``val/``) or keypoint sets (``13kpts/`` and ``17kpts/``) is refused: name one of them.

The keypoint count is what the files declare: a COCO category's ``keypoints`` names (else the first
annotation's length), a YOLO label's number of fields.
"""

from __future__ import annotations

from pathlib import Path

from edgepose.data.coco import declared_keypoints, read_json
from edgepose.data.yolo import IMAGE_SUFFIXES
from edgepose.errors import DataError

COUNTS = (13, 17, 21)
SPLIT_WORDS = ("train", "val", "test")
LOOKED_FOR = (
    "a COCO keypoints .json (person_keypoints_*.json, or one .json in the folder) or images with YOLO .txt labels "
    "beside them (image.jpg + image.txt, as the STM32 model zoo's single/13kpts/train)"
)


def detect(path: Path) -> tuple[str, Path]:
    """``("coco", json)`` or ``("yolo", folder)`` for a dataset path; a ``DataError`` saying what was
    looked for otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder (expected {LOOKED_FOR})")
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise DataError(f"{path}: not a dataset; expected {LOOKED_FOR}")
        return "coco", path
    found = sorted(path.glob("person_keypoints_*.json")) or sorted(path.glob("*.json"))
    if len(found) > 1:
        raise DataError(f"{path}: holds {len(found)} COCO files ({', '.join(p.name for p in found)}); name one")
    if found:
        return "coco", found[0]
    folders = sorted({p.parent for p in _labelled_images(path)})
    if not folders:
        raise DataError(f"{path}: found neither {LOOKED_FOR}")
    _one_set(path, folders)
    return "yolo", path


def _labelled_images(folder: Path):
    for image in folder.rglob("*"):
        if image.suffix.lower() in IMAGE_SUFFIXES and image.with_suffix(".txt").is_file():
            yield image


def _one_set(root: Path, folders: list[Path]) -> None:
    """Labelled images in sibling splits or keypoint sets are not one dataset."""
    if len(folders) < 2:
        return
    parts = [set(f.relative_to(root).parts) for f in folders]
    splits = {word for p in parts for part in p for word in SPLIT_WORDS if part.lower().startswith(word)}
    counts = {yolo_keypoints(f, recursive=False) for f in folders}
    if len(splits) > 1 or len(counts) > 1:
        names = ", ".join(str(f.relative_to(root)) for f in folders[:6]) + (", ..." if len(folders) > 6 else "")
        raise DataError(f"{root}: holds several datasets ({names}); name the one to use, e.g. {folders[0]}")


def data_keypoints(kind: str, found: Path) -> int:
    """How many keypoints the dataset's own files declare (13, 17 or 21)."""
    return coco_keypoints(found) if kind == "coco" else yolo_keypoints(found)


def coco_keypoints(path: Path) -> int:
    return declared_keypoints(read_json(path), path) or 17  # a file without people: any count will do


def yolo_keypoints(folder: Path, recursive: bool = True) -> int:
    labels = folder.rglob("*.txt") if recursive else folder.glob("*.txt")
    for label in sorted(labels):
        text = label.read_text(encoding="utf-8", errors="replace")
        line = next((s for s in text.splitlines() if s.strip()), "")
        fields = len(line.split()) - 5
        for count in COUNTS:
            if fields in (3 * count, 2 * count):
                return count
        if line:
            raise DataError(
                f"{label}:1: {fields} keypoint fields; a YOLO pose line holds 13, 17 or 21 keypoints as x y v "
                "(or x y) after the class and box"
            )
    raise DataError(f"{folder}: no label with a person in it")


def settle(expected: int | None, found: int, path: Path, key: str = "dataset.keypoints", why: str = "") -> int:
    """The keypoint count to use: the data's when nothing is expected; 13 may be read from 17 (the face
    merged into one head point); anything else is one line naming the key to set (``why``: what expects
    the count, when it is not the key itself)."""
    if expected is None or expected == found or (expected == 13 and found == 17):
        return expected or found
    wanted = why or f"{key} is {expected}"
    raise DataError(f"{path} has {found} keypoints but {wanted}; set {key}: {found} (or leave it out)")
