"""Export to SavedModel / TFLite / ONNX, ONNX folding, artifact inspection, and model-file recognition."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from modelfiles import nchw_onnx, tiny_keras

from edgepose.convert.export import export_model
from edgepose.convert.fold import fold_onnx, op_counts
from edgepose.convert.inspect import describe
from edgepose.convert.modelfile import load_onnx, model_kind
from edgepose.errors import ModelError
from edgepose.runtime import open_runner


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return tiny_keras(tmp_path_factory.mktemp("tiny") / "tiny.keras")


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    return np.random.default_rng(5).uniform(-1, 1, (3, 96, 96, 3)).astype(np.float32)


def _close(reference: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == reference.shape
    assert np.abs(got - reference).max() <= 1e-4 * np.abs(reference).max()


@pytest.mark.slow
def test_keras_to_tflite_and_onnx_agree_with_keras(tiny, inputs, tmp_path):
    with open_runner(tiny) as keras_runner:
        reference = keras_runner.run(inputs)
    assert np.abs(reference).max() > 0.1  # random BN statistics give outputs worth comparing
    tflite = export_model(tiny, "tflite", tmp_path).path
    onnx_file = export_model(tiny, "onnx", tmp_path).path
    for path in (tflite, onnx_file):
        with open_runner(path) as runner:
            assert runner.input_shape == (96, 96, 3)
            _close(reference, runner.run(inputs))
    nchw = export_model(tiny, "onnx", tmp_path / "nchw", nchw=True)
    with open_runner(nchw.path) as runner:
        assert runner.nchw
        _close(reference, runner.run(inputs))
    assert "Transpose" not in nchw.fold["ops_after"]  # tf2onnx's layout transposes cancel with ours
    saved = export_model(tiny, "savedmodel", tmp_path).path
    assert model_kind(saved) == "savedmodel"
    _close(reference, open_runner(export_model(saved, "tflite", tmp_path / "again").path).run(inputs))


@pytest.mark.slow
def test_float16_and_dynamic_range_tflite(tiny, inputs, tmp_path):
    with open_runner(tiny) as keras_runner:
        reference = keras_runner.run(inputs)
    fp16 = export_model(tiny, "tflite-fp16", tmp_path).path
    assert describe(fp16)["ops"]["DEQUANTIZE"] > 0  # float16 weights behind DEQUANTIZE ops
    dynamic = export_model(tiny, "tflite-dynamic", tmp_path).path
    float32 = export_model(tiny, "tflite", tmp_path).path
    assert dynamic.stat().st_size < 0.4 * float32.stat().st_size  # int8 weights
    for path, tolerance in ((fp16, 1e-2), (dynamic, 0.2)):
        got = open_runner(path).run(inputs)
        assert np.abs(got - reference).max() < tolerance * np.abs(reference).max()
    # A .tflite becomes ONNX, and agrees with Keras.
    _close(reference, open_runner(export_model(float32, "onnx", tmp_path / "onnx").path).run(inputs))


@pytest.mark.slow
def test_inspection_counts_macs_like_the_keras_profile(tiny, tmp_path):
    from edgepose.convert.modelfile import load_keras
    from edgepose.models.profile import count_macs

    macs = count_macs(load_keras(tiny))
    tflite = describe(export_model(tiny, "tflite", tmp_path).path)
    onnx_info = describe(export_model(tiny, "onnx", tmp_path).path)
    assert tflite["macs"] == onnx_info["macs"] == macs
    assert set(tflite["ops"]) == {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESIZE_NEAREST_NEIGHBOR"}
    assert tflite["inputs"][0]["shape"] == [1, 96, 96, 3] and tflite["outputs"][0]["shape"] == [1, 24, 24, 17]
    assert onnx_info["ops"]["Conv"] == tflite["ops"]["CONV_2D"] + tflite["ops"]["DEPTHWISE_CONV_2D"]


def _bn_graph(path: Path) -> Path:
    """NHWC in → Transpose → Conv → BatchNormalization → Identity → Mul/Add per channel → Dropout → Relu →
    Transpose out: what tf2onnx leaves before folding, written by hand."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    c = 6

    def const(name, shape, low=0.5, high=1.5):
        return numpy_helper.from_array(rng.uniform(low, high, shape).astype(np.float32), name)

    weights = [
        const("w", (c, 3, 3, 3), -1, 1),
        const("gamma", (c,)),
        const("beta", (c,), -0.2, 0.2),
        const("mean", (c,), -0.2, 0.2),
        const("var", (c,)),
        const("scale", (c, 1, 1)),
        const("shift", (c, 1, 1), -0.2, 0.2),
    ]
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["nchw", "w"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["conv", "gamma", "beta", "mean", "var"], ["bn"]),
        helper.make_node("Identity", ["bn"], ["same"]),
        helper.make_node("Mul", ["same", "scale"], ["scaled"]),
        helper.make_node("Add", ["scaled", "shift"], ["shifted"]),
        helper.make_node("Dropout", ["shifted"], ["kept"]),
        helper.make_node("Relu", ["kept"], ["relu"]),
        helper.make_node("Transpose", ["relu"], ["heatmaps"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "bn_net",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 16, 12, 3])],
        [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 16, 12, c])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_folding_removes_what_it_claims_and_keeps_the_outputs(tmp_path):
    source = _bn_graph(tmp_path / "bn.onnx")
    report = fold_onnx(source, tmp_path / "folded.onnx")
    after = op_counts(load_onnx(tmp_path / "folded.onnx"))
    assert report["ops_before"]["BatchNormalization"] == 1
    for gone in ("BatchNormalization", "Identity", "Mul", "Add", "Dropout"):
        assert gone not in after, gone
    assert after["Conv"] == 1 and after["Relu"] == 1
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 12, 3)).astype(np.float32)
    _close(open_runner(source).run(x), open_runner(tmp_path / "folded.onnx").run(x))
    # NCHW at both edges: the model's own transposes cancel with the new ones.
    report = fold_onnx(source, tmp_path / "nchw.onnx", nchw=True)
    assert "Transpose" not in report["ops_after"]
    runner = open_runner(tmp_path / "nchw.onnx")
    assert runner.nchw and runner.input_shape == (16, 12, 3)
    _close(open_runner(source).run(x), runner.run(x))


