"""Pictures of keypoints: a skeleton drawn on an image, a crop around one person, a grid of many images.

``data inspect`` draws labels with them, and evaluation draws predictions over ground truth (one fixed
colour each). Images are ``(H, W, 3)`` uint8 in the caller's channel order, colours in that same order;
keypoints are ``(K, 3)`` ``x, y, v`` in pixels with pixel ``i``'s centre at ``x = i``, which is also where
OpenCV draws, so no half-pixel shift is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from edgepose.skeletons import Skeleton

Color = tuple[int, int, int]

LEFT: Color = (255, 140, 0)
RIGHT: Color = (0, 150, 255)
CENTRE: Color = (60, 220, 60)
# Hand fingers, thumb to little finger; the wrist takes CENTRE.
FINGERS: tuple[Color, ...] = ((255, 80, 80), (255, 200, 0), (60, 220, 60), (0, 190, 255), (200, 90, 255))
_FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
_SHIFT = 4  # OpenCV fixed-point bits: points land at 1/16 pixel


def keypoint_colors(skeleton: Skeleton) -> list[Color]:
    """A colour per keypoint: the person's left, right and middle differ; a hand's fingers differ."""
    colors = []
    for name in skeleton.keypoints:
        finger = next((i for i, f in enumerate(_FINGER_NAMES) if name.startswith(f)), None)
        if finger is not None:
            colors.append(FINGERS[finger])
        else:
            colors.append(LEFT if name.startswith("left") else RIGHT if name.startswith("right") else CENTRE)
    return colors


def _fixed(x: float, y: float) -> tuple[int, int]:
    return int(round(x * (1 << _SHIFT))), int(round(y * (1 << _SHIFT)))


def draw_skeleton(
    image: np.ndarray, keypoints: np.ndarray, skeleton: Skeleton, color: Color | None = None, thickness: int = 0
) -> np.ndarray:
    """A copy of ``image`` with the skeleton drawn: limbs between labelled points, visible points as
    filled dots, occluded ones (``v=1``) as rings; ``v=0`` points are not drawn. ``color=None`` colours by
    side (``keypoint_colors``); one colour is for comparing sets, e.g. predictions over ground truth.
    ``thickness`` 0 scales with the image."""
    out = np.array(image, dtype=np.uint8, copy=True)
    kpts = np.asarray(keypoints, dtype=np.float32).reshape(-1, 3)
    if kpts.shape[0] != skeleton.num_keypoints:
        raise ValueError(f"{kpts.shape[0]} keypoints for the {skeleton.name} skeleton of {skeleton.num_keypoints}")
    colors = [color] * len(kpts) if color is not None else keypoint_colors(skeleton)
    width = thickness or max(1, round(max(out.shape[:2]) / 200))
    radius = (width + 2) << _SHIFT
    for a, b in skeleton.limbs:
        if kpts[a, 2] > 0 and kpts[b, 2] > 0:
            limb = colors[b] if colors[a] == colors[b] or color is not None else CENTRE
            cv2.line(out, _fixed(*kpts[a, :2]), _fixed(*kpts[b, :2]), limb, width, cv2.LINE_AA, _SHIFT)
    for (x, y, v), c in zip(kpts, colors, strict=True):
        if v > 0:
            cv2.circle(out, _fixed(x, y), radius, c, -1 if v > 1 else width, cv2.LINE_AA, _SHIFT)
    return out


def crop_around(
    image: np.ndarray, bbox: Sequence[float], keypoints: np.ndarray, size: int, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """A ``size`` × ``size`` crop of the square around a person's ``x, y, w, h`` box (its longer side times
    ``padding``; grey outside the image), and the keypoints moved into it (``v=0`` ones stay at 0)."""
    x, y, w, h = (float(v) for v in bbox)
    side = max(w, h, 1.0) * padding
    scale = size / side
    # The box's centre (in pixel-centre coordinates) goes to the crop's centre.
    cx, cy = x + w / 2 - 0.5, y + h / 2 - 0.5
    matrix = np.array([[scale, 0, (size - 1) / 2 - scale * cx], [0, scale, (size - 1) / 2 - scale * cy]], np.float32)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))  # fmt: skip
    moved = np.array(keypoints, dtype=np.float32, copy=True).reshape(-1, 3)
    labelled = moved[:, 2] > 0
    moved[labelled, :2] = moved[labelled, :2] @ matrix[:, :2].T + matrix[:, 2]
    return crop, moved


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` scaled to fit ``height`` × ``width`` with its aspect kept, centred on black."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    tile = np.zeros((height, width, 3), np.uint8)
    top, left = (height - nh) // 2, (width - nw) // 2
    resized = image if (nh, nw) == (h, w) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    tile[top : top + nh, left : left + nw] = resized[..., :3]
    return tile


def image_grid(images: Sequence[np.ndarray], columns: int, tile: tuple[int, int] | None = None) -> np.ndarray:
    """Images side by side, ``columns`` per row, each fitted into a ``tile`` of ``(height, width)`` (the
    first image's size by default); ``(rows × height, columns × width, 3)`` uint8, empty cells black."""
    if not images:
        raise ValueError("image_grid needs at least one image")
    columns = max(1, min(columns, len(images)))
    height, width = tile or images[0].shape[:2]
    rows = math.ceil(len(images) / columns)
    grid = np.zeros((rows * height, columns * width, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid[r * height : (r + 1) * height, c * width : (c + 1) * width] = _fit(image, height, width)
    return grid
