"""COCO and YOLO pose loaders on small files the tests write, malformed ones included."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgepose.data.coco import load_coco, write_coco
from edgepose.data.samples import SkipLog
from edgepose.data.yolo import format_line, load_yolo
from edgepose.errors import DataError


def image(path: Path, height: int = 120, width: int = 160) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 127, np.uint8))
    return path


def person(ann_id: int, image_id: int, kpts=None, bbox=(20, 10, 80, 100), **extra) -> dict:
    if kpts is None:
        kpts = np.zeros((17, 3))
        kpts[:, 0] = np.linspace(30, 90, 17)
        kpts[:, 1] = np.linspace(15, 100, 17)
        kpts[:, 2] = 2
        kpts = kpts.reshape(-1).tolist()
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "bbox": list(bbox),
            "area": 5000.0, "keypoints": kpts, **extra}  # fmt: skip


@pytest.fixture
def coco_set(tmp_path):
    root = tmp_path / "coco"
    for name in ("a.jpg", "b.jpg"):
        image(root / "val2017" / name)
    good = person(1, 1)
    bad_count = person(2, 1, kpts=[1.0] * 30)
    crowd = person(3, 1, iscrowd=1)
    missing_image = person(4, 3)
    outside = person(5, 2, bbox=(100, 10, 90, 50))
    unknown = person(6, 99)
    empty = person(7, 2, kpts=[0.0] * 51)
    second = person(8, 2)
    document = {
        "images": [
            {"id": 1, "file_name": "a.jpg", "height": 120, "width": 160},
            {"id": 2, "file_name": "b.jpg", "height": 120, "width": 160},
            {"id": 3, "file_name": "gone.jpg", "height": 120, "width": 160},
        ],
        "annotations": [good, bad_count, crowd, missing_image, outside, unknown, empty, second],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = root / "annotations" / "person_keypoints_val2017.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document))
    return path


def test_coco_loader_keeps_good_people_and_counts_the_rest(coco_set, capsys):
    log = SkipLog()
    samples = load_coco(coco_set, log=log)
    assert [s.source.rsplit(" ", 1)[1] for s in samples] == ["1", "8"]
    assert samples[0].image.name == "a.jpg" and samples[0].keypoints.shape == (17, 3)
    assert samples[0].image_size == (120, 160)
    assert log.reasons == {
        "wrong keypoint count": 1, "crowd annotation": 1, "missing image": 1, "box outside the image": 1,
        "unknown image": 1, "no labelled keypoints": 1,
    }  # fmt: skip
    warnings = capsys.readouterr().err
    assert "person_keypoints_val2017.json:annotation 2: wrong keypoint count: 10 keypoints, expected 17" in warnings
    assert "crowd" not in warnings  # expected in COCO: counted, not warned
    assert log.summary().startswith("6 samples skipped:")


def test_coco_13_keypoints_merge_the_face(coco_set):
    samples = load_coco(coco_set, keypoints=13)
    assert samples[0].keypoints.shape == (13, 3)


def test_coco_minimum_visible_and_area(coco_set):
    log = SkipLog()
    assert load_coco(coco_set, min_visible=18, log=log) == []
    assert log.reasons["too few visible keypoints"] == 2
    assert load_coco(coco_set, min_area=6000) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "no 'images' list"),
        ('{"images": []}', "no 'annotations' list"),
    ],
)
def test_coco_file_level_problems_are_errors(tmp_path, text, message):
    path = tmp_path / "labels.json"
    path.write_text(text)
    image(tmp_path / "images" / "x.jpg")
    with pytest.raises(DataError, match=message):
        load_coco(path)


def test_coco_without_an_image_folder(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text('{"images": [], "annotations": []}')
    with pytest.raises(DataError, match="set dataset.images_path"):
        load_coco(path)


def test_coco_round_trip_through_write(coco_set, tmp_path):
    samples = load_coco(coco_set)
    out = write_coco(samples, tmp_path / "out" / "labels.json", tuple(f"k{i}" for i in range(17)))
    again = load_coco(out, images_dir=tmp_path / "out")
    assert len(again) == len(samples)
    for a, b in zip(samples, again, strict=True):
        assert a.image.resolve() == b.image.resolve()
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
        np.testing.assert_allclose(a.bbox, b.bbox, atol=1e-3)


def yolo_line(kpts: int = 17, cx=0.5, cy=0.5, w=0.5, h=0.8) -> str:
    values = [0, cx, cy, w, h]
    for i in range(kpts):
        values += [0.3 + 0.02 * i, 0.2 + 0.03 * i, 2]
    return " ".join(str(v) for v in values)


@pytest.fixture
def yolo_set(tmp_path):
    root = tmp_path / "yolo" / "val"
    image(root / "ok.jpg")
    (root / "ok.txt").write_text(yolo_line() + "\n\n" + yolo_line(cx=0.4) + "\n")
    image(root / "bad.jpg")
    (root / "bad.txt").write_text(
        yolo_line(13) + "\n" + "0 0.5 0.5 abc\n" + yolo_line(cx=0.9, w=0.5) + "\n" + yolo_line() + "\n"
    )
    image(root / "unlabelled.jpg")
    (root / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "broken.txt").write_text(yolo_line() + "\n")
    return root


def test_yolo_loader(yolo_set, capsys):
    log = SkipLog()
    samples = load_yolo(yolo_set, keypoints=17, log=log)
    assert [Path(s.source).name for s in samples] == ["bad.txt:4", "ok.txt:1", "ok.txt:3"]
    ok = samples[1]
    np.testing.assert_allclose(ok.bbox, [40, 12, 80, 96], atol=1e-4)
    np.testing.assert_allclose(ok.keypoints[0], [0.3 * 160, 0.2 * 120, 2], atol=1e-4)
    assert log.reasons == {
        "wrong keypoint count": 1, "malformed line": 1, "box outside the image": 1, "unreadable image": 1,
        "image without a label file": 1,
    }  # fmt: skip
    warnings = capsys.readouterr().err
    assert "bad.txt:1: wrong keypoint count: 13 keypoints, expected 17" in warnings
    assert "bad.txt:2: malformed line" in warnings and "broken.jpg: unreadable image" in warnings


def test_yolo_13_and_21_keypoints(tmp_path):
    for count in (13, 21):
        folder = tmp_path / str(count)
        image(folder / "x.png")
        (folder / "x.txt").write_text(yolo_line(count) + "\n")
        (sample,) = load_yolo(folder, keypoints=count)
        assert sample.keypoints.shape == (count, 3)


def test_yolo_line_round_trip(yolo_set):
    for sample in load_yolo(yolo_set):
        line = format_line(sample)
        values = [float(v) for v in line.split()]
        assert len(values) == 5 + 17 * 3
        from edgepose.data.yolo import parse_line

        again = parse_line(line, "x", sample.image, sample.image_size, 17, SkipLog())
        np.testing.assert_allclose(again.keypoints, sample.keypoints, atol=1e-3)
        np.testing.assert_allclose(again.bbox, sample.bbox, atol=1e-3)


def test_yolo_folder_problems(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_yolo(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_yolo(tmp_path / "empty")
