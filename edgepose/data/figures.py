"""Articulated figures for the synthetic pose set: a body (the 17 COCO points) or a 21-point hand, posed at
random, placed in a square image and drawn with anti-aliased shapes; their keypoint labels and their mirror
images. ``edgepose.data.synthetic`` puts them into scenes.

What keeps a figure a stand-in for a real person rather than a puzzle with shortcuts:

- Left and right are told by the figure, as on a real person, never by colour. A body faces the camera (a
  face with eyes and nose; the person's left side on the image's right) or faces away (the back of the
  head, all hair; eyes and nose unlabelled; the person's left on the image's left). Both sides of a figure
  wear the same colours, so a mirrored image is another valid image whose labels are the swapped ones,
  which is exactly what flip augmentation assumes (``mirror_figure`` states it, the tests check it).
- A hand shows its palm (creases) or its back (nails); with the side its thumb is on, that tells which hand.
- Colours come per figure from skin and clothes palettes; joints are only slightly darker discs.
- Keypoints outside the image are ``v=0`` with ``x = y = 0``; the palm hides the fingers curled behind it
  (``v=1``).

Coordinates are pixels with pixel ``i``'s centre at ``x = i``.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from edgepose.skeletons import COCO17, HAND21

Color = tuple[int, int, int]

FRONT_FACING = 0.75  # share of bodies facing the camera: the face is the easier cue for left and right
SKIN = ((255, 224, 196), (241, 194, 150), (224, 172, 125), (198, 140, 96), (160, 106, 66), (120, 78, 48),
        (86, 54, 34), (232, 190, 160))  # fmt: skip
HAIR = ((25, 20, 18), (60, 40, 25), (100, 62, 32), (150, 110, 60), (205, 170, 110), (165, 165, 165), (120, 40, 20))
SHIFT = 4  # OpenCV's fixed-point bits: shapes land at 1/16 pixel, so small figures do not snap to the grid
_FACE = frozenset({"nose", "left_eye", "right_eye"})


@dataclass(frozen=True)
class Figure:
    """A posed figure in image pixels: its keypoints plus the helper points its drawing needs (neck, head,
    hands, feet, palm outline, creases), so that drawing depends on the points alone and mirrors with them."""

    kind: str  # "body" or "hand"
    view: str  # body: "front" (faces the camera) or "back"; hand: "palm" or "back"
    points: dict[str, np.ndarray]  # name -> (2,) x, y
    unit: float  # pixels per figure unit: the unposed body's height, or the hand's length
    style: dict  # colours by part ("skin", "shirt", "upper_arm", ...) and "bulk", the limbs' thickness factor
    order: tuple[str, str] = ("left", "right")  # body sides drawn far to near: the near one overlaps
    hidden: frozenset[str] = frozenset()  # keypoints that cannot be seen at all: v=0 (the face from behind)
    covered: frozenset[str] = frozenset()  # keypoints behind the figure itself: v=1 (fingers behind the palm)


# ------------------------------------------------------------------------------------------------ drawing


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return math.floor(point[0] * 16 + 0.5), math.floor(point[1] * 16 + 0.5)


class Canvas:
    """Draws anti-aliased shapes onto an image and, unless a shape says otherwise, onto the figure's mask."""

    def __init__(self, image: np.ndarray, with_mask: bool = True):
        self.image = image
        self.mask = np.zeros(image.shape[:2], np.uint8) if with_mask else None

    def _targets(self, color: Color, masked: bool) -> Iterator[tuple[np.ndarray, Color]]:
        yield self.image, tuple(int(c) for c in color)
        if masked and self.mask is not None:
            yield self.mask, 255

    def line(self, a, b, width: float, color: Color, masked: bool = True) -> None:
        for target, c in self._targets(color, masked):
            cv2.line(target, _fixed(a), _fixed(b), c, max(1, round(width)), cv2.LINE_AA, SHIFT)

    def disc(self, centre, radius: float, color: Color, masked: bool = True) -> None:
        for target, c in self._targets(color, masked):
            cv2.circle(target, _fixed(centre), max(8, round(radius * 16)), c, -1, cv2.LINE_AA, SHIFT)

    def polygon(self, points, color: Color, masked: bool = True) -> None:
        fixed = np.round(np.asarray(points) * 16).astype(np.int32)
        for target, c in self._targets(color, masked):
            cv2.fillPoly(target, [fixed], c, cv2.LINE_AA, SHIFT)

    def ellipse(self, centre, axes, angle: float, color: Color, masked: bool = True) -> None:
        size = (max(8, round(axes[0] * 16)), max(8, round(axes[1] * 16)))
        for target, c in self._targets(color, masked):
            cv2.ellipse(target, _fixed(centre), size, float(angle), 0, 360, c, -1, cv2.LINE_AA, SHIFT)


