"""``edgepose predict`` on images, folders and a video: keypoints land where the picture puts them, in
frame pixels, with and without a person box; outputs are COCO results, annotated images and an annotated
video; a bad file is one line and the rest go on; ``--target host`` runs every frame through the board agent
and checks it against the host."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.convert.metadata import Normalization, write_sidecar

pytestmark = pytest.mark.slow

KEYPOINTS = 17


def _dot_model(folder: Path) -> Path:
    """A model whose every heatmap is the picture's red channel pooled to stride 4: its keypoints are where
    the picture's one bright dot is, so where predict puts them can be checked exactly."""
    import keras

    inputs = keras.Input((96, 96, 3), name="image")
    pooled = keras.layers.AveragePooling2D(4)(inputs)
    heatmaps = keras.layers.Conv2D(KEYPOINTS, 1, name="heatmaps")(pooled)
    model = keras.Model(inputs, heatmaps, name="dot")
    kernel = np.zeros((1, 1, 3, KEYPOINTS), np.float32)
    kernel[0, 0, 0, :] = 1.0  # red only
    model.get_layer("heatmaps").set_weights([kernel, np.zeros(KEYPOINTS, np.float32)])
    path = folder / "dot.keras"
    model.save(path)
    write_sidecar(path, "keras", Normalization(), None)
    return path


def _picture(width: int, height: int, dot: tuple[float, float], sigma: float | None = None) -> np.ndarray:
    """BGR, black, with a red Gaussian blob centred on ``dot``, about one heatmap pixel wide once the frame
    fills the model's input: its heatmap peak is unique and symmetric, so its centre is found exactly."""
    sigma = sigma or max(width, height) / 24
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 2] = np.round(255 * np.exp(-((xs - dot[0]) ** 2 + (ys - dot[1]) ** 2) / (2 * sigma**2)))
    return image


def _predictions(run: Path) -> list[dict]:
    return json.loads((run / "predictions.json").read_text())


def _xy(result: dict) -> np.ndarray:
    return np.asarray(result["keypoints"], np.float32).reshape(-1, 3)[:, :2]


def test_images_folder_and_video_give_keypoints_where_the_dot_is(tmp_path: Path, edgepose) -> None:
    model = _dot_model(tmp_path)
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    cv2.imwrite(str(pictures / "wide.png"), _picture(200, 120, (150, 40)))  # letterboxed: taller margins
    cv2.imwrite(str(pictures / "tall.jpg"), _picture(100, 180, (30, 140)))
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    video = tmp_path / "walk.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 160))
    dots = [(40 + 10 * i, 80) for i in range(6)]
    for dot in dots:
        writer.write(_picture(160, 160, dot))
    writer.release()

    result = edgepose("predict", str(model), "pictures", "walk.mp4", "missing.png", "--out", "run")
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    results = _predictions(run)
    by_name = {r["file_name"]: r for r in results if "frame" not in r}
    assert set(by_name) == {"tall.jpg", "wide.png"}
    np.testing.assert_allclose(_xy(by_name["wide.png"]), np.tile([150, 40], (KEYPOINTS, 1)), atol=1.5)
    np.testing.assert_allclose(_xy(by_name["tall.jpg"]), np.tile([30, 140], (KEYPOINTS, 1)), atol=1.5)
    assert by_name["wide.png"]["bbox"] == [0, 0, 200, 120]  # the whole frame, letterboxed
    assert {r["category_id"] for r in results} == {1}
    assert [r["image_id"] for r in results] == list(range(len(results)))

    frames = [r for r in results if r.get("frame") is not None]
    assert [r["frame"] for r in frames] == list(range(6))
    for frame, (x, y) in zip(frames, dots, strict=True):
        np.testing.assert_allclose(_xy(frame), np.tile([x, y], (KEYPOINTS, 1)), atol=1.5)
    track = json.loads((run / "walk.keypoints.json").read_text())
    assert [f["frame"] for f in track["frames"]] == list(range(6)) and track["fps"] == pytest.approx(10)
    annotated = cv2.VideoCapture(str(run / "walk.mp4"))
    assert int(annotated.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    annotated.release()
    assert cv2.imread(str(run / "wide.jpg")).shape == (120, 200, 3)
    assert not list(run.glob(".*partial*"))

    # each bad input is one line and the others went on
    assert "broken.jpg: OpenCV cannot decode this image" in result.stderr
    assert "missing.png: no such file or folder" in result.stderr
    assert len(json.loads((run / "problems.json").read_text())) == 2
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {Path(o["path"]).name for o in manifest["outputs"]} >= {"predictions.json", "walk.mp4", "tall.jpg"}


def test_a_person_box_crops_around_the_person(tmp_path: Path, edgepose) -> None:
    model = _dot_model(tmp_path)
    image = _picture(400, 300, (330, 60), sigma=6)
    image = np.maximum(image, _picture(400, 300, (60, 250), sigma=12))  # outside the box: the crop must not see it
    cv2.imwrite(str(tmp_path / "scene.png"), image)
    (tmp_path / "boxes.json").write_text(json.dumps({"scene.png": [290, 20, 80, 120]}))
    result = edgepose("predict", str(model), "scene.png", "--boxes", "boxes.json", "--out", "run")
    assert result.returncode == 0, result.stderr[-3000:]
    (only,) = _predictions(tmp_path / "run")
    assert only["bbox"] == [290, 20, 80, 120]
    np.testing.assert_allclose(_xy(only), np.tile([330, 60], (KEYPOINTS, 1)), atol=1.5)

    (tmp_path / "bad.json").write_text(json.dumps({"scene.png": [1, 2, 3]}))
    result = edgepose("predict", str(model), "scene.png", "--boxes", "bad.json", "--out", "run2")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith("'scene.png': a box is [x, y, width, height] in pixels, got [1, 2, 3]")
    )
    assert not (tmp_path / "run2").exists()


