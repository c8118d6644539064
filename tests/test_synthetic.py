"""The synthetic pose renderer: determinism, labels that match the pixels, left and right told by the figure
(not by colour) so that flip augmentation stays truthful, and atomic dataset writing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.data import figures, synthetic
from edgepose.data.coco import load_coco
from edgepose.data.figures import draw_figure, figure_keypoints, mirror_figure
from edgepose.data.synthetic import render_dataset, render_sample, render_scene
from edgepose.errors import DataError
from edgepose.skeletons import COCO17, HAND21, coco17_to_coco13, flip_keypoints

SIZE = 128
LS, RS, LH, RH = (COCO17.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"))


def scenes(keypoints: int, count: int = 60, plain: bool = False, seed: int = 3):
    return [render_scene(np.random.default_rng([seed, i]), keypoints, SIZE, plain=plain) for i in range(count)]


def left_on_image_right(kpts: np.ndarray) -> float:
    """Where the left shoulder lies from the right one, along the figure's own image-right direction
    (image right turned with the torso): positive means the person's left shows on the image's right."""
    up = (kpts[LS, :2] + kpts[RS, :2]) / 2 - (kpts[LH, :2] + kpts[RH, :2]) / 2
    image_right = np.array([-up[1], up[0]])
    return float(np.dot(kpts[LS, :2] - kpts[RS, :2], image_right))


@pytest.mark.parametrize("keypoints", [17, 13, 21])
def test_same_seed_same_sample(keypoints):
    a = render_sample(np.random.default_rng(7), keypoints, SIZE)
    b = render_sample(np.random.default_rng(7), keypoints, SIZE)
    c = render_sample(np.random.default_rng(8), keypoints, SIZE)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    image, kpts, bbox, area = a
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    assert kpts.shape == (keypoints, 3) and bbox.shape == (4,) and area > 0


def test_unknown_keypoint_count_is_a_data_error():
    with pytest.raises(DataError, match="13, 17 or 21"):
        render_sample(np.random.default_rng(0), 15, SIZE)


@pytest.mark.parametrize("keypoints", [17, 21])
def test_labels_lie_on_the_figure(keypoints):
    for scene in scenes(keypoints):
        kpts = scene.keypoints
        labelled = kpts[:, 2] > 0
        assert labelled.sum() >= 3
        assert ((kpts[labelled, :2] >= 0) & (kpts[labelled, :2] <= SIZE - 1)).all()
        assert (kpts[~labelled, :2] == 0).all()
        cols, rows = np.round(kpts[:, :2]).astype(int).T
        visible = kpts[:, 2] == 2
        assert scene.mask[rows[visible], cols[visible]].all(), "a visible keypoint off the figure's seen pixels"
        x, y, w, h = scene.bbox
        assert x >= 0 and y >= 0 and x + w <= SIZE and y + h <= SIZE
        assert ((kpts[labelled, 0] >= x - 0.5) & (kpts[labelled, 0] <= x + w - 0.5)).all()
        assert 0 < scene.area <= w * h


@pytest.mark.parametrize("keypoints", [17, 21])
def test_plain_figures_cover_every_labelled_point(keypoints):
    """On flat grey with no occluder, every labelled point, occluded ones (fingers behind the palm)
    included, is a pixel the figure painted."""
    for scene in scenes(keypoints, plain=True):
        kpts = scene.keypoints[scene.keypoints[:, 2] > 0]
        cols, rows = np.round(kpts[:, :2]).astype(int).T
        assert scene.mask[rows, cols].all()
        assert (scene.image[rows, cols] != 128).any(axis=1).all()


def test_occluded_points_are_under_an_occluder():
    occluded = 0
    for scene in scenes(17, count=120):
        kpts = scene.keypoints
        cols, rows = np.round(kpts[:, :2]).astype(int).T
        hidden = kpts[:, 2] == 1
        occluded += hidden.sum()
        assert not scene.mask[rows[hidden], cols[hidden]].any(), "a v=1 body point shows the figure"
    assert occluded > 20, "the occluder box never hid anything"


def test_figures_seen_from_behind_have_no_face():
    views = [s.figure.view for s in scenes(17, count=200)]
    assert 0.65 < views.count("front") / len(views) < 0.85
    for scene in scenes(17, count=80):
        face = scene.keypoints[:3]
        if scene.figure.view == "back":
            assert (face == 0).all(), "eyes and nose cannot be labelled from behind"

    back = next(i for i, s in enumerate(scenes(17, count=40)) if s.figure.view == "back")
    body = render_scene(np.random.default_rng([3, back]), 17, SIZE).keypoints
    head = render_scene(np.random.default_rng([3, back]), 13, SIZE).keypoints
    np.testing.assert_allclose(head, coco17_to_coco13(body), atol=1e-5)
    ears = body[3:5][body[3:5, 2] > 0]
    if len(ears):  # the 13-point head of a figure seen from behind sits between its ears
        np.testing.assert_allclose(head[0, :2], ears[:, :2].mean(axis=0), atol=1e-4)


def test_left_and_right_follow_the_way_the_figure_faces():
    """Facing the camera, the person's left shows on the image's right; from behind, on the image's left."""
    checked = 0
    for scene in scenes(17, count=120, plain=True):
        kpts = figure_keypoints(scene.figure, 10 * SIZE)  # no point drops out of a large canvas
        side = left_on_image_right(kpts)
        assert side > 0 if scene.figure.view == "front" else side < 0
        checked += 1
    assert checked == 120


