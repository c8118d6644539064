"""``edgepose export --target android|ios``: float16 and int8 models with their metadata embedded (written
and read back), sidecars holding the same, a README with Kotlin and Swift, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from modelfiles import tiny_keras

from edgepose.bench.artifact import numeric_kind
from edgepose.convert.tflite_metadata import embed, read_metadata
from edgepose.skeletons import skeleton_for


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A tiny model at 96 px, synthetic calibration images, and its Android package made by the CLI."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("mobile")
    cli = Path(sys.executable).parent / "edgepose"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(cli), *args], cwd=folder, capture_output=True, text=True, timeout=600)

    model = tiny_keras(folder / "tiny.keras", 96)
    synth = run("data", "synth", "--out", "coco", "--n", "16", "--image-size", "96")
    assert synth.returncode == 0, synth.stderr[-2000:]
    done = run("export", str(model), "--target", "android", "--calib", "coco/images", "--out", "pkg")
    assert done.returncode == 0, done.stderr[-3000:]
    return {"folder": folder, "model": model, "package": folder / "pkg" / "android", "run": run}


def _interpreter(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def _heatmaps(path: Path, image: np.ndarray) -> np.ndarray:
    interpreter = _interpreter(path)
    spec, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x = image / 127.5 - 1.0
    if spec["dtype"] == np.int8:
        scale, zero = spec["quantization"]
        x = np.clip(np.round(x / scale) + zero, -128, 127)
    interpreter.set_tensor(spec["index"], x[None].astype(spec["dtype"]))
    interpreter.invoke()
    y = interpreter.get_tensor(out["index"])[0].astype(np.float32)
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y - zero) * scale
    return y


def test_the_package_holds_a_float16_and_an_int8_model_their_sidecars_and_a_readme(made):
    package = made["package"]
    assert sorted(p.name for p in package.iterdir()) == [
        "README.md", "tiny_float16.tflite", "tiny_float16.tflite.json", "tiny_int8.tflite", "tiny_int8.tflite.json",
    ]  # fmt: skip
    assert numeric_kind(package / "tiny_float16.tflite") == "fp16"
    assert numeric_kind(package / "tiny_int8.tflite") == "int8"
    quant_report = made["folder"] / "pkg" / "quantize" / "quant_report.json"
    assert quant_report.is_file()  # what quantizing cost, kept in the run beside the package


def test_the_metadata_read_back_describes_input_output_keypoints_and_stride(made):
    skeleton = skeleton_for(17)
    for name, dtype in (("tiny_float16.tflite", "float32"), ("tiny_int8.tflite", "int8")):
        found = read_metadata(made["package"] / name)
        standard, pose = found["standard"], found["pose"]
        (image,) = standard["inputs"]
        assert (image["content"], image["color_space"], image["image_size"]) == ("image", "rgb", [96, 96])
        assert image["mean"] == [127.5] * 3 and image["std"] == [127.5] * 3  # (pixel - 127.5) / 127.5
        (heatmaps,) = standard["outputs"]
        assert heatmaps["dimension_names"] == ["batch", "y", "x", "keypoint"] and heatmaps["range"] == [1, 2]
        assert standard["name"] == "tiny" and standard["min_parser_version"] == "1.0.0"
        assert pose["keypoints"] == list(skeleton.keypoints) and pose["heatmap_stride"] == 4
        assert pose["skeleton"] == [list(limb) for limb in skeleton.limbs]
        assert pose["input"]["dtype"] == dtype and pose["outputs"][0]["semantics"] == "heatmaps"
        sidecar = json.loads((made["package"] / f"{name}.json").read_text())
        assert sidecar["pose"] == pose and sidecar["sha256"]


def test_inspect_shows_the_metadata_an_app_reads(made):
    done = made["run"]("inspect", str(made["package"] / "tiny_int8.tflite"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rgb image 96x96" in done.stdout and "17: nose, left_eye" in done.stdout and "stride 4" in done.stdout


def test_the_packaged_models_run_and_agree_with_the_keras_model(made):
    import keras

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (96, 96, 3)).astype(np.float32)
    expected = keras.models.load_model(made["model"]).predict(image[None] / 127.5 - 1.0, verbose=0)[0]
    float16 = _heatmaps(made["package"] / "tiny_float16.tflite", image)
    int8 = _heatmaps(made["package"] / "tiny_int8.tflite", image)
    assert float16.shape == int8.shape == expected.shape == (24, 24, 17)
    assert np.abs(float16 - expected).max() < 0.02 * np.abs(expected).max()
    cosine = (int8 * expected).sum() / np.linalg.norm(int8) / np.linalg.norm(expected)
    assert cosine > 0.95


def test_embedding_metadata_leaves_the_model_itself_unchanged(made, tmp_path):
    source = made["package"] / "tiny_int8.tflite"
    image = np.random.default_rng(1).integers(0, 256, (96, 96, 3)).astype(np.float32)
    document = read_metadata(source)["pose"] | {"name": "renamed"}
    again = embed(source, document, tmp_path / "again.tflite")  # replaces the entries, adds none
    assert read_metadata(again)["pose"]["name"] == "renamed" and read_metadata(again)["standard"]["name"] == "renamed"
    assert np.array_equal(_heatmaps(source, image), _heatmaps(again, image))


def test_the_readme_shows_kotlin_and_swift_with_this_models_numbers(made):
    readme = (made["package"] / "README.md").read_text()
    assert "```kotlin" in readme and "```swift" in readme
    assert "tiny_float16.tflite" in readme and "tiny_int8.tflite" in readme
    assert "(c - 127.5f) / 127.5f" in readme and "* 4 - 0.5" in readme and "FloatArray(17)" in readme


def test_an_ios_package_leads_with_swift_and_an_existing_int8_model_is_packaged_as_given(made):
    int8 = made["package"] / "tiny_int8.tflite"
    done = made["run"]("export", str(made["model"]), "--target", "ios", "--int8", str(int8), "--out", "ios")
    assert done.returncode == 0, done.stderr[-2000:]
    package = made["folder"] / "ios" / "ios"
    assert "# tiny for ios" in (package / "README.md").read_text()
    assert "Swift (iOS) first" in (package / "README.md").read_text()
    assert not (made["folder"] / "ios" / "quantize").exists()  # nothing quantized: the given model is used
    assert read_metadata(package / "tiny_int8.tflite")["pose"]["input"]["dtype"] == "int8"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--target", "android"], "an int8 model needs calibration images: pass --calib NAME|DIR or --int8 FILE"),
        (["--target", "watch", "--calib", "coco/images"], "--target 'watch': one of android, ios"),
        ([], "give --format (or --target android|ios for a phone package)"),
    ],
)
def test_a_package_that_cannot_be_made_is_one_line_and_no_package(made, args, expected):
    done = made["run"]("export", str(made["model"]), *args, "--out", "bad")
    assert done.returncode == 2 and expected in done.stderr
    assert not list((made["folder"] / "bad").glob("*/*.tflite"))


def test_the_models_normalization_is_written_as_tflites_mean_and_std(made):
    int8 = made["package"] / "tiny_int8.tflite"
    args = ("--target", "android", "--int8", str(int8), "--scale", "0.00392156862745098", "--offset", "0")
    done = made["run"]("export", str(made["model"]), *args, "--out", "unit")
    assert done.returncode == 0, done.stderr[-2000:]
    (image,) = read_metadata(made["folder"] / "unit" / "android" / "tiny_float16.tflite")["standard"]["inputs"]
    assert image["mean"] == [0.0] * 3 and image["std"] == pytest.approx([255.0] * 3)  # pixel / 255
