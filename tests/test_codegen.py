"""Generated C against the reference: every output byte of the host build of the generated code must equal
what the tflite-micro interpreter (TFLite's reference kernels) computes, for each op on random shapes and
settings and for whole models. Builds use ``EP_POISON_DEAD``, which overwrites every arena buffer once
its last reader has run, so a memory plan that shares a live tensor's bytes shows up as a wrong output."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from opmodels import LANDMARK_HEADS, int8_tflite, landmark_tflite

from edgepose.codegen import fixedpoint as fp
from edgepose.codegen.compiler import build_host, generate
from edgepose.codegen.graph import read_graph
from edgepose.codegen.lower import lower
from edgepose.codegen.planner import plan_memory
from edgepose.errors import ModelError, UnsupportedOpError


def reference_outputs(model: Path, inputs: list[np.ndarray]) -> list[bytes]:
    from edgepose.runtime.tflm_runner import micro_interpreter

    interpreter = micro_interpreter(model.read_bytes())
    count = len(interpreter.get_output_details(0)) and len(read_graph(model).outputs)
    results = []
    for x in inputs:
        interpreter.set_input(x, 0)
        interpreter.invoke()
        results.append(b"".join(interpreter.get_output(i).tobytes() for i in range(count)))
    return results


def random_inputs(model: Path, count: int, seed: int = 0) -> list[np.ndarray]:
    graph = read_graph(model)
    spec = graph.tensors[graph.inputs[0]]
    rng = np.random.default_rng(seed)
    if spec.dtype == "FLOAT32":
        return [rng.uniform(-1.5, 1.5, spec.shape).astype(np.float32) for _ in range(count)]
    if spec.dtype == "INT16":
        return [rng.integers(-32768, 32768, spec.shape, dtype=np.int16) for _ in range(count)]
    return [rng.integers(-128, 128, spec.shape, dtype=np.int8) for _ in range(count)]


def assert_bit_exact(
    model: Path,
    work: Path,
    count: int = 6,
    in_place: bool = False,
    kernels="portable",
    max_recompute: float = 0.1,
    fast_ram: tuple[int, int] | None = None,
):
    """Every output byte of the generated code equals tflite-micro's; ``in_place`` also runs the build that
    passes the arena's own input and output locations (the no-copy path a firmware takes). Returns what
    ``generate`` made."""
    compiled = generate(model, work / "c", kernels=kernels, max_recompute=max_recompute, fast_ram=fast_ram)
    inputs = random_inputs(model, count)
    expected = reference_outputs(model, inputs)
    size = len(expected[0])
    for no_copy in (False, True) if in_place else (False,):
        exe = build_host(work / "c", work / "build", poison=True, in_place=no_copy)
        run = subprocess.run([str(exe)], input=b"".join(x.tobytes() for x in inputs), capture_output=True, check=True)
        assert len(run.stdout) == size * count
        for k, reference in enumerate(expected):
            got = run.stdout[k * size : (k + 1) * size]
            diff = np.frombuffer(got, np.uint8) != np.frombuffer(reference, np.uint8)
            path = "the no-copy path" if no_copy else "separate buffers"
            assert not diff.any(), f"input {k}, {path}: {int(diff.sum())} of {size} output bytes differ"
    return compiled


def _layers():
    from keras import layers

    return layers


L = _layers()

OP_CASES = {
    "conv_3x3_same_stride1_relu6": (lambda x: L.Conv2D(8, 3, padding="same", activation="relu6")(x), (9, 11, 3)),
    "conv_5x3_valid_stride2": (lambda x: L.Conv2D(6, (5, 3), strides=2)(x), (15, 12, 4)),
    "conv_same_stride2_even": (lambda x: L.Conv2D(5, 3, strides=2, padding="same", activation="relu")(x), (16, 10, 3)),
    "conv_dilation2": (lambda x: L.Conv2D(4, 3, dilation_rate=2, padding="same")(x), (12, 12, 5)),
    "conv_grouped": (lambda x: L.Conv2D(8, 3, groups=2, padding="same")(x), (8, 8, 4)),
    "conv_1x1_pointwise": (lambda x: L.Conv2D(24, 1, activation="relu")(x), (7, 5, 16)),
    "depthwise_3x3": (lambda x: L.DepthwiseConv2D(3, padding="same", activation="relu6")(x), (10, 9, 6)),
    "depthwise_stride2_multiplier2": (lambda x: L.DepthwiseConv2D(3, strides=2, depth_multiplier=2)(x), (13, 11, 3)),
    "depthwise_dilation2_same": (lambda x: L.DepthwiseConv2D(3, dilation_rate=2, padding="same")(x), (11, 11, 4)),
    "fully_connected": (lambda x: L.Dense(7, activation="relu")(L.Flatten()(x)), (4, 3, 5)),
    "add_with_relu": (lambda x: L.ReLU()(L.Add()([L.Conv2D(4, 1)(x), L.Conv2D(4, 3, padding="same")(x)])), (6, 6, 3)),
    "add_broadcast": (
        lambda x: L.Add()([L.Conv2D(4, 1)(x), L.Dense(4)(L.GlobalAveragePooling2D(keepdims=True)(x))]),
        (5, 6, 3),
    ),
    "mul": (lambda x: L.Multiply()([L.Conv2D(4, 1)(x), L.Conv2D(4, 1)(x)]), (5, 5, 3)),
    "concatenation": (lambda x: L.Concatenate()([L.Conv2D(3, 1)(x), L.Conv2D(5, 3, padding="same")(x)]), (6, 7, 2)),
    "average_pool_same": (lambda x: L.AveragePooling2D(3, strides=2, padding="same")(L.Conv2D(4, 1)(x)), (9, 8, 3)),
    "max_pool_valid": (lambda x: L.MaxPooling2D(2)(L.Conv2D(4, 1)(x)), (8, 10, 3)),
    "mean_global_pool": (lambda x: L.GlobalAveragePooling2D(keepdims=True)(L.Conv2D(6, 3)(x)), (8, 8, 3)),
    "pad": (lambda x: L.Conv2D(4, 3)(L.ZeroPadding2D(((1, 2), (2, 1)))(x)), (6, 5, 3)),
    "reshape": (lambda x: L.Conv2D(4, 1)(L.Reshape((4, 6, 3))(L.Conv2D(3, 1)(x))), (6, 4, 3)),
    "resize_nearest": (lambda x: L.Resizing(10, 8, interpolation="nearest")(L.Conv2D(4, 1)(x)), (5, 4, 3)),
    "resize_nearest_down": (lambda x: L.Resizing(4, 3, interpolation="nearest")(L.Conv2D(4, 1)(x)), (9, 7, 3)),
    "resize_bilinear": (lambda x: L.UpSampling2D(2, interpolation="bilinear")(L.Conv2D(4, 1)(x)), (5, 6, 3)),
    "transpose_conv": (lambda x: L.Conv2DTranspose(4, 3, strides=2, padding="same")(x), (5, 4, 3)),
    "transpose_conv_valid": (lambda x: L.Conv2DTranspose(3, 2, strides=2)(x), (4, 5, 2)),
    "logistic": (lambda x: L.Activation("sigmoid")(L.Conv2D(4, 1)(x)), (4, 4, 3)),
    "hard_swish": (lambda x: L.Activation("hard_swish")(L.Conv2D(4, 1)(x)), (4, 4, 3)),
    "tanh": (lambda x: L.Activation("tanh")(L.Conv2D(4, 1)(x)), (4, 4, 3)),
}


@pytest.mark.parametrize("case", sorted(OP_CASES))
def test_each_op_is_bit_exact_with_tflite_micro(case, tmp_path):
    build, shape = OP_CASES[case]
    model = int8_tflite(tmp_path / f"{case}.tflite", build, shape, seed=len(case))
    assert_bit_exact(model, tmp_path)


@pytest.mark.parametrize("case", ["conv_5x3_valid_stride2", "depthwise_stride2_multiplier2", "fully_connected"])
def test_per_tensor_weights_are_bit_exact(case, tmp_path):
    build, shape = OP_CASES[case]
    model = int8_tflite(tmp_path / f"{case}.tflite", build, shape, seed=3, per_tensor=True)
    graph = read_graph(model)
    weighted = [op for op in graph.operators if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    assert weighted and all(len(graph.tensors[op.inputs[1]].scale) == 1 for op in weighted)
    assert_bit_exact(model, tmp_path)


DSP_CASES = {
    **{name: OP_CASES[name] for name in OP_CASES if name.startswith(("conv_", "depthwise_", "add_with"))},
    "conv_1x1_strided_odd_depth": (lambda x: L.Conv2D(7, 1, strides=2)(x), (9, 7, 13)),
    "conv_first_layer_rgb_stride2": (
        lambda x: L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x), (17, 14, 3)
    ),
    "depthwise_odd_channels_stride2": (lambda x: L.DepthwiseConv2D(3, strides=2, padding="same")(x), (12, 9, 7)),
    "depthwise_5x5_valid": (lambda x: L.DepthwiseConv2D(5, activation="relu")(x), (9, 8, 8)),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(DSP_CASES))
def test_the_dsp_kernels_are_bit_exact_with_tflite_micro(case, tmp_path):
    """The DSP variant built for the host, where ep_arm.h computes each DSP instruction in C; the same code runs
    on the emulated Cortex-M4, M7 and M33 in test_mcu."""
    build, shape = DSP_CASES[case]
    model = int8_tflite(tmp_path / f"{case}.tflite", build, shape, seed=len(case) + 1)
    assert_bit_exact(model, tmp_path, kernels="dsp")
    network = (tmp_path / "c" / "ep_network.c").read_text()
    eligible = not any(word in case for word in ("grouped", "multiplier2", "dilation2_same"))
    assert ("_dsp_s8(" in network) == eligible, network


@pytest.mark.parametrize("case", sorted(name for name in DSP_CASES if name.startswith(("conv_", "depthwise_"))))
def test_the_helium_convolutions_are_bit_exact_with_tflite_micro(case, tmp_path):
    """The Helium variant's preparation and loops on the host (plain C there); its vector code runs on the
    emulated Cortex-M55 in test_mcu."""
    build, shape = DSP_CASES[case]
    model = int8_tflite(tmp_path / f"{case}.tflite", build, shape, seed=len(case) + 1)
    assert_bit_exact(model, tmp_path, kernels="mve")
    eligible = not any(word in case for word in ("grouped", "multiplier2", "dilation2_same"))
    assert ("_mve_s8(" in (tmp_path / "c" / "ep_network.c").read_text()) == eligible


ADD_CASES = {
    "add_with_relu": OP_CASES["add_with_relu"],
    "add_broadcast": OP_CASES["add_broadcast"],  # broadcast: the portable kernel
    # the raw input on one side: every one of its 256 bytes through the table (1,536 random bytes per run)
    "add_input_and_conv_relu6": (lambda x: L.ReLU(6.0)(L.Add()([x, L.Conv2D(8, 3, padding="same")(x)])), (8, 24, 8)),
}  # fmt: skip


@pytest.mark.parametrize("kernels", ["dsp", "mve"])
@pytest.mark.parametrize("case", sorted(ADD_CASES))
def test_the_fast_add_is_bit_exact_with_tflite_micro(case, kernels, tmp_path):
    """The tabulated ADD of the fast variants (C on the host; test_mcu runs it on the emulated cores)."""
    build, shape = ADD_CASES[case]
    model = int8_tflite(tmp_path / f"{case}.tflite", build, shape, seed=len(case) + 3)
    assert_bit_exact(model, tmp_path, kernels=kernels)
    network = (tmp_path / "c" / "ep_network.c").read_text()
    assert (f"ep_add_{kernels}_s8(" in network) == ("broadcast" not in case), network


S16_CASES = [
    "conv_3x3_same_stride1_relu6", "conv_5x3_valid_stride2", "conv_dilation2", "conv_grouped", "conv_1x1_pointwise",
    "depthwise_3x3", "depthwise_stride2_multiplier2", "fully_connected", "add_with_relu", "add_broadcast",
    "mean_global_pool", "reshape", "resize_nearest", "logistic",
]  # fmt: skip


@pytest.mark.parametrize("case", S16_CASES)
def test_each_16x8_op_is_bit_exact_with_tflite_micro(case, tmp_path):
    """int16 activations, int8 weights, int64 biases: the ops of the zoo and landmark models."""
    build, shape = OP_CASES[case]
    model = int8_tflite(tmp_path / f"{case}.tflite", build, shape, seed=len(case), int16_activations=True)
    graph = read_graph(model)
    assert graph.tensors[graph.inputs[0]].dtype == "INT16"
    assert_bit_exact(model, tmp_path)


def test_16x8_logistic_is_bit_exact_on_every_int16_input(tmp_path):
    """All 65536 inputs through the interpolated sigmoid table, at a general and at a power-of-two scale."""
    model = int8_tflite(
        tmp_path / "sigmoid.tflite", lambda x: L.Activation("sigmoid")(L.Dense(256)(x)), (256,), int16_activations=True
    )
    generate(model, tmp_path / "c")
    exe = build_host(tmp_path / "c", tmp_path / "build", poison=True)
    inputs = [np.arange(-32768, 32768, dtype=np.int16)[i * 256 : (i + 1) * 256].reshape(1, 256) for i in range(256)]
    run = subprocess.run([str(exe)], input=b"".join(x.tobytes() for x in inputs), capture_output=True, check=True)
    assert run.stdout == b"".join(reference_outputs(model, inputs))


def test_16x8_float_io_and_the_zoo_and_landmark_models_are_bit_exact(tmp_path):
    import keras
    from modelfiles import tiny_keras

    float_io = int8_tflite(
        tmp_path / "f.tflite", lambda x: L.Conv2D(4, 3, padding="same")(x), (6, 6, 3), float_io=True,
        int16_activations=True,
    )  # fmt: skip
    assert_bit_exact(float_io, tmp_path / "f")
    landmarks = landmark_tflite(tmp_path / "landmarks.tflite", 5, int16_activations=True)
    assert_bit_exact(landmarks, tmp_path / "lm", count=2, in_place=True)
    # the zoo's tiny with varied BatchNormalization statistics: freshly initialised, its ReLU6 layers are
    # dead, and TFLite Micro refuses the near-zero int16 scales that gives (an int32 overflow check)
    source = keras.models.load_model(tiny_keras(tmp_path / "tiny.keras", size=96))
    tiny = int8_tflite(tmp_path / "tiny.tflite", lambda x: source(x), (96, 96, 3), int16_activations=True)
    assert_bit_exact(tiny, tmp_path / "tiny", count=2)


def test_float_input_and_output_go_through_quantize_and_dequantize(tmp_path):
    model = int8_tflite(tmp_path / "f.tflite", lambda x: L.Conv2D(4, 3, padding="same")(x), (6, 6, 3), float_io=True)
    kinds = [op.kind for op in read_graph(model).operators]
    assert kinds[0] == "QUANTIZE" and kinds[-1] == "DEQUANTIZE"
    assert_bit_exact(model, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name,size", [("tiny", 96), ("mobilenetv2_heatmaps", 96), ("movenet_like", 96)])
def test_zoo_models_are_bit_exact(name, size, tmp_path):
    from edgepose.models import build_model

    def zoo(x):
        model = build_model(name, (size, size), 17)
        return model(x)

    model = int8_tflite(tmp_path / f"{name}.tflite", zoo, (size, size, 3), seed=5)
    assert_bit_exact(model, tmp_path, count=3)


def test_brought_two_output_model_is_bit_exact(tmp_path):
    import keras
    from modelfiles import two_output_keras

    source = keras.models.load_model(two_output_keras(tmp_path / "two.keras"))
    model = int8_tflite(tmp_path / "two.tflite", lambda x: source(x), (64, 48, 3))
    assert len(read_graph(model).outputs) == 2
    assert_bit_exact(model, tmp_path)


@pytest.mark.parametrize("outputs", sorted(LANDMARK_HEADS))
def test_models_with_several_outputs_are_bit_exact_with_and_without_copies(outputs, tmp_path):
    model = landmark_tflite(tmp_path / f"landmarks{outputs}.tflite", outputs)
    sizes = sorted(read_graph(model).tensors[t].nbytes for t in read_graph(model).outputs)
    assert len(sizes) == outputs and sizes[0] == 1  # a 1-element flag among vectors (and a heatmap)
    assert_bit_exact(model, tmp_path, count=3, in_place=True)


def test_the_header_gives_each_outputs_offset_size_and_quantization(tmp_path):
    model = landmark_tflite(tmp_path / "landmarks5.tflite", 5)
    generate(model, tmp_path / "c")
    defines = dict(re.findall(r"#define (EP_\w+) (\S+)", (tmp_path / "c" / "ep_network.h").read_text()))
    graph = read_graph(model)
    assert defines["EP_NUM_OUTPUTS"] == "5u" and defines["EP_NUM_INPUTS"] == "1u"
    slots = []
    for k, t in enumerate(graph.outputs):
        tensor = graph.tensors[t]
        assert int(defines[f"EP_OUTPUT_{k}_BYTES"].rstrip("u")) == tensor.nbytes
        assert float(defines[f"EP_OUTPUT_{k}_SCALE"].rstrip("f")) == pytest.approx(float(tensor.scale[0]), rel=1e-6)
        assert int(defines[f"EP_OUTPUT_{k}_ZERO_POINT"]) == int(tensor.zero_point[0])
        slots.append(int(defines[f"EP_OUTPUT_{k}_OFFSET"].rstrip("u")))
    ends = [slot + graph.tensors[t].nbytes for slot, t in zip(slots, graph.outputs, strict=True)]
    assert slots[0] == 0 and all(end <= nxt for end, nxt in zip(ends, slots[1:], strict=False))
    assert all(slot % 4 == 0 for slot in slots) and ends[-1] == int(defines["EP_OUTPUT_BYTES"].rstrip("u"))
    steps, _ = lower(graph)
    plan = plan_memory(graph, steps)
    # in the arena, output k sits at EP_OUTPUT_OFFSET + its slot: the layout of the caller's buffer
    assert int(defines["EP_OUTPUT_OFFSET"].rstrip("u")) == plan.output_offset
    assert [offset - plan.output_offset for offset in plan.output_offsets] == slots


def test_memory_plan_never_shares_bytes_of_live_tensors(tmp_path):
    model = int8_tflite(
        tmp_path / "skip.tflite",
        lambda x: L.Add()(
            [L.Conv2D(8, 1)(x), L.DepthwiseConv2D(3, padding="same")(L.Conv2D(8, 1, activation="relu")(x))]
        ),
        (12, 12, 4),
    )
    graph = read_graph(model)
    steps, problems = lower(graph)
    plan = plan_memory(graph, steps)
    assert not problems
    for a in plan.buffers:
        for b in plan.buffers:
            alive_together = a.id < b.id and a.first <= b.last and b.first <= a.last
            share_bytes = a.offset < b.offset + b.size and b.offset < a.offset + a.size
            if alive_together and share_bytes:
                # only an output starting at least D below an input that dies at the writing step
                out, inp = (a, b) if b.id in a.below and a.below[b.id] >= 0 else (b, a)
                assert inp.id in out.below and inp.offset - out.offset >= out.below[inp.id], (a, b)
    live_peak = max(sum(b.size for b in plan.buffers if b.first <= i <= b.last) for i in range(len(steps)))
    assert plan.arena_bytes < live_peak  # overlapping saved memory on this model


@pytest.mark.parametrize("kernels", ["portable", "dsp", "mve"])
def test_a_depthwise_convolution_runs_in_place_over_its_dying_input(kernels, tmp_path):
    from keras import layers as L  # noqa: N812

    model = int8_tflite(
        tmp_path / "dw.tflite",
        lambda x: L.Conv2D(4, 1)(L.DepthwiseConv2D(3, padding="same")(L.Conv2D(16, 1, activation="relu")(x))),
        (24, 24, 3),
    )
    graph = read_graph(model)
    steps, _ = lower(graph, None, kernels)
    plan = plan_memory(graph, steps)
    (position,) = [i for i, s in enumerate(steps) if s.op.kind == "DEPTHWISE_CONV_2D"]
    op = steps[position].op
    buffer = {t: b for b in plan.buffers for t in b.tensors}
    inp, out = buffer[op.inputs[0]], buffer[op.outputs[0]]
    row = 24 * 16  # bytes of one image row of the 16-channel tensor
    # the output starts a window's rows below its input and overwrites it as the rows it needs are used
    assert out.offset < inp.offset <= out.offset + 2 * row < out.offset + out.size
    assert plan.arena_bytes < inp.size + out.size + (steps[position].scratch_bytes or 0)
    assert_bit_exact(model, tmp_path, count=3, in_place=True, kernels=kernels, max_recompute=0.0)


def test_unsupported_ops_are_all_listed_and_nothing_is_written(tmp_path):
    import tensorflow as tf

    def build(x):
        y = L.Conv2D(4, 3)(x)
        return L.Softmax()(L.Lambda(lambda t: tf.math.square(t))(y))

    model = int8_tflite(tmp_path / "bad.tflite", build, (6, 6, 3))
    with pytest.raises(UnsupportedOpError) as error:
        generate(model, tmp_path / "out")
    message = str(error.value)
    assert "SOFTMAX" in message and "SQUARE" in message and "bad.tflite" in message
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_a_file_that_is_not_tflite_is_refused(tmp_path):
    bad = tmp_path / "model.tflite"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelError, match="model.tflite: not a readable .tflite"):
        generate(bad, tmp_path / "out")


def test_fixed_point_helpers_match_hand_computed_values():
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert fp.quantize_multiplier(0.75) == (int(0.75 * (1 << 31)), 0)
    assert fp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert fp.quantize_multiplier(2.0**-40) == (0, 0)  # flushed below 2^-31
    # x * 0.5 with shift 0: the doubling high multiply rounds halves up (gemmlowp): 1.5 -> 2, -1.5 -> -1
    assert fp.multiply_by_quantized_multiplier(100, 1 << 30, 0) == 50
    assert fp.multiply_by_quantized_multiplier(3, 1 << 30, 0) == 2
    assert fp.multiply_by_quantized_multiplier(-3, 1 << 30, 0) == -1
    # x * 0.5 as 0.5 * 2^1 * 2^-1... shift -1 on multiplier 2^30 (= 0.25): 6 -> 1.5 -> 2, -6 -> -1.5 -> -2
    # (the final rounding divide rounds halves away from zero)
    assert fp.multiply_by_quantized_multiplier(6, 1 << 30, -1) == 2
    assert fp.multiply_by_quantized_multiplier(-6, 1 << 30, -1) == -2
    assert fp.activation_range(3, 6 / 255, -128) == (-128, 127)
    assert fp.activation_range(1, 0.1, 5) == (5, 127)


def test_the_reference_interpreter_is_sized_from_the_model(tmp_path):
    """Few weights, large activations: tflite-micro's own default arena (ten times the file) cannot hold
    them; every use of the interpreter (reference outputs, the arena comparison, the runner) must."""
    from tflite_micro.python.tflite_micro import runtime

    from edgepose.bench.artifact import reference_outputs
    from edgepose.codegen.tflm_arena import tflm_arena_bytes
    from edgepose.runtime.tflm_runner import TFLMRunner

    model = int8_tflite(tmp_path / "dw.tflite", lambda x: L.DepthwiseConv2D(3, padding="same")(x), (24, 24, 48))
    with pytest.raises(RuntimeError, match="allocate"):
        runtime.Interpreter.from_bytes(model.read_bytes())
    activations = 24 * 24 * 48
    assert tflm_arena_bytes(model) >= 2 * activations
    (output,) = reference_outputs(model, "tflite-micro", [bytes(activations)])
    assert len(output) == activations
    assert TFLMRunner(model).run(np.zeros((1, 24, 24, 48), np.float32)).shape == (1, 24, 24, 48)
    assert_bit_exact(model, tmp_path, count=2)
