"""The model zoo: every registered model's contract, tiny's MCU budgets, the profile arithmetic, the CLI listing."""

from __future__ import annotations

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from edgepose.cli.models_cmd import human_count, models
from edgepose.config.schema import ModelSection
from edgepose.errors import ModelError
from edgepose.models import build_from_config, build_model, model_info, model_names
from edgepose.models.profile import activation_peak_bytes, allowed_ops, count_macs, count_params
from edgepose.models.tiny import ALLOWED_OPS

KIB = 1024
LISTED = [(name, size) for name in model_names() for size in model_info(name).input_sizes]


@pytest.fixture(autouse=True)
def _fresh_keras():
    yield
    keras.backend.clear_session()  # keeps later builds fast and layer names predictable


def test_the_three_families_are_registered():
    assert {"tiny", "mobilenetv2_heatmaps", "movenet_like"} <= set(model_names())


@pytest.mark.parametrize("keypoints", [13, 17, 21])
@pytest.mark.parametrize(("name", "size"), LISTED, ids=[f"{n}-{s[0]}" for n, s in LISTED])
def test_every_model_builds_with_the_shared_contract(name, size, keypoints):
    model = build_model(name, size, keypoints, stride=4)
    height, width = size
    assert tuple(model.input.shape) == (None, height, width, 3)
    assert model.input.dtype == "float32"
    assert tuple(model.output.shape) == (None, height // 4, width // 4, keypoints)
    assert model.output.dtype == "float32"
    head = model.get_layer("heatmaps")
    assert head is model.layers[-1]
    assert head.activation is keras.activations.linear


@pytest.mark.parametrize("stride", [2, 8])
def test_tiny_builds_at_the_other_heatmap_strides(stride):
    model = build_model("tiny", (128, 128), 17, stride=stride)
    assert tuple(model.output.shape) == (None, 128 // stride, 128 // stride, 17)


@pytest.mark.parametrize("name", ["tiny", "mobilenetv2_heatmaps", "movenet_like"])
def test_a_forward_pass_is_finite(name):
    model = build_model(name, keypoints=17)
    height, width = model_info(name).default_input_size
    image = np.random.default_rng(0).uniform(-1, 1, (2, height, width, 3)).astype(np.float32)
    heatmaps = model.predict(image, verbose=0)
    assert heatmaps.shape == (2, height // 4, width // 4, 17)
    assert heatmaps.dtype == np.float32
    assert np.isfinite(heatmaps).all()


@pytest.mark.parametrize("size", [(128, 128), (96, 96)])
def test_tiny_fits_a_cortex_m(size):
    model = build_model("tiny", size, keypoints=17)
    assert count_params(model) <= 150_000
    assert activation_peak_bytes(model, bytes_per_element=1) <= 256 * KIB
    assert allowed_ops(model, ALLOWED_OPS) == []


def test_tiny_defaults_to_128_pixels():
    assert model_info("tiny").default_input_size == (128, 128)
    assert tuple(build_model("tiny").output.shape) == (None, 32, 32, 17)


def test_mobilenetv2_params_grow_with_width():
    params = []
    for width in (0.35, 0.5, 1.0):
        params.append(count_params(build_model("mobilenetv2_heatmaps", width=width)))
        keras.backend.clear_session()
    assert params == sorted(params) and len(set(params)) == 3


def test_mobilenetv2_rejects_a_width_that_is_no_alpha():
    with pytest.raises(ModelError, match=r"width 0\.6 .*0\.35"):
        build_model("mobilenetv2_heatmaps", width=0.6)


def test_an_unknown_model_names_the_known_ones():
    with pytest.raises(ModelError) as caught:
        build_model("tinny")
    message = str(caught.value)
    assert "unknown model 'tinny'" in message
    assert "did you mean 'tiny'" in message
    for name in model_names():
        assert name in message


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"input_size": (100, 128)}, "multiple of 32"),
        ({"stride": 16}, "heatmap stride 16"),
        ({"keypoints": 0}, "at least 1"),
    ],
)
def test_impossible_shapes_are_model_errors(kwargs, expected):
    with pytest.raises(ModelError, match=expected):
        build_model("tiny", **kwargs)


def test_build_from_config_uses_the_section_as_written():
    section = ModelSection(name="tiny", input_size=96, heatmap_stride=8, dropout=0.1)
    model = build_from_config(section, keypoints=13)
    assert tuple(model.output.shape) == (None, 12, 12, 13)
    assert "Dropout" in {type(layer).__name__ for layer in model.layers}


def test_importing_the_zoo_does_not_import_tensorflow():
    code = "import sys, edgepose.models; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------- profile