def test_folding_refuses_a_model_that_changes(tmp_path, monkeypatch):
    import edgepose.convert.fold as fold

    source = _bn_graph(tmp_path / "bn.onnx")

    def broken(model):  # a folding pass with a bug: flips every weight's sign
        for initializer in model.graph.initializer:
            if initializer.name.startswith("w") or len(initializer.dims) == 4:
                from onnx import numpy_helper

                initializer.CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(initializer), initializer.name))
        return model

    monkeypatch.setattr(fold, "merge_transposes", broken)
    with pytest.raises(ModelError, match="folding changed the outputs"):
        fold_onnx(source, tmp_path / "folded.onnx")
    assert not (tmp_path / "folded.onnx").exists()


def test_onnx_nchw_input_with_a_non_square_image_is_recognised(tmp_path):
    runner = open_runner(nchw_onnx(tmp_path / "net.onnx"))
    assert runner.nchw and runner.input_shape == (96, 64, 3) and runner.output_shape == (48, 32, 4)
    out = runner.run(np.zeros((2, 96, 64, 3), np.float32))
    assert out.shape == (2, 48, 32, 4)
    assert describe(tmp_path / "net.onnx")["macs"] == 48 * 32 * 8 * 27 + 48 * 32 * 4 * 8


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("broken.tflite", b"\x00" * 64, "not a TFLite flatbuffer"),
        ("broken.onnx", b"\x08\x07garbage", "not a valid ONNX model"),
        ("broken.keras", b"PK not really", "not a Keras model file"),
        ("model.pt", b"torch", "unsupported model file '.pt'"),
    ],
)
def test_corrupt_and_unknown_model_files_are_named(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelError, match=expected) as caught:
        model_kind(path)
    assert str(path) in str(caught.value)


def test_export_refuses_what_cannot_be_made(tmp_path):
    tflite = tmp_path / "model.tflite"
    tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 64)
    with pytest.raises(ModelError, match="cannot be exported as tflite-fp16"):
        export_model(tflite, "tflite-fp16", tmp_path / "out")
    with pytest.raises(ModelError, match="unknown export format 'tfjs'"):
        export_model(tflite, "tfjs", tmp_path / "out")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ModelError, match="not a SavedModel"):
        export_model(tmp_path / "folder", "tflite", tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_export_cli_writes_artifacts_with_sidecars(edgepose, tiny, tmp_path):
    done = edgepose("export", str(tiny), "--format", "tflite,onnx", "--scale", "1/255", "--offset", "0", "--out", "ex")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "ex"
    sidecar = json.loads((folder / "tiny_float32.tflite.json").read_text())
    assert sidecar["normalization"] == {
        "scale": pytest.approx(1 / 255),
        "offset": 0.0,
        "color": "rgb",
        "layout": "NHWC",
    }
    assert sidecar["source"]["path"] == str(tiny)
    assert json.loads((folder / "tiny.onnx.json").read_text())["fold"]["ops_before"]["Mul"] > 0
    assert "Mul" not in json.loads((folder / "tiny.onnx.json").read_text())["fold"]["ops_after"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {o["path"] for o in manifest["outputs"]} >= {"tiny_float32.tflite", "tiny.onnx"}
    # The sidecar travels: exporting the exported file again keeps the normalization without flags.
    again = edgepose("export", str(folder / "tiny_float32.tflite"), "--format", "onnx", "--out", "again")
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again/tiny_float32.onnx.json").read_text())["normalization"][
        "scale"
    ] == pytest.approx(1 / 255)
    shown = edgepose("inspect", str(folder / "tiny_float32.tflite"))
    assert shown.returncode == 0 and "DEPTHWISE_CONV_2D" in shown.stdout


def test_export_cli_errors_are_one_line(edgepose, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nonsense")
    done = edgepose("export", str(bad), "--format", "onnx", "--out", "ex")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: {bad}: not a valid ONNX model")
    assert not list((tmp_path / "ex").glob("*.onnx"))
