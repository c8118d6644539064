"""Keypoint sets: names, left/right flip pairs, limbs for drawing, and OKS sigmas.

- ``coco17``: the 17 COCO person keypoints, with COCO's own sigmas.
- ``coco13``: the STM32 model zoo's 13-point variant: COCO's five face points (nose, eyes, ears) merged
  into one ``head`` point, then the 12 body points. The head's sigma is the mean of the five face sigmas.
- ``hand21``: the 21 hand landmarks (wrist, then four joints per finger from thumb to little finger), with
  COCO-WholeBody's hand sigmas. A flipped hand is the other hand, so it has no flip pairs.

Keypoint arrays are ``(..., K, 3)`` float arrays of ``x, y, v`` in pixels, ``v`` as in COCO: 0 not labelled,
1 labelled but occluded, 2 visible. Coordinates follow the pixel-index convention that OpenCV's warps use:
the centre of pixel ``i`` is at ``x = i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.errors import DataError


@dataclass(frozen=True)
class Skeleton:
    name: str
    keypoints: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    limbs: tuple[tuple[int, int], ...]
    sigmas: tuple[float, ...]

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    def flip_permutation(self) -> np.ndarray:
        """Index map that swaps left and right: ``flipped[..., i, :] = kpts[..., perm[i], :]``."""
        perm = np.arange(self.num_keypoints)
        for left, right in self.flip_pairs:
            perm[left], perm[right] = right, left
        return perm

    def index(self, name: str) -> int:
        return self.keypoints.index(name)


_COCO17_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
_COCO17_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
    0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip

COCO17 = Skeleton(
    name="coco17",
    keypoints=_COCO17_NAMES,
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)),
    limbs=(
        (15, 13),
        (13, 11),
        (16, 14),
        (14, 12),
        (11, 12),
        (5, 11),
        (6, 12),
        (5, 6),
        (5, 7),
        (6, 8),
        (7, 9),
        (8, 10),
        (1, 2),
        (0, 1),
        (0, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
    ),  # fmt: skip
    sigmas=_COCO17_SIGMAS,
)

_FACE = slice(0, 5)

COCO13 = Skeleton(
    name="coco13",
    keypoints=("head", *_COCO17_NAMES[5:]),
    flip_pairs=((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)),
    limbs=(
        (0, 1),
        (0, 2),
        (1, 2),
        (1, 3),
        (3, 5),
        (2, 4),
        (4, 6),
        (1, 7),
        (2, 8),
        (7, 8),
        (7, 9),
        (9, 11),
        (8, 10),
        (10, 12),
    ),  # fmt: skip
    sigmas=(round(float(np.mean(_COCO17_SIGMAS[_FACE])), 4), *_COCO17_SIGMAS[5:]),
)

_FINGERS = ("thumb", "index", "middle", "ring", "pinky")
_JOINTS = {"thumb": ("cmc", "mcp", "ip", "tip")}

HAND21 = Skeleton(
    name="hand21",
    keypoints=(
        "wrist",
        *(f"{finger}_{joint}" for finger in _FINGERS for joint in _JOINTS.get(finger, ("mcp", "pip", "dip", "tip"))),
    ),
    flip_pairs=(),
    limbs=tuple(
        pair
        for base in range(1, 21, 4)
        for pair in ((0, base), (base, base + 1), (base + 1, base + 2), (base + 2, base + 3))
    ),
    sigmas=(
        0.029,
        0.022,
        0.035,
        0.037,
        0.047,
        0.026,
        0.025,
        0.024,
        0.035,
        0.018,
        0.024,
        0.022,
        0.026,
        0.017,
        0.021,
        0.021,
        0.032,
        0.020,
        0.019,
        0.022,
        0.031,
    ),  # fmt: skip
)

SKELETONS = {s.name: s for s in (COCO17, COCO13, HAND21)}
BY_COUNT = {17: COCO17, 13: COCO13, 21: HAND21}


def skeleton_for(keypoints: int | str) -> Skeleton:
    """A skeleton by name (``coco17``) or by keypoint count (13, 17, 21)."""
    found = BY_COUNT.get(keypoints) if isinstance(keypoints, int) else SKELETONS.get(keypoints)
    if found is None:
        raise DataError(f"no skeleton with {keypoints!r} keypoints; use 13, 17 or 21 ({', '.join(SKELETONS)})")
    return found


def coco17_to_coco13(keypoints: np.ndarray) -> np.ndarray:
    """Merge the five face points into one head point: the mean of the labelled face points' positions,
    with the highest visibility among them; ``(..., 17, 3)`` → ``(..., 13, 3)``."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.shape[-2:] != (17, 3):
        raise DataError(f"expected (..., 17, 3) COCO keypoints, got shape {keypoints.shape}")
    face = keypoints[..., _FACE, :]
    labelled = (face[..., 2] > 0).astype(np.float32)
    count = labelled.sum(axis=-1, keepdims=True)
    xy = (face[..., :2] * labelled[..., None]).sum(axis=-2) / np.maximum(count, 1)
    head = np.concatenate([xy * (count > 0), face[..., 2].max(axis=-1, keepdims=True)], axis=-1)
    return np.concatenate([head[..., None, :], keypoints[..., 5:, :]], axis=-2)


def flip_keypoints(keypoints: np.ndarray, width: float, skeleton: Skeleton) -> np.ndarray:
    """Mirror ``(..., K, 3)`` keypoints horizontally in an image ``width`` pixels wide and swap left/right.

    With pixel centres at integer ``x``, pixel ``i`` trades places with pixel ``width - 1 - i``.
    """
    flipped = np.array(keypoints, dtype=np.float32, copy=True)
    flipped[..., 0] = np.where(flipped[..., 2] > 0, width - 1 - flipped[..., 0], 0.0)
    return flipped[..., skeleton.flip_permutation(), :]
