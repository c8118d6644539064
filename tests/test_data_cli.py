"""``edgepose data synth|convert|inspect|serve`` through the installed console script, and the drawing helpers."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import CLI
from PIL import Image

from edgepose.data.coco import load_coco
from edgepose.data.yolo import load_yolo
from edgepose.draw import crop_around, draw_skeleton, image_grid
from edgepose.skeletons import COCO13, COCO17, HAND21

TILE = 192


def by_image(samples):
    return sorted(samples, key=lambda s: s.image.name)


def test_synth_inspect_convert_round_trip(edgepose, tmp_path):
    made = edgepose("data", "synth", "--out", "synth", "--n", "6", "--image-size", "96", "--seed", "3")
    assert made.returncode == 0, made.stderr
    labels = tmp_path / "synth" / "person_keypoints_synth.json"
    assert str(labels) in made.stdout.replace("\n", "")

    seen = edgepose("data", "inspect", "synth", "--json")
    assert seen.returncode == 0, seen.stderr
    stats = json.loads(seen.stdout)
    assert (stats["format"], stats["keypoints"], stats["images"], stats["persons"]) == ("coco", 17, 6, 6)
    assert set(stats["visibility"]) == set(COCO17.keypoints)
    assert all(sum(v.values()) == 6 for v in stats["visibility"].values())

    to_yolo = edgepose("data", "convert", str(labels), "--to", "yolo", "--out", "yolo")
    assert to_yolo.returncode == 0, to_yolo.stderr
    assert len(list((tmp_path / "yolo").glob("*.txt"))) == 6
    back = edgepose("data", "convert", "yolo", "--to", "coco", "--out", "again")
    assert back.returncode == 0, back.stderr

    original = by_image(load_coco(labels))
    via_yolo = by_image(load_yolo(tmp_path / "yolo"))
    again = by_image(load_coco(tmp_path / "again" / "person_keypoints_again.json"))
    assert len(original) == len(via_yolo) == len(again) == 6
    for a, b, c in zip(original, via_yolo, again, strict=True):
        assert a.image.name == b.image.name == c.image.name
        assert a.image.read_bytes() == c.image.read_bytes()
        np.testing.assert_allclose(a.keypoints, c.keypoints, atol=0.01)
        np.testing.assert_allclose(a.bbox, c.bbox, atol=0.01)
        np.testing.assert_array_equal(a.keypoints[:, 2], c.keypoints[:, 2])


def test_hand_sets_are_detected_and_convert(edgepose, tmp_path):
    made = edgepose("data", "synth", "--out", "hands", "--n", "3", "--keypoints", "21", "--image-size", "64")
    assert made.returncode == 0, made.stderr
    stats = json.loads(edgepose("data", "inspect", "hands", "--json", "--grid", "0").stdout)
    assert (stats["keypoints"], stats["persons"], stats["grid"]) == (21, 3, None)
    assert set(stats["visibility"]) == set(HAND21.keypoints)
    assert edgepose("data", "convert", "hands", "--to", "yolo", "--out", "y", "--link").returncode == 0
    assert all((tmp_path / "y" / f"{i:06d}.png").is_symlink() for i in range(3))
    assert json.loads(edgepose("data", "inspect", "y", "--json", "--grid", "0").stdout)["keypoints"] == 21


def test_synth_writes_thirteen_keypoints_that_convert_both_ways(edgepose, tmp_path):
    assert (
        edgepose("data", "synth", "--out", "s13", "--n", "3", "--keypoints", "13", "--image-size", "64").returncode == 0
    )
    document = json.loads((tmp_path / "s13" / "person_keypoints_s13.json").read_text())
    assert document["categories"][0]["keypoints"] == list(COCO13.keypoints)
    assert all(len(a["keypoints"]) == 13 * 3 for a in document["annotations"])
    assert edgepose("data", "convert", "s13", "--to", "yolo", "--out", "y13").returncode == 0
    assert all(len(line.split()) == 5 + 13 * 3 for line in (tmp_path / "y13" / "000000.txt").read_text().splitlines())
    back = edgepose("data", "convert", "y13", "--to", "coco", "--out", "c13")
    assert back.returncode == 0, back.stderr
    original = by_image(load_coco(tmp_path / "s13" / "person_keypoints_s13.json"))
    again = by_image(load_coco(tmp_path / "c13" / "person_keypoints_c13.json"))
    assert [len(s.keypoints) for s in again] == [13] * 3
    for a, b in zip(original, again, strict=True):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=0.01)
    stats = json.loads(edgepose("data", "inspect", "c13", "--json", "--grid", "0").stdout)
    assert stats["keypoints"] == 13 and set(stats["visibility"]) == set(COCO13.keypoints)
    # 17-point data read as 13 merges the face; 13-point data cannot be read as 17
    assert edgepose("data", "synth", "--out", "s17", "--n", "2", "--image-size", "64").returncode == 0
    assert edgepose("data", "convert", "s17", "--to", "yolo", "--keypoints", "13", "--out", "y").returncode == 0
    refused = edgepose("data", "convert", "y13", "--to", "coco", "--keypoints", "17", "--out", "c17")
    assert refused.returncode == 2 and not (tmp_path / "c17").exists()
    assert "y13 has 13 keypoints but --keypoints is 17; set --keypoints: 13" in refused.stderr


def test_a_coco_file_naming_its_points_in_another_order_is_read_in_the_skeletons(edgepose, tmp_path):
    assert (
        edgepose("data", "synth", "--out", "s13", "--n", "2", "--keypoints", "13", "--image-size", "64").returncode == 0
    )
    labels = tmp_path / "s13" / "person_keypoints_s13.json"
    expected = by_image(load_coco(labels))
    document = json.loads(labels.read_text())
    order = list(range(13))[::-1]  # the file lists the same points backwards
    document["categories"][0]["keypoints"] = [COCO13.keypoints[i] for i in order]
    for annotation in document["annotations"]:
        points = np.asarray(annotation["keypoints"]).reshape(13, 3)
        annotation["keypoints"] = points[order].reshape(-1).tolist()
    labels.write_text(json.dumps(document))
    for a, b in zip(expected, by_image(load_coco(labels)), strict=True):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_inspect_draws_a_png_grid(edgepose, tmp_path):
    assert edgepose("data", "synth", "--out", "s", "--n", "5", "--image-size", "64").returncode == 0
    shown = edgepose("data", "inspect", "s/person_keypoints_s.json", "--out", "pictures", "--grid", "16")
    assert shown.returncode == 0, shown.stderr
    assert "keypoint visibility" in shown.stdout and "left_shoulder" in shown.stdout
    png = tmp_path / "pictures" / "inspect.png"
    with Image.open(png) as picture:
        picture.verify()
    with Image.open(png) as picture:
        # five samples: ceil(sqrt(5)) = 3 columns, 2 rows of TILE-pixel tiles
        assert picture.format == "PNG" and picture.size == (3 * TILE, 2 * TILE)
    assert edgepose("data", "inspect", "s", "--grid", "4").returncode == 0
    with Image.open(tmp_path / "inspect.png") as picture:
        assert picture.size == (2 * TILE, 2 * TILE)


def malformed_coco(root: Path) -> Path:
    images = root / "images"
    images.mkdir(parents=True)
    cv2.imwrite(str(images / "a.png"), np.full((80, 60, 3), 100, np.uint8))
    kpts = np.zeros((17, 3))
    kpts[:, 0], kpts[:, 1], kpts[:, 2] = np.linspace(10, 50, 17), np.linspace(5, 70, 17), 2
    good = {"id": 1, "image_id": 1, "bbox": [5, 2, 50, 75], "keypoints": kpts.reshape(-1).tolist()}
    document = {
        "images": [{"id": 1, "file_name": "images/a.png", "height": 80, "width": 60}],
        "annotations": [
            good,
            {**good, "id": 2, "keypoints": [1.0] * 30},
            {**good, "id": 3, "image_id": 7},
            {**good, "id": 4, "bbox": [40, 2, 50, 75]},
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = root / "person_keypoints_bad.json"
    path.write_text(json.dumps(document))
    return path


def test_inspect_reports_what_was_skipped(edgepose, tmp_path):
    labels = malformed_coco(tmp_path / "bad")
    shown = edgepose("data", "inspect", str(labels))
    assert shown.returncode == 0, shown.stderr
    assert "persons: 1" in shown.stdout
    assert "3 samples skipped" in shown.stdout and "wrong keypoint count" in shown.stdout
    assert "unknown image" in shown.stdout and "box outside the image" in shown.stdout
    assert "annotation 2" in shown.stderr  # each skip is warned with where it is
    stats = json.loads(edgepose("data", "inspect", str(labels), "--json", "--grid", "0").stdout)
    assert stats["skipped"] == {"wrong keypoint count": 1, "unknown image": 1, "box outside the image": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("data", "inspect", "missing"), "missing: no such file or folder"),
        (("data", "inspect", "notes.txt"), "notes.txt: not a dataset"),
        (("data", "inspect", "empty"), "empty: found neither a COCO keypoints .json (person_keypoints_*.json"),
        (("data", "convert", "missing.json", "--to", "yolo", "--out", "o"), "missing.json: no such file or folder"),
        (("data", "convert", "s", "--to", "voc", "--out", "o"), "unknown format"),
        (("data", "synth", "--out", "k", "--n", "2", "--keypoints", "15"), "13, 17 or 21"),
    ],
)
def test_bad_paths_are_one_line_errors(edgepose, tmp_path, args, message):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "s").mkdir()
    result = edgepose(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr


def test_convert_refuses_a_non_empty_target(edgepose, tmp_path):
    assert edgepose("data", "synth", "--out", "s", "--n", "1", "--image-size", "64").returncode == 0
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = edgepose("data", "convert", "s", "--to", "yolo", "--out", "taken")
    assert result.returncode == 2 and "not empty" in result.stderr
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["keep.txt"]


def test_draw_skeleton_marks_visible_and_occluded_points():
    image = np.zeros((100, 100, 3), np.uint8)
    kpts = np.zeros((17, 3), np.float32)
    kpts[5], kpts[6], kpts[7], kpts[0] = (30, 40, 2), (70, 40, 2), (20, 80, 0), (50, 75, 1)
    drawn = draw_skeleton(image, kpts, COCO17, color=(255, 0, 0))
    assert (image == 0).all(), "the input image is left alone"
    assert tuple(drawn[40, 30]) == (255, 0, 0)  # a filled dot
    assert drawn[40, 50, 0] > 0  # the shoulder-to-shoulder limb
    assert drawn[75, 50].max() == 0 and drawn[72:79, 44:57].max() > 0  # a ring around an occluded point
    assert drawn[80, 20].max() == 0  # unlabelled points are not drawn
    assert drawn[60, 25].max() == 0  # nor limbs to them


def test_crop_around_moves_keypoints_with_the_pixels():
    image = np.zeros((120, 200, 3), np.uint8)
    image[60, 150] = 255
    kpts = np.zeros((17, 3), np.float32)
    kpts[0] = (150, 60, 2)
    crop, moved = crop_around(image, (120, 40, 60, 40), kpts, 64)
    assert crop.shape == (64, 64, 3)
    y, x = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    assert abs(moved[0, 0] - x) <= 1 and abs(moved[0, 1] - y) <= 1
    assert (moved[1:] == 0).all()


def test_image_grid_fits_images_into_tiles():
    tall = np.full((40, 20, 3), 200, np.uint8)
    grid = image_grid([np.zeros((30, 30, 3), np.uint8), tall, tall], columns=2)
    assert grid.shape == (60, 60, 3)
    assert grid[:30, 30:][:, 7:22].min() == 200 and grid[:30, 30:][:, :5].max() == 0  # letterboxed
    assert grid[30:, 30:].max() == 0  # the empty cell
    with pytest.raises(ValueError):
        image_grid([], columns=3)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``edgepose data serve ...`` in a subprocess, its merged output collected line by line as it comes."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [str(CLI), "data", "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            assert self.process.poll() is None, f"exited with {self.process.returncode}: {self.output}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s: {self.output}"
            time.sleep(0.1)

    def interrupt(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"SIGINT did not end {self.process.args}: {self.output}") from None
        self.reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)[-3000:]


@pytest.mark.timeout(300)
def test_serve_runs_a_dispatcher_and_a_worker_until_ctrl_c():
    import tensorflow as tf

    port = _free_port()
    dispatcher = Server("--dispatcher", "--port", str(port))
    worker = Server("--worker", "--dispatcher-address", f"127.0.0.1:{port}", "--worker-host", "127.0.0.1")
    try:
        dispatcher.wait_for(f"tf.data service dispatcher listening on grpc://0.0.0.0:{port} (Ctrl-C to stop)")
        worker.wait_for(f"registered with 127.0.0.1:{port}")
        service = tf.data.experimental.service.distribute("parallel_epochs", f"grpc://127.0.0.1:{port}")
        received: list[int] = []
        client = threading.Thread(
            target=lambda: received.extend(int(x) for x in tf.data.Dataset.range(10).apply(service)), daemon=True
        )
        client.start()
        client.join(timeout=120)
        assert not client.is_alive(), f"the client got no answer; worker: {worker.output}"
        assert sorted(received) == list(range(10))
    finally:
        worker_code, dispatcher_code = worker.interrupt(), dispatcher.interrupt()
    assert (worker_code, dispatcher_code) == (130, 130), (worker.output, dispatcher.output)


@pytest.mark.timeout(120)
def test_ctrl_c_ends_a_worker_still_waiting_for_its_dispatcher():
    worker = Server("--worker", "--dispatcher-address", f"127.0.0.1:{_free_port()}")
    time.sleep(8)  # TensorFlow is up and retrying the registration, holding the GIL
    assert worker.process.poll() is None, worker.output
    assert worker.interrupt() in (130, -signal.SIGINT), worker.output


@pytest.mark.parametrize("roles", [(), ("--dispatcher", "--worker")])
def test_serve_needs_exactly_one_role(edgepose, roles):
    result = edgepose("data", "serve", *roles)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "exactly one of" in lines[0], result.stderr