def test_nothing_readable_is_exit_2(tmp_path: Path, edgepose) -> None:
    model = _dot_model(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    result = edgepose("predict", str(model), "notes.txt", "--out", "run")
    assert result.returncode == 2
    assert "notes.txt: not an image or video file edgepose reads" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: no image or video to predict on")


def test_every_frame_runs_on_the_board_agent_and_matches_the_host(tmp_path: Path, edgepose) -> None:
    model = _dot_model(tmp_path)
    exported = edgepose("export", str(model), "--format", "tflite", "--out", "export")
    assert exported.returncode == 0, exported.stderr[-3000:]
    (tflite,) = (tmp_path / "export").glob("*.tflite")
    for index, dot in enumerate([(20, 30), (60, 70)]):
        cv2.imwrite(str(tmp_path / f"p{index}.png"), _picture(96, 96, dot))
    result = edgepose("predict", str(tflite), "p0.png", "p1.png", "--target", "host", "--out", "run")
    assert result.returncode == 0, result.stderr[-3000:]
    results = _predictions(tmp_path / "run")
    assert [r["device"]["board"] for r in results] == ["host", "host"]
    assert all(r["device"]["identical"] for r in results)
    assert "differ on host" in result.stdout


def test_a_frame_that_differs_on_the_device_is_marked_on_the_picture() -> None:
    from edgepose.predict import DIFFERS, Person, annotate
    from edgepose.skeletons import skeleton_for

    frame = np.full((120, 160, 3), 40, np.uint8)
    points = np.c_[np.full((KEYPOINTS, 2), 60.0), np.full(KEYPOINTS, 0.9)].astype(np.float32)
    same = Person(points, 0.9, (0, 0, 160, 120), {"board": "b", "identical": True, "max_abs_diff": 0.0})
    differs = Person(points, 0.9, (0, 0, 160, 120), {"board": "b", "identical": False, "max_abs_diff": 3.0})
    skeleton = skeleton_for(KEYPOINTS)
    assert tuple(annotate(frame, differs, skeleton, 0.2)[119, 80]) == DIFFERS  # the frame's border
    assert tuple(annotate(frame, same, skeleton, 0.2)[119, 80]) == (40, 40, 40)
