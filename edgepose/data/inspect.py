"""What a dataset holds: images, persons, skipped samples and per-keypoint visibility, and a PNG grid of
samples cropped around their person with the skeleton drawn. The dataset is named by its path, as in
``edgepose.data.convert``."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from edgepose import atomic, console
from edgepose.data.convert import open_dataset
from edgepose.data.samples import PersonSample, SkipLog
from edgepose.draw import crop_around, draw_skeleton, image_grid
from edgepose.errors import DataError
from edgepose.skeletons import Skeleton, skeleton_for

TILE = 192  # pixels per sample in the inspection grid


def counts(samples: list[PersonSample], skeleton: Skeleton, log: SkipLog) -> dict:
    """Images, persons, skipped samples by reason and per-keypoint visibility (COCO's v = 2, 1, 0)."""
    v = np.stack([s.keypoints[:, 2] for s in samples]) if samples else np.zeros((0, skeleton.num_keypoints))
    visibility = {
        name: {"visible": int((v[:, i] > 1).sum()), "occluded": int((v[:, i] == 1).sum()),
               "unlabelled": int((v[:, i] <= 0).sum())}
        for i, name in enumerate(skeleton.keypoints)
    }  # fmt: skip
    return {
        "images": len({s.image for s in samples}),
        "persons": len(samples),
        "skipped": dict(log.reasons.most_common()),
        "skipped_summary": log.summary(),
        "visibility": visibility,
    }


def write_grid(samples: list[PersonSample], skeleton: Skeleton, path: Path, count: int) -> Path | None:
    """Up to ``count`` samples, spread evenly over the dataset, each cropped around its person with the
    skeleton drawn, as a PNG grid of ``TILE``-pixel tiles, ``ceil(sqrt(drawn))`` per row."""
    picks = sorted(set(np.linspace(0, len(samples) - 1, min(count, len(samples))).round().astype(int).tolist()))
    tiles = []
    for index in picks:
        sample = samples[index]
        image = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if image is None:
            console.warn(f"{sample.image}: cannot decode the image; left out of the grid")
            continue
        crop, kpts = crop_around(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), sample.bbox, sample.keypoints, TILE)
        tiles.append(draw_skeleton(crop, kpts, skeleton))
    if not tiles:
        return None
    picture = image_grid(tiles, math.ceil(math.sqrt(len(tiles))))
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataError(f"{path}: cannot encode the grid as PNG")
    return atomic.write_bytes(path, encoded.tobytes())


def inspect_dataset(
    path: Path, keypoints: int | None = None, images: Path | None = None, grid_png: Path | None = None, grid: int = 16
) -> dict:
    """The statistics of the dataset at ``path`` as a JSON-ready dict: ``dataset``, ``format``,
    ``keypoints``, the ``counts`` and ``grid``, the PNG of up to ``grid`` samples written to ``grid_png``
    (``None`` when nothing was drawn)."""
    log = SkipLog()
    kind, samples, count = open_dataset(path, keypoints, images, log)
    skeleton = skeleton_for(count)
    png = write_grid(samples, skeleton, grid_png, grid) if grid_png is not None and grid and samples else None
    stats = {"dataset": str(path), "format": kind, "keypoints": count, **counts(samples, skeleton, log)}
    stats["grid"] = str(png) if png else None
    return stats
