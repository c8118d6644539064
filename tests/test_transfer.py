"""Transfer learning: weights loaded by layer name from every Keras file format, the model zoo's
``frozen_layers`` notation, and fine-tuning a brought model with frozen layers through ``edgepose train``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from edgepose.errors import ConfigError, ModelError
from edgepose.train.transfer import freeze, frozen_indices, load_by_name, read_weights_file

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SMALL = [
    "--batch-size",
    "8",
    "dataset.synthetic.train_size=16",
    "dataset.synthetic.val_size=8",
    "dataset.synthetic.image_size=96",
]


def _tiny(keypoints: int = 17, seed: int = 0):
    import keras

    from edgepose.models.registry import build_model

    keras.utils.set_random_seed(seed)
    return build_model("tiny", input_size=(96, 96), keypoints=keypoints)


# ---------------------------------------------------------------------------------------------- notation


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("(0:154)", list(range(154))),
        ("(0:-1)", list(range(159))),
        ("(0:-7, -5)", [*range(153), 155]),
        ("[150:]", list(range(150, 160))),
        ("3", [3]),
        ("(:2, 10)", [0, 1, 10]),
    ],
)
def test_the_zoo_notation_names_layers_by_index(spec: str, expected: list[int]) -> None:
    assert frozen_indices(spec, 160) == expected


@pytest.mark.parametrize("spec", ["(0-4)", "(a:3)", "(1:2:3)", "(:)x"])
def test_a_spec_that_is_not_indices_is_one_line(spec: str) -> None:
    with pytest.raises(ConfigError, match=r"training.frozen_layers: .* is not an index or a slice"):
        frozen_indices(spec, 10)


def test_an_index_past_the_model_is_refused_with_the_layer_count() -> None:
    with pytest.raises(ConfigError, match="index 12 is outside the model's 10 layers"):
        frozen_indices("(0:2, 12)", 10)


def test_the_config_checks_the_notation_when_it_is_loaded() -> None:
    from edgepose.config import load_config

    assert load_config(None, ["training.frozen_layers=(0:-1)"]).training.frozen_layers == "(0:-1)"
    assert load_config(None, ["training.frozen_layers=None"]).training.frozen_layers is None
    with pytest.raises(ConfigError, match=r"override 'training.frozen_layers=\(0;3\)'.*not an index or a slice"):
        load_config(None, ["training.frozen_layers=(0;3)"])
    with pytest.raises(ConfigError, match="imagenet weights do not ship with edgepose"):
        load_config(None, ["model.pretrained_weights=imagenet"])


def test_freezing_every_layer_with_weights_is_refused() -> None:
    model = _tiny()
    with pytest.raises(ConfigError, match="nothing would train"):
        freeze(model, "(0:)")


# ---------------------------------------------------------------------------------------------- loading


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".h5"])
def test_weights_load_by_name_and_a_different_head_is_reported_skipped(tmp_path: Path, suffix: str) -> None:
    """A 13-keypoint model's weights into a 17-keypoint one: everything but the heatmap head loads."""
    source = _tiny(keypoints=13, seed=1)
    path = tmp_path / f"source{suffix}"
    if suffix == ".weights.h5":
        source.save_weights(path)
    else:
        source.save(path)  # .h5: the legacy tf.keras layout, as the model zoo's models are saved
    assert read_weights_file(path).named == (suffix != ".weights.h5")

    target = _tiny(keypoints=17, seed=2)
    before = target.get_layer("heatmaps").get_weights()
    report = load_by_name(target, path)
    with_weights = [layer.name for layer in target.layers if layer.get_weights()]
    assert report.loaded == [name for name in with_weights if name != "heatmaps"]
    assert report.skipped == {"heatmaps": "shape 1x1x48x13/13 in the file, 1x1x48x17/17 in the model"}
    assert report.unused == (["conv2d_27"] if suffix == ".weights.h5" else ["heatmaps"])  # no names: the 28th Conv2D
    assert report.parameters == sum(
        w.size for layer in target.layers if layer.name != "heatmaps" for w in layer.get_weights()
    )
    for name in report.loaded:
        for got, want in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(got, want)
    for got, kept in zip(target.get_layer("heatmaps").get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, kept)
    assert "1 kept their own (heatmaps: shape" in report.summary()


def test_a_file_of_another_model_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "other.weights.h5"
    with h5py.File(other, "w") as h5:
        h5.create_dataset("layers/dense_7/vars/0", data=np.zeros((3, 4), np.float32))
    with pytest.raises(
        ModelError,
        match=r"other.weights.h5: no layer of 'tiny\w*' matches .* by layer type and order .* e.g. dense_7",
    ):
        load_by_name(_tiny(), other)
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match=r"broken.keras: not a Keras weights file"):
        load_by_name(_tiny(), broken)


# ---------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_fine_tuning_a_brought_model_keeps_frozen_layers_bit_for_bit(tmp_path: Path, edgepose) -> None:
    brought = _tiny(seed=3)
    brought.save(tmp_path / "brought.keras")
    cache = {"EDGEPOSE_CACHE": str(tmp_path / "cache")}
    result = edgepose(
        "train", "--data", "synthetic", "--epochs", "1", *SMALL, "--out", "run",
        "general.model_path=brought.keras", "training.frozen_layers=(0:-2)",
        env=cache,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fine-tuning brought.keras: input (96, 96, 3), heatmap stride 4" in result.stderr
    assert "126 of 128 layers frozen" in result.stderr

    from edgepose.convert.modelfile import load_keras

    trained = load_keras(tmp_path / "run" / "model.keras")
    for index, layer in enumerate(brought.layers):
        after = trained.layers[index].get_weights()
        changed = any(not np.array_equal(a, b) for a, b in zip(after, layer.get_weights(), strict=True))
        assert changed == (index >= 126 and bool(after)), layer.name  # only the last two layers train


@pytest.mark.slow
def test_pretrained_weights_report_what_loaded_and_a_wrong_file_is_exit_2(tmp_path: Path, edgepose) -> None:
    _tiny(keypoints=13, seed=4).save_weights(tmp_path / "backbone.weights.h5")
    cache = {"EDGEPOSE_CACHE": str(tmp_path / "cache")}
    common = ["train", "--data", "synthetic", "--epochs", "1", "--input-size", "96", *SMALL]
    result = edgepose(*common, "--out", "run", "model.pretrained_weights=backbone.weights.h5", env=cache)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "run" / "pretrained_weights.json").read_text())
    assert report["skipped"] == {"heatmaps": "shape 1x1x48x13/13 in the file, 1x1x48x17/17 in the model"}
    assert len(report["loaded"]) > 50 and "stem_conv" in " ".join(report["loaded"])
    assert f"backbone.weights.h5: {len(report['loaded'])} layers loaded" in result.stderr

    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n junk")
    result = edgepose(*common, "--out", "run2", "model.pretrained_weights=junk.h5", env=cache)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'junk.h5'}: not a Keras weights file")
    assert not (tmp_path / "run2" / "model.keras").exists()