def _shade(color: Color, factor: float) -> Color:
    return tuple(int(min(255, c * factor)) for c in color)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.hypot(*v)), 1e-6)


def _joint(c: Canvas, point, width: float, color: Color) -> None:
    """The subtle joint mark: a slightly darker disc inside the limb."""
    c.disc(point, 0.38 * width, _shade(color, 0.85))


def _draw_body(c: Canvas, f: Figure) -> None:
    p, u, st = f.points, f.unit, f.style
    across = _unit(p["left_shoulder"] - p["right_shoulder"])
    hips = _unit(p["left_hip"] - p["right_hip"])
    upward = _unit(p["neck"] - p["pelvis"])
    c.polygon([p["left_shoulder"] + 0.02 * u * across, p["right_shoulder"] - 0.02 * u * across,
               p["right_hip"] - 0.02 * u * hips, p["left_hip"] + 0.02 * u * hips], st["shirt"])  # fmt: skip
    belt = 0.06 * u * upward
    c.polygon([p["left_hip"] + 0.02 * u * hips, p["right_hip"] - 0.02 * u * hips,
               p["right_hip"] + belt, p["left_hip"] + belt], st["trousers"])  # fmt: skip
    for side in f.order:
        _draw_leg(c, f, side)
    _draw_head(c, f)
    for side in f.order:
        _draw_arm(c, f, side)


def _draw_leg(c: Canvas, f: Figure, side: str) -> None:
    p, u, st = f.points, f.unit, f.style
    hip, knee, ankle, foot = (p[f"{side}_{j}"] for j in ("hip", "knee", "ankle", "foot"))
    thigh, shin = 0.09 * u * st["bulk"], 0.07 * u * st["bulk"]
    toe = foot - ankle
    angle = np.degrees(np.arctan2(toe[1], toe[0]))
    c.ellipse((ankle + foot) / 2, (np.hypot(*toe) / 2 + 0.3 * shin, 0.45 * shin), angle, st["shoes"])
    c.line(hip, knee, thigh, st["thigh"])
    c.line(knee, ankle, shin, st["shin"])
    _joint(c, hip, thigh, st["thigh"])
    _joint(c, knee, shin, st["shin"])
    _joint(c, ankle, shin, st["shin"])


def _draw_arm(c: Canvas, f: Figure, side: str) -> None:
    p, u, st = f.points, f.unit, f.style
    shoulder, elbow, wrist, hand = (p[f"{side}_{j}"] for j in ("shoulder", "elbow", "wrist", "hand"))
    upper, lower = 0.065 * u * st["bulk"], 0.055 * u * st["bulk"]
    c.line(wrist, hand, lower * 1.1, st["skin"])
    c.line(shoulder, elbow, upper, st["upper_arm"])
    c.line(elbow, wrist, lower, st["forearm"])
    _joint(c, shoulder, upper, st["upper_arm"])
    _joint(c, elbow, lower, st["forearm"])
    _joint(c, wrist, lower, st["skin"])