def _hand_built() -> keras.Model:
    """8x8x3 → conv3x3(4) → depthwise3x3 → add(conv, dw) → conv1x1/2(2) → transpose2x2/2(3): counted by hand."""
    image = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same")(image)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(conv)
    added = keras.layers.Add()([conv, depthwise])
    pointwise = keras.layers.Conv2D(2, 1, strides=2)(added)
    up = keras.layers.Conv2DTranspose(3, 2, strides=2)(pointwise)
    return keras.Model(image, up)


def test_params_counted_by_hand():
    conv = 3 * 3 * 3 * 4 + 4
    depthwise = 3 * 3 * 4
    pointwise = 4 * 2 + 2
    transpose = 2 * 2 * 2 * 3 + 3
    assert count_params(_hand_built()) == conv + depthwise + pointwise + transpose == 185


def test_macs_counted_by_hand():
    conv = 8 * 8 * (3 * 3 * 3) * 4  # output pixels x kernel x c_in x c_out
    depthwise = 8 * 8 * (3 * 3) * 4
    pointwise = 4 * 4 * 4 * 2  # stride 2: 4x4 outputs
    transpose = 4 * 4 * (2 * 2) * 2 * 3  # every input pixel scattered through the kernel
    assert count_macs(_hand_built()) == conv + depthwise + pointwise + transpose == 9728


def test_macs_of_grouped_convolutions_and_dense_layers():
    image = keras.Input((8, 8, 4))
    grouped = keras.layers.Conv2D(6, 3, padding="same", groups=2)(image)
    dense = keras.layers.Dense(5)(keras.layers.GlobalAveragePooling2D()(grouped))
    model = keras.Model(image, dense)
    assert count_macs(model) == 8 * 8 * (3 * 3) * (4 // 2) * 6 + 6 * 5


def test_activation_peak_counted_by_hand():
    # Tensor sizes in elements: image 192, conv 256, depthwise 256, add 256, pointwise 32, transpose 192.
    # The image dies after conv; conv stays live until add, which therefore holds conv + depthwise + its output.
    steps = [
        192 + 256,  # conv: image, conv
        256 + 256,  # depthwise: conv (still needed by add), depthwise
        256 + 256 + 256,  # add: conv, depthwise, add
        256 + 32,  # pointwise: add, pointwise
        32 + 192,  # transpose: pointwise, transpose (the output)
    ]
    model = _hand_built()
    assert activation_peak_bytes(model) == max(steps) == 768
    assert activation_peak_bytes(model, bytes_per_element=4) == 4 * 768


def test_allowed_ops_names_the_strangers():
    assert allowed_ops(_hand_built(), {"InputLayer", "Conv2D", "Add"}) == ["Conv2DTranspose", "DepthwiseConv2D"]


def test_human_count():
    assert [human_count(n) for n in (999, 1_234, 31_440_512, 2_500_000_000)] == ["999", "1.2k", "31.4M", "2.5G"]


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cli():
    app = typer.Typer()
    app.command("models")(models)
    app.command("other")(lambda: None)  # a second command keeps typer from collapsing the app into `models`
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["models", *args])


def test_cli_lists_every_model(cli):
    done = cli()
    assert done.exit_code == 0, done.output
    for name in model_names():
        assert name in done.output
    assert "96x96" in done.output and "128x128" in done.output and "192x192" in done.output


def test_cli_json_has_params_and_macs(cli):
    done = cli("--json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.output)
    expected = sum(len(model_info(n).input_sizes) * len(model_info(n).widths) for n in model_names())
    assert len(rows) == expected
    assert {r["model"] for r in rows} == set(model_names())
    for row in rows:
        assert row["params"] > 0 and row["macs"] > 0 and row["activation_peak_bytes"] > 0
    widths = sorted(r["width"] for r in rows if r["model"] == "mobilenetv2_heatmaps")
    assert widths == [0.35, 0.5, 1.0]


def test_cli_filters_by_name_and_rejects_unknown_names(cli):
    done = cli("tiny", "--json")
    assert done.exit_code == 0, done.output
    assert {r["model"] for r in json.loads(done.output)} == {"tiny"}
    assert isinstance(cli("tinny").exception, ModelError)


@pytest.mark.parametrize("name", model_names())
def test_batchnorm_statistics_follow_a_short_run(name):
    """Moving statistics that average over ~1000 steps (Keras' MobileNetV2 ships momentum 0.999) never catch
    up in a run of a few hundred steps from scratch, and inference-mode outputs are then garbage."""
    model = build_model(name, keypoints=17)
    momenta = {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert momenta and max(momenta) <= 0.99, momenta
