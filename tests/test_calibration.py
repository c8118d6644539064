"""Calibration sets: reproducible selection, the manifest, and the preprocessing check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from modelfiles import image_folder

from edgepose.convert.metadata import Normalization
from edgepose.errors import DataError
from edgepose.quantize.calibration import build_set, load_set

RGB = Normalization()


def _hashes(folder: Path) -> list[str]:
    return [entry["sha256"] for entry in yaml.safe_load((folder / "manifest.yaml").read_text())["images"]]


def test_the_same_seed_gives_the_same_set(tmp_path):
    source = image_folder(tmp_path / "frames")
    first = build_set(source, tmp_path / "a", 5, "random", 7, RGB, (32, 48))
    second = build_set(source, tmp_path / "b", 5, "random", 7, RGB, (32, 48))
    other = build_set(source, tmp_path / "c", 5, "random", 8, RGB, (32, 48))
    assert _hashes(first) == _hashes(second)
    assert _hashes(first) != _hashes(other)
    manifest = yaml.safe_load((first / "manifest.yaml").read_text())
    assert manifest["selection"] == {"strategy": "random", "count": 5, "requested": 5, "seed": 7, "population": 12}
    assert manifest["preprocessing"]["input_size"] == [32, 48]
    assert manifest["source"]["kind"] == "image folder"
    loaded = load_set(first, RGB, (32, 48, 3))
    assert loaded.images.shape == (5, 32, 48, 3) and loaded.images.dtype == np.uint8
    assert loaded.inputs().min() >= -1.0 and loaded.inputs().max() <= 1.0


def test_stratified_takes_equal_shares_of_each_sub_folder(tmp_path):
    import cv2

    source = image_folder(tmp_path / "frames", count=12)  # 6 indoor, 6 outdoor
    for extra in range(12):  # outdoor now holds 18 of 24 frames: random draws would follow that share
        cv2.imwrite(str(source / "outdoor" / f"more_{extra:02d}.png"), np.full((30, 40, 3), extra, np.uint8))
    for seed in range(3):
        folder = build_set(source, tmp_path / f"set{seed}", 4, "stratified", seed, RGB, (24, 24))
        origins = [entry["origin"] for entry in yaml.safe_load((folder / "manifest.yaml").read_text())["images"]]
        assert sorted(o.split("/")[0] for o in origins) == ["indoor", "indoor", "outdoor", "outdoor"]


def test_letterboxing_keeps_the_aspect_ratio(tmp_path):
    import cv2

    (tmp_path / "wide").mkdir()
    cv2.imwrite(str(tmp_path / "wide/one.png"), np.full((20, 80, 3), 200, np.uint8))
    loaded = load_set(tmp_path / "wide", RGB, (40, 40, 3))  # a plain folder is a valid set
    image = loaded.images[0]
    assert (image[:15] == 0).all() and (image[25:] == 0).all()  # 80x20 scaled to 40x10, padded above and below
    assert (image[16:24] == 200).all()


def test_a_set_for_other_preprocessing_is_refused_naming_both(tmp_path):
    folder = build_set(image_folder(tmp_path / "frames"), tmp_path / "set", 3, "random", 0, RGB, (32, 32))
    loaded = load_set(folder, RGB, (32, 32, 3))
    with pytest.raises(DataError, match=r"scale 0.007843137 vs 0.003921569") as caught:
        loaded.check_matches(Normalization(scale=1 / 255, offset=0.0), (32, 32, 3), Path("model.tflite"))
    assert "model.tflite" in str(caught.value) and str(folder) in str(caught.value)
    with pytest.raises(DataError, match=r"input_size \[32, 32\] vs \[64, 64\]"):
        loaded.check_matches(RGB, (64, 64, 3), Path("model.tflite"))
    loaded.check_matches(RGB, (32, 32, 3), Path("model.tflite"))  # the right model passes


def test_empty_and_unreadable_sources_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        build_set(tmp_path / "empty", tmp_path / "set", 3, "random", 0, RGB, (32, 32))
    with pytest.raises(DataError, match="no images and no manifest.yaml"):
        load_set(tmp_path / "empty", RGB, (32, 32, 3))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"broken.jpg: unreadable image"):
        build_set(tmp_path / "bad", tmp_path / "set", 3, "random", 0, RGB, (32, 32))
    assert not (tmp_path / "set").exists()  # nothing half-built
    with pytest.raises(DataError, match="not found"):
        load_set("no-such-set", RGB, (32, 32, 3))


def test_a_damaged_set_names_the_missing_image(tmp_path):
    folder = build_set(image_folder(tmp_path / "frames"), tmp_path / "set", 3, "random", 0, RGB, (32, 32))
    (folder / "images/000001.png").unlink()
    with pytest.raises(DataError, match=r"000001.png: missing or unreadable calibration image"):
        load_set(folder, RGB, (32, 32, 3))


@pytest.mark.slow
def test_calib_cli_crops_people_from_a_coco_set(edgepose, tmp_path):
    from edgepose.data.synthetic import render_dataset

    labels = render_dataset(tmp_path / "people", 10, 17, 96, seed=3)
    done = edgepose(
        "data", "calib", "--from", str(labels), "--n", "6", "--strategy", "stratified", "--seed", "4",
        "--name", "people", "--input-size", "64",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = yaml.safe_load((tmp_path / "calibration/people/manifest.yaml").read_text())
    assert manifest["source"]["kind"] == "coco" and manifest["selection"]["count"] == 6
    assert manifest["preprocessing"] == {
        "input_size": [64, 64], "color": "rgb", "scale": pytest.approx(1 / 127.5), "offset": -1.0,
        "aspect_ratio": "padding",
    }  # fmt: skip
    assert all("annotation" in entry["origin"] for entry in manifest["images"])
    again = edgepose("data", "calib", "--from", str(labels), "--n", "6", "--name", "people", "--input-size", "64")
    assert again.returncode == 2 and "exists" in again.stderr
    json.dumps(manifest)  # plain data: YAML and JSON alike