def _draw_head(c: Canvas, f: Figure) -> None:
    p, u, st = f.points, f.unit, f.style
    head = p["head"]
    upward = _unit(head - p["neck"])
    c.line(p["neck"], head, 0.05 * u, st["skin"])
    for side in f.order:
        c.disc(p[f"{side}_ear"], 0.017 * u, _shade(st["skin"], 0.95))
    c.disc(head, 0.068 * u, st["hair"])
    if f.view == "back":
        return  # the back of the head: hair only, which is what says "facing away"
    c.disc(head - 0.012 * u * upward, 0.058 * u, st["skin"])
    across = _unit(p["left_eye"] - p["right_eye"])
    for side in f.order:
        c.disc(p[f"{side}_eye"], 0.009 * u, (40, 30, 30))
    c.disc(p["nose"], 0.008 * u, _shade(st["skin"], 0.8))
    mouth = p["mouth"]
    c.line(mouth - 0.014 * u * across, mouth + 0.014 * u * across, 0.006 * u, _shade(st["skin"], 0.65))


_FINGERS = ("thumb", "index", "middle", "ring", "pinky")


def _finger_chain(finger: str) -> tuple[str, ...]:
    joints = ("cmc", "mcp", "ip", "tip") if finger == "thumb" else ("mcp", "pip", "dip", "tip")
    return tuple(f"{finger}_{j}" for j in joints)


def _draw_hand(c: Canvas, f: Figure) -> None:
    p, u, st = f.points, f.unit, f.style
    # The forearm shows which way the hand points, but it is not part of the hand's box or area.
    c.line(p["wrist"], p["forearm"], 0.3 * u, st["skin"], masked=False)
    c.line(p["sleeve"], p["forearm"], 0.36 * u, st["sleeve"], masked=False)
    palm = [p[f"palm{i}"] for i in range(len(_PALM))]
    if f.view == "palm":  # fingers curl in front of the palm
        c.polygon(palm, st["skin"])
        for name in ("heart", "head", "life"):
            crease = np.round(np.stack([p[f"{name}{i}"] for i in range(3)]) * 16).astype(np.int32)
            cv2.polylines(c.image, [crease], False, _shade(st["skin"], 0.72), 1, cv2.LINE_AA, SHIFT)
        _draw_fingers(c, f)
    else:  # fingers curl behind the back of the hand
        _draw_fingers(c, f)
        c.polygon(palm, st["skin"])
        for finger in _FINGERS[1:]:
            _joint(c, p[f"{finger}_mcp"], _FINGER_WIDTH[finger] * u, st["skin"])


def _draw_fingers(c: Canvas, f: Figure) -> None:
    p, u, st = f.points, f.unit, f.style
    for finger in _FINGERS:
        chain = [p[name] for name in _finger_chain(finger)]
        width = _FINGER_WIDTH[finger] * u
        for a, b in zip(chain, chain[1:], strict=False):
            c.line(a, b, width, st["skin"])
        for joint in chain[1:-1]:
            _joint(c, joint, width, st["skin"])
        if f.view == "back":
            tip = chain[-1]
            along = _unit(tip - chain[-2])
            angle = np.degrees(np.arctan2(along[1], along[0]))
            c.ellipse(tip - 0.2 * width * along, (0.3 * width, 0.26 * width), angle, st["nail"])


def draw_figure(image: np.ndarray, figure: Figure) -> np.ndarray:
    """Draw ``figure`` onto ``image`` (in place); returns the figure's mask, ``(S, S)`` uint8 0..255."""
    canvas = Canvas(image)
    (_draw_body if figure.kind == "body" else _draw_hand)(canvas, figure)
    return canvas.mask


# ----------------------------------------------------------------------------------------------- geometry


def _frame(angle: float) -> tuple[np.ndarray, np.ndarray]:
    """``up`` and ``side`` (the person's left when facing the camera) for a figure leaning by ``angle``."""
    s, c = np.sin(angle), np.cos(angle)
    return np.array([s, -c]), np.array([c, s])


def _foreshortening(rng: np.random.Generator) -> float:
    """A segment pointing towards or away from the camera looks shorter."""
    return rng.uniform(0.55, 1.0) if rng.random() < 0.3 else rng.uniform(0.9, 1.0)


