"""A synthetic single-person pose dataset: one articulated figure (``edgepose.data.figures``: the 17 COCO
body points, or a 21-point hand) over a textured, cluttered background, written as COCO keypoints JSON plus
PNG images so that it goes through the same loader as real data (``load_coco``).

The clutter reuses the figure's own colours (limb-like sticks included), so colour alone never finds a
limb. An occluder box may hide part of the figure: keypoints under it are ``v=1``. Some blur and sensor
noise leave no region perfectly flat.

Images are square and RGB; coordinates are pixels with pixel ``i``'s centre at ``x = i``. Image ``i`` is
drawn from a generator seeded by ``(seed, i)``, so a dataset is reproducible and its first images do not
depend on how many were asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from edgepose import atomic, console
from edgepose.data.coco import write_coco
from edgepose.data.figures import SHIFT, Canvas, Figure, draw_figure, figure_keypoints, random_color, random_figure
from edgepose.data.samples import PersonSample
from edgepose.errors import DataError
from edgepose.skeletons import coco17_to_coco13, skeleton_for

OCCLUDED = 0.3  # share of images with an occluder box over the figure
# Fast PNG: Huffman coding only; on these noisy images a third faster than zlib's level 1, and smaller.
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


@dataclass
class Scene:
    """One rendered image with its labels, and what the tests need to check them against the pixels."""

    image: np.ndarray  # (S, S, 3) uint8 RGB
    keypoints: np.ndarray  # (K, 3) float32 x, y, v
    bbox: np.ndarray  # (4,) x, y, w, h: the tight box of the figure's pixels inside the image
    area: float  # the figure's pixel count inside the image, occluded parts included (a size, as COCO's area)
    mask: np.ndarray  # (S, S) bool: pixels where the figure is seen (not under the occluder)
    figure: Figure


# ----------------------------------------------------------------------------------- background, clutter


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    return np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A gradient, smooth noise, stripes or tiles, with a faint second layer of smooth noise."""
    kind = rng.integers(4)
    if kind == 0:
        base = cv2.resize(rng.integers(0, 256, (2, 2, 3), np.uint8), (size, size), interpolation=cv2.INTER_LINEAR)
    elif kind == 1:
        cells = rng.integers(3, 11)
        base = cv2.resize(rng.integers(0, 256, (cells, cells, 3), np.uint8), (size, size), cv2.INTER_CUBIC)
    elif kind == 2:
        x, y = _grid(size)
        angle, period = rng.uniform(0, np.pi), rng.uniform(5, 40)
        wave = 0.5 + 0.5 * np.sin((x * np.cos(angle) + y * np.sin(angle)) * (2 * np.pi / period))
        a, b = rng.integers(0, 256, (2, 3)).astype(np.float32)
        base = (a + wave[..., None] * (b - a)).astype(np.uint8)
    else:
        cells = rng.integers(2, 9)
        base = cv2.resize(rng.integers(0, 256, (cells, cells, 3), np.uint8), (size, size), cv2.INTER_NEAREST)
    cells = rng.integers(4, 16)
    noise = cv2.resize(rng.integers(0, 50, (cells, cells, 3), np.uint8), (size, size), cv2.INTER_CUBIC)
    base = cv2.addWeighted(base, 0.85, noise, 1.0, 0)
    grey = cv2.cvtColor(cv2.cvtColor(base, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    keep = rng.uniform(0.25, 1.0)  # real scenes are mostly less colourful than random RGB
    return cv2.addWeighted(base, keep, grey, 1.0 - keep, 0)


def _clutter(rng: np.random.Generator, image: np.ndarray, style: dict) -> None:
    """Shapes and lines behind the figure; some wear the figure's own colours (limb-like sticks included)."""
    size = image.shape[0]
    canvas = Canvas(image, with_mask=False)
    colors = [v for v in style.values() if isinstance(v, tuple)]
    for _ in range(rng.integers(2, 9)):
        color = colors[rng.integers(len(colors))] if rng.random() < 0.4 else random_color(rng)
        centre, radius = rng.uniform(0, size, 2), rng.uniform(0.03, 0.2) * size
        kind = rng.integers(5)
        if kind == 0:
            canvas.disc(centre, radius, color)
        elif kind == 1:
            box = cv2.boxPoints((tuple(centre), tuple(rng.uniform(0.3, 1.0, 2) * 2 * radius), rng.uniform(0, 180)))
            canvas.polygon(box, color)
        elif kind == 2:
            reach = radius * np.array([np.cos(a := rng.uniform(0, np.pi)), np.sin(a)])
            canvas.line(centre - reach, centre + reach, rng.uniform(0.02, 0.06) * size, color)
        elif kind == 3:
            canvas.ellipse(centre, radius * rng.uniform(0.3, 1.0, 2), rng.uniform(0, 180), color)
        else:
            path = np.round((centre + rng.normal(0, radius, (rng.integers(3, 6), 2))) * 16).astype(np.int32)
            cv2.polylines(image, [path], False, tuple(int(v) for v in color), 1, cv2.LINE_AA, SHIFT)


def _occluder(rng: np.random.Generator, keypoints: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """A box ``x0, y0, x1, y1`` (pixels x0..x1-1) over one side of the figure or across its middle, hiding
    a fifth to nearly half of it."""
    labelled = keypoints[keypoints[:, 2] > 0, :2]
    if not len(labelled):
        return 0, 0, 0, 0
    (bx0, by0), (bx1, by1) = labelled.min(axis=0), labelled.max(axis=0)
    bw, bh = max(bx1 - bx0, 4.0), max(by1 - by0, 4.0)
    part, extra = rng.uniform(0.2, 0.45), rng.uniform(0.05, 0.4, 4) * (bw, bh, bw, bh)
    x0, y0, x1, y1 = bx0 - extra[0], by0 - extra[1], bx1 + extra[2], by1 + extra[3]
    side = rng.integers(5)
    if side == 0:
        x1 = bx0 + part * bw
    elif side == 1:
        x0 = bx1 - part * bw
    elif side == 2:
        y1 = by0 + part * bh
    elif side == 3:
        y0 = by1 - part * bh
    else:
        y0 = by0 + rng.uniform(0.1, 0.9 - part) * bh
        y1 = y0 + part * bh
    return tuple(int(np.clip(round(v), 0, size)) for v in (x0, y0, x1, y1))


# ------------------------------------------------------------------------------------------------- scenes


def render_scene(rng: np.random.Generator, keypoints: int = 17, image_size: int = 192, plain: bool = False) -> Scene:
    """One image with one figure. ``plain`` draws the figure alone on flat grey (no texture, clutter,
    occluder or noise): for tests and for looking at the figures themselves."""
    skeleton = skeleton_for(keypoints)
    size = int(image_size)
    figure = random_figure(rng, "hand" if skeleton.num_keypoints == 21 else "body", size)
    image = np.full((size, size, 3), 128, np.uint8) if plain else _background(rng, size)
    if not plain:
        _clutter(rng, image, figure.style)
    drawn = draw_figure(image, figure) >= 128
    labels = figure_keypoints(figure, size)
    seen = drawn.copy()
    if not plain and rng.random() < OCCLUDED:
        x0, y0, x1, y1 = _occluder(rng, labels, size)
        if x1 > x0 and y1 > y0:
            image[y0:y1, x0:x1] = _background(rng, max(x1 - x0, y1 - y0))[: y1 - y0, : x1 - x0]
        seen[y0:y1, x0:x1] = False
        xs, ys = labels[:, 0], labels[:, 1]
        under = (xs >= x0 - 0.5) & (xs < x1 - 0.5) & (ys >= y0 - 0.5) & (ys < y1 - 0.5) & (labels[:, 2] > 0)
        labels[under, 2] = 1
    if not plain:
        image = _camera(rng, image)
    x, y, w, h = cv2.boundingRect(drawn.astype(np.uint8))
    if skeleton.num_keypoints == 13:
        labels = coco17_to_coco13(labels)
    bbox = np.array([x, y, w, h], np.float32)
    return Scene(image, labels, bbox, float(drawn.sum()), seen, figure)


def _camera(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Some blur and sensor noise, so that no region is perfectly flat."""
    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.4, 0.9))
    amplitude = rng.uniform(0, 7)  # uniform noise in +-amplitude: cheap to draw, and any noise will do here
    if amplitude < 1:
        return image
    noise = rng.integers(0, 256, image.shape, np.uint8)
    return cv2.addWeighted(image, 1.0, noise, amplitude / 127.5, -amplitude)


def render_sample(
    rng: np.random.Generator, keypoints: int = 17, image_size: int = 192
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(image (S, S, 3) uint8 RGB, keypoints (K, 3) float32, bbox x y w h, area)`` of one random image."""
    scene = render_scene(rng, keypoints, image_size)
    return scene.image, scene.keypoints, scene.bbox, scene.area


# ----------------------------------------------------------------------------------------------- datasets


def dataset_json(out_dir: Path) -> Path:
    """Where ``render_dataset`` puts the labels: ``person_keypoints_<folder name>.json`` inside the folder.

    ``write_coco`` stores image paths relative to the JSON (``images/000000.png``), and ``load_coco`` looks
    for ``<JSON's grandparent>/<name after person_keypoints_>`` first: with this name that is the folder
    itself, whatever else lies around it (a fixed name would pick up a sibling folder of that name)."""
    out_dir = Path(out_dir).absolute()
    return out_dir / f"person_keypoints_{out_dir.name}.json"


def render_dataset(
    out_dir: Path, n: int, keypoints: int = 17, image_size: int = 192, seed: int = 0, progress: bool = False
) -> Path:
    """Render ``n`` images into ``out_dir`` (``images/000000.png``, ... and the COCO keypoints JSON) and
    return the JSON's path. The folder appears complete or not at all; an existing synthetic set there is
    replaced, any other non-empty folder is an error.

    ``keypoints=13`` writes the STM32 model zoo's 13 points (the face merged into one head point), named
    so in the file's category.
    """
    skeleton = skeleton_for(keypoints)
    if n < 1 or image_size < 32:
        raise DataError(f"cannot render {n} images of {image_size} pixels: need n >= 1 and image size >= 32")
    labels = dataset_json(out_dir)
    out_dir = labels.parent
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and not labels.is_file())):
        raise DataError(f"{out_dir}: exists and is not a synthetic dataset; choose another folder or remove it")
    with atomic.atomic_directory(out_dir) as tmp, _progress_bar(progress, n, "rendering") as advance:
        (tmp / "images").mkdir()
        samples = []
        for index in range(n):
            rng = np.random.default_rng([seed, index])
            image, kpts, bbox, area = render_sample(rng, skeleton.num_keypoints, image_size)
            path = tmp / "images" / f"{index:06d}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), _PNG):
                raise DataError(f"{path}: cannot write the image")
            samples.append(PersonSample(path, bbox, kpts, (image_size, image_size), area, f"synthetic:{index}"))
            advance()
        write_coco(samples, tmp / labels.name, skeleton.keypoints, skeleton.limbs)
    return labels


@contextmanager
def _progress_bar(enabled: bool, total: int, label: str) -> Iterator[Callable[[], None]]:
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console.err) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
