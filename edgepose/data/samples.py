"""What every dataset loader produces: one annotated person per sample, and a tally of what was skipped.

Single-pose training is top-down, so a sample is one person in one image: the image file, the person's
box, and the keypoints in the image's pixels (pixel-index convention, see ``edgepose.skeletons``).
Loaders never stop at a bad sample: they skip it, warn with the file (and line) that holds it, and count
the reason in ``SkipLog``; a problem with a whole file is a ``DataError`` instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose import console


@dataclass
class PersonSample:
    image: Path
    bbox: np.ndarray  # (4,) x, y, w, h in pixels
    keypoints: np.ndarray  # (K, 3) x, y, v in pixels
    image_size: tuple[int, int]  # (height, width)
    area: float  # COCO's segment area where known, else the box area
    source: str  # where it was read from, e.g. "labels.json:annotation 17" or "img_3.txt:2"

    @property
    def visible(self) -> int:
        return int((self.keypoints[:, 2] > 0).sum())


@dataclass
class SkipLog:
    """Skipped samples by reason; ``skip`` warns about each as it happens (up to ``max_warnings``),
    except the quiet ones that are expected in a dataset (crowds, filtered people)."""

    max_warnings: int = 20
    reasons: Counter = field(default_factory=Counter)
    warned: int = 0

    def skip(self, where: str, reason: str, detail: str = "", quiet: bool = False) -> None:
        self.reasons[reason] += 1
        if quiet:
            return
        if self.warned < self.max_warnings:
            console.warn(f"{where}: {reason}{': ' + detail if detail else ''}; skipped")
        elif self.warned == self.max_warnings:
            console.warn("more samples skipped; the summary at the end counts them all")
        self.warned += 1

    @property
    def total(self) -> int:
        return sum(self.reasons.values())

    def summary(self) -> str:
        if not self.reasons:
            return "no samples skipped"
        parts = ", ".join(f"{count} {reason}" for reason, count in self.reasons.most_common())
        return f"{self.total} samples skipped: {parts}"


def passes_filters(sample: PersonSample, min_visible: int, min_area: float, log: SkipLog) -> bool:
    """The dataset's selection rules (``dataset.min_visible_keypoints``, ``dataset.min_area``); a sample
    that fails one is counted in ``log`` without a warning, since that is a choice, not a defect."""
    if sample.visible < min_visible:
        log.skip(sample.source, "too few visible keypoints", quiet=True)
        return False
    if sample.area < min_area:
        log.skip(sample.source, "person too small", quiet=True)
        return False
    return True


def box_inside(bbox: np.ndarray, image_size: tuple[int, int], tolerance: float = 1.0) -> bool:
    """Whether an ``x, y, w, h`` box lies within the image (a pixel of rounding allowed)."""
    height, width = image_size
    x, y, w, h = (float(v) for v in bbox)
    return (
        w > 0
        and h > 0
        and x >= -tolerance
        and y >= -tolerance
        and x + w <= width + tolerance
        and (y + h <= height + tolerance)
    )


def keypoints_inside(keypoints: np.ndarray, image_size: tuple[int, int], tolerance: float = 1.0) -> bool:
    height, width = image_size
    labelled = keypoints[keypoints[:, 2] > 0]
    return bool(
        ((labelled[:, 0] >= -tolerance) & (labelled[:, 0] <= width - 1 + tolerance)).all()
        and ((labelled[:, 1] >= -tolerance) & (labelled[:, 1] <= height - 1 + tolerance)).all()
    )