def _body_pose(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Points in body units (standing height about 1, y down, pelvis at 0), facing the camera: +x is the
    person's left. Angles are from hanging straight down, positive outwards, within a body's limits."""
    lean = float(np.clip(rng.normal(0, 0.1), -0.3, 0.3))
    up, side = _frame(lean)
    head_up, head_side = _frame(lean + float(np.clip(rng.normal(0, 0.15), -0.4, 0.4)))
    build = rng.uniform(0.85, 1.15)
    p = {"pelvis": np.zeros(2), "neck": 0.33 * up}
    head = p["neck"] + 0.085 * head_up
    yaw = rng.uniform(-0.012, 0.012)  # the face turned a little: features shift, the head outline does not
    p.update(head=head, nose=head + 1.4 * yaw * head_side - 0.014 * head_up)
    p["mouth"] = head + 1.2 * yaw * head_side - 0.036 * head_up
    for sign, name in ((1, "left"), (-1, "right")):

        def towards(theta: float, sign: int = sign) -> np.ndarray:
            return np.cos(theta) * -up + np.sin(theta) * sign * side

        p[f"{name}_eye"] = head + (sign * 0.027 + yaw) * head_side + 0.01 * head_up
        p[f"{name}_ear"] = head + sign * 0.064 * head_side
        shoulder = p[f"{name}_shoulder"] = 0.29 * up + sign * 0.115 * build * side
        hip = p[f"{name}_hip"] = sign * 0.075 * build * side
        arm = rng.uniform(-0.3, 1.3) if rng.random() < 0.6 else rng.uniform(1.3, 3.0)
        forearm = arm + rng.uniform(-2.2, 1.6)
        elbow = p[f"{name}_elbow"] = shoulder + 0.16 * _foreshortening(rng) * towards(arm)
        wrist = p[f"{name}_wrist"] = elbow + 0.145 * _foreshortening(rng) * towards(forearm)
        p[f"{name}_hand"] = wrist + 0.045 * towards(forearm + rng.uniform(-0.4, 0.4))
        thigh = rng.uniform(-0.2, 0.55) if rng.random() < 0.85 else rng.uniform(0.55, 1.5)
        shin = float(np.clip(thigh + rng.uniform(-0.6, 0.5), -0.5, 1.7))
        knee = p[f"{name}_knee"] = hip + 0.245 * _foreshortening(rng) * towards(thigh)
        ankle = p[f"{name}_ankle"] = knee + 0.235 * _foreshortening(rng) * towards(shin)
        p[f"{name}_foot"] = ankle + 0.05 * towards(shin + 0.8)
    return p


_FINGER_BASE = {"index": (0.12, -0.50), "middle": (0.02, -0.53), "ring": (-0.08, -0.51), "pinky": (-0.17, -0.46)}
_FINGER_ANGLE = {"index": 0.10, "middle": 0.0, "ring": -0.10, "pinky": -0.22}
_FINGER_LENGTHS = {"index": (0.21, 0.13, 0.10), "middle": (0.24, 0.15, 0.11), "ring": (0.22, 0.14, 0.10),
                   "pinky": (0.17, 0.10, 0.09), "thumb": (0.20, 0.15, 0.13)}  # fmt: skip
_FINGER_WIDTH = {"thumb": 0.095, "index": 0.085, "middle": 0.088, "ring": 0.082, "pinky": 0.072}
_PALM = ((-0.15, 0.03), (0.15, 0.03), (0.21, -0.2), (0.15, -0.5), (0.02, -0.545), (-0.09, -0.525), (-0.19, -0.47),
         (-0.21, -0.2))  # fmt: skip
_CREASES = {"heart": ((0.16, -0.38), (0.0, -0.41), (-0.19, -0.37)), "head": ((0.17, -0.3), (0.0, -0.28),
            (-0.15, -0.22)), "life": ((0.16, -0.31), (0.07, -0.18), (0.07, -0.02))}  # fmt: skip


def _hand_pose(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Points in hand units (wrist to the straight middle fingertip about 1, y down, wrist at 0) of a right
    hand showing its palm, thumb towards +x. Curling shortens a finger as seen from the front, and past a
    right angle folds it back over the palm."""
    p = {"wrist": np.zeros(2), "sleeve": np.array([0.0, 0.5]), "forearm": np.array([0.0, 1.1])}
    spread, fist = rng.uniform(0.3, 1.8), rng.uniform(0, 1) ** 1.5
    for finger in _FINGERS[1:]:
        angle = _FINGER_ANGLE[finger] * spread + rng.normal(0, 0.04)
        along = np.array([np.sin(angle), -np.cos(angle)])
        curl = float(np.clip(fist + rng.normal(0, 0.15), 0, 1))
        flex = np.cumsum(curl * np.array([1.3, 1.6, 1.1]) * rng.uniform(0.85, 1.15, 3))
        point = np.array(_FINGER_BASE[finger])
        names = _finger_chain(finger)
        p[names[0]] = point
        for name, length, bent in zip(names[1:], _FINGER_LENGTHS[finger], flex, strict=True):
            point = p[name] = point + length * np.cos(bent) * along
    heading = rng.uniform(0.45, 1.1)  # the thumb bends across the palm, in the image plane
    point = p["thumb_cmc"] = np.array([0.10, -0.12])
    bends = rng.uniform(0, 0.5, 3)
    for name, length, bent in zip(_finger_chain("thumb")[1:], _FINGER_LENGTHS["thumb"], bends, strict=True):
        heading -= bent * rng.uniform(0, 1)
        point = p[name] = point + length * rng.uniform(0.85, 1.0) * np.array([np.sin(heading), -np.cos(heading)])
    p.update({f"palm{i}": np.array(xy) for i, xy in enumerate(_PALM)})
    p.update({f"{name}{i}": np.array(xy) for name, pts in _CREASES.items() for i, xy in enumerate(pts)})
    return p


def _behind_palm(points: dict[str, np.ndarray]) -> frozenset[str]:
    """Finger joints that fall inside the palm when the back of the hand faces the camera."""
    palm = np.array(_PALM, np.float32)
    joints = [n for f in _FINGERS for n in _finger_chain(f)[2 if f == "thumb" else 1 :]]
    inside = [n for n in joints if cv2.pointPolygonTest(palm, tuple(map(float, points[n])), True) > 0.02]
    return frozenset(inside)


def _place(
    rng: np.random.Generator, points: dict, size: int, height: float, rotation: float, pad: float, keep: tuple
) -> tuple[dict[str, np.ndarray], float]:
    """Scale the figure so that its posed height is ``height`` × the image, rotate it by ``rotation`` and put
    it anywhere its keypoints stay mostly inside the image (up to 15% of its extent may leave on a side)."""
    ref = np.stack([points[n] for n in keep])
    unit = height * size / (np.ptp(ref[:, 1]) + pad)
    s, c = np.sin(rotation), np.cos(rotation)
    matrix = unit * np.array([[c, -s], [s, c]])
    centre = (ref.min(axis=0) + ref.max(axis=0)) / 2
    moved = {n: matrix @ (xy - centre) for n, xy in points.items()}
    ref = np.stack([moved[n] for n in keep])
    low, high = ref.min(axis=0), ref.max(axis=0)
    slack = 0.15 * (high - low)
    lo, hi = -low - slack, size - 1 - high + slack
    shift = np.where(lo < hi, rng.uniform(np.minimum(lo, hi), np.maximum(lo, hi)), (lo + hi) / 2)
    return {n: xy + shift for n, xy in moved.items()}, float(unit)


def mirror_figure(figure: Figure, width: int) -> Figure:
    """The figure as a horizontal flip of its image shows it: positions mirrored (pixel ``i`` trades places
    with ``width - 1 - i``) and left and right renamed, as ``skeletons.flip_keypoints`` does to labels."""

    def swap(name: str) -> str:
        for a, b in (("left", "right"), ("right", "left")):
            if name == a or name.startswith(f"{a}_"):
                return b + name[len(a) :]
        return name

    points = {swap(n): np.array([width - 1 - xy[0], xy[1]]) for n, xy in figure.points.items()}
    order = (swap(figure.order[0]), swap(figure.order[1]))
    return replace(figure, points=points, order=order, hidden=frozenset(map(swap, figure.hidden)))


# ------------------------------------------------------------------------------------------------- styles


def random_color(rng: np.random.Generator) -> Color:
    hue, saturation, value = rng.random(), rng.uniform(0.15, 1.0), rng.uniform(0.15, 1.0)
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, saturation, value))