def assert_mirror_is_a_render(scene, skeleton) -> None:
    """A flipped image is what the renderer draws for the mirrored figure, and the flipped labels are that
    figure's labels. Were left and right told by colour (a red left arm), the mirrored render would paint
    the new left arm red where the flipped image shows the old right arm, and this fails."""
    mirrored = mirror_figure(scene.figure, SIZE)
    redrawn = np.full_like(scene.image, 128)
    mask = draw_figure(redrawn, mirrored) > 0
    flipped = scene.image[:, ::-1]
    difference = np.abs(redrawn.astype(int) - flipped.astype(int)).max(axis=2)[mask | scene.mask[:, ::-1]]
    assert (difference > 40).mean() < 0.01 and difference.mean() < 2
    np.testing.assert_allclose(
        flip_keypoints(figure_keypoints(scene.figure, SIZE), SIZE, skeleton),
        figure_keypoints(mirrored, SIZE),
        atol=1e-3,
    )


def test_a_flipped_image_with_swapped_labels_is_a_valid_image():
    bodies = scenes(17, count=12, plain=True)
    assert {s.figure.view for s in bodies} == {"front", "back"}
    for scene in bodies:
        assert_mirror_is_a_render(scene, COCO17)
        if scene.figure.view == "front":  # still a face, so the flipped labels must keep left on image right
            flipped = flip_keypoints(figure_keypoints(scene.figure, 10 * SIZE), 10 * SIZE, COCO17)
            assert left_on_image_right(flipped) > 0
    for scene in scenes(21, count=6, plain=True):
        assert_mirror_is_a_render(scene, HAND21)


def test_the_flip_check_catches_colour_coded_sides(monkeypatch):
    """The check above has teeth: paint the left arm red and it fails."""
    draw_arm = figures._draw_arm

    def red_left_arm(canvas, figure, side):
        if side == "left":
            red = (255, 0, 0)
            figure = replace(figure, style={**figure.style, "upper_arm": red, "forearm": red})
        draw_arm(canvas, figure, side)

    monkeypatch.setattr(figures, "_draw_arm", red_left_arm)
    scene = render_scene(np.random.default_rng(11), 17, SIZE, plain=True)
    with pytest.raises(AssertionError):
        assert_mirror_is_a_render(scene, COCO17)


@pytest.mark.parametrize("keypoints", [17, 13, 21])
def test_dataset_loads_through_load_coco(tmp_path, keypoints):
    labels = render_dataset(tmp_path / "synth", 6, keypoints=keypoints, image_size=96, seed=1)
    assert labels == tmp_path / "synth" / "person_keypoints_synth.json"
    samples = load_coco(labels, keypoints=keypoints)
    assert len(samples) == 6
    for index, sample in enumerate(samples):
        assert sample.keypoints.shape == (keypoints, 3)
        assert sample.image_size == (96, 96)
        image = cv2.imread(str(sample.image))
        assert image is not None and image.shape == (96, 96, 3)
        expected = render_sample(np.random.default_rng([1, index]), keypoints, 96)
        np.testing.assert_array_equal(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), expected[0])
        np.testing.assert_allclose(sample.keypoints, expected[1], atol=1e-3)


def test_same_seed_same_dataset(tmp_path):
    first = load_coco(render_dataset(tmp_path / "a", 3, image_size=64, seed=5))
    second = load_coco(render_dataset(tmp_path / "b", 3, image_size=64, seed=5))
    for a, b in zip(first, second, strict=True):
        assert a.image.read_bytes() == b.image.read_bytes()
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_interrupted_render_leaves_no_dataset(tmp_path, monkeypatch):
    calls = []
    real = synthetic.render_sample

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(synthetic, "render_sample", failing)
    with pytest.raises(KeyboardInterrupt):
        render_dataset(tmp_path / "synth", 5, image_size=64)
    assert list(tmp_path.iterdir()) == []


def test_render_replaces_a_synthetic_set_but_not_other_folders(tmp_path):
    out = tmp_path / "synth"
    render_dataset(out, 2, image_size=64)
    render_dataset(out, 3, image_size=64, seed=2)
    assert len(load_coco(out / "person_keypoints_synth.json")) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synth"]
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(DataError, match="not a synthetic dataset"):
        render_dataset(other, 2, image_size=64)
    assert (other / "notes.txt").read_text() == "keep me"


def test_draw_figure_returns_the_painted_pixels():
    scene = render_scene(np.random.default_rng(4), 17, SIZE, plain=True)
    canvas = np.zeros((SIZE, SIZE, 3), np.uint8)
    mask = draw_figure(canvas, scene.figure)
    assert mask.dtype == np.uint8 and mask.shape == (SIZE, SIZE)
    assert ((canvas.max(axis=2) > 0) == (mask > 0)).mean() > 0.99


def test_render_speed_is_reasonable(tmp_path):
    """A loose floor (the target is 200 images/s at 192 px on one core): catches an accidental slow path."""
    import time

    start = time.process_time()
    render_dataset(tmp_path / "speed", 40, image_size=192)
    assert 40 / (time.process_time() - start) > 40


def test_images_path_is_relative(tmp_path):
    labels = render_dataset(tmp_path / "synth", 1, image_size=64)
    text = Path(labels).read_text()
    assert '"file_name": "images/000000.png"' in text