def _skin(rng: np.random.Generator) -> Color:
    return _shade(SKIN[rng.integers(len(SKIN))], rng.uniform(0.9, 1.08))


def _body_style(rng: np.random.Generator) -> dict:
    skin = _skin(rng)
    hairs = [h for h in HAIR if np.abs(np.subtract(h, skin)).sum() > 150] or [HAIR[0]]
    shirt, trousers = random_color(rng), random_color(rng)
    return {
        "skin": skin,
        "hair": hairs[rng.integers(len(hairs))],
        "shirt": shirt,
        "trousers": trousers,
        "shoes": _shade(random_color(rng), 0.4),
        "upper_arm": shirt,
        "forearm": shirt if rng.random() < 0.5 else skin,
        "thigh": trousers,
        "shin": trousers if rng.random() < 0.75 else skin,
        "bulk": rng.uniform(0.8, 1.25),
    }


def _hand_style(rng: np.random.Generator) -> dict:
    skin = _skin(rng)
    nail = tuple(int(0.45 * s + 0.55 * w) for s, w in zip(skin, (255, 228, 228), strict=True))
    return {"skin": skin, "sleeve": random_color(rng), "nail": nail}


def random_figure(rng: np.random.Generator, kind: str, size: int) -> Figure:
    """A random body or hand, posed, scaled and placed in a ``size`` × ``size`` image."""
    if kind == "body":
        view = "front" if rng.random() < FRONT_FACING else "back"
        points = _body_pose(rng)
        if view == "back":  # seen from behind, the person's left is on the image's left: the mirror image
            points = {n: xy * (-1, 1) for n, xy in points.items()}
        rotation = float(np.clip(rng.normal(0, 0.2), -0.6, 0.6))
        points, unit = _place(rng, points, size, rng.uniform(0.35, 0.95), rotation, 0.07, COCO17.keypoints)
        order = ("left", "right") if rng.random() < 0.5 else ("right", "left")
        hidden = _FACE if view == "back" else frozenset()
        return Figure("body", view, points, unit, _body_style(rng), order, hidden)
    view = "palm" if rng.random() < 0.5 else "back"
    left_hand = rng.random() < 0.5
    points = _hand_pose(rng)
    covered = _behind_palm(points) if view == "back" else frozenset()
    if left_hand != (view == "back"):  # a left palm, or a right hand's back: thumb on the image's left
        points = {n: xy * (-1, 1) for n, xy in points.items()}
    rotation = float(np.clip(rng.normal(0, 0.7), -2.0, 2.0))
    points, unit = _place(rng, points, size, rng.uniform(0.35, 0.85), rotation, 0.05, HAND21.keypoints)
    return Figure("hand", view, points, unit, _hand_style(rng), covered=covered)


def figure_keypoints(figure: Figure, size: int) -> np.ndarray:
    """``(17, 3)`` or ``(21, 3)`` labels of a figure in a ``size``-pixel square image, before occluders."""
    names = COCO17.keypoints if figure.kind == "body" else HAND21.keypoints
    keypoints = np.zeros((len(names), 3), np.float32)
    for i, name in enumerate(names):
        x, y = figure.points[name]
        if name not in figure.hidden and 0 <= x <= size - 1 and 0 <= y <= size - 1:
            keypoints[i] = (x, y, 1 if name in figure.covered else 2)
    return keypoints
