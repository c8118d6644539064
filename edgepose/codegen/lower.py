"""Lowering: each TFLite operator becomes one kernel call with its requantization parameters computed
here, once, exactly as TFLite's Prepare functions compute them.

A ``Step`` holds the C statement (tensor pointers as ``{T<index>}`` placeholders, filled in by the
emitter once the memory plan is known), the constant arrays it needs, and what the memory planner must
know: scratch bytes, whether the output may overwrite its input (elementwise ops), and whether the output
is only a new view of the input (reshape). Anything that cannot be lowered is collected, not raised one by
one, so the user sees every missing piece at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgepose.codegen import fixedpoint as fp
from edgepose.codegen.graph import Graph, Operator, Tensor

_SAME, _VALID = 0, 1


class Unsupported(Exception):
    """One op that cannot be lowered, and why."""


@dataclass
class Constant:
    name: str
    ctype: str  # "int8_t", "int32_t", ...
    values: np.ndarray


@dataclass
class Step:
    op: Operator
    code: str
    constants: list[Constant] = field(default_factory=list)
    scratch_bytes: int = 0
    overlap: dict[int, int] | None = None  # input position -> D: the output may start D bytes below it
    view: bool = False  # the output is the input's bytes under another shape: no code, shared memory
    macs: int = 0


@dataclass(frozen=True)
class Rows:
    """A strip of one layer in patch-based execution: it computes output rows ``out_start`` onwards from a
    window of its input that starts at row ``in_start``; ``pad`` is the padding above the window's first row
    as the kernel sees it (the layer's own top padding for the first strip, 0 inside the image)."""

    out_start: int
    out_rows: int
    in_start: int
    in_rows: int
    pad: int


KERNEL_VARIANTS = ("portable", "dsp", "mve")


@dataclass(frozen=True)
class OpLowering:
    """How one TFLite op becomes a Step: ``lower(graph, op, kernels)`` (it picks the kernel of the variant or
    falls back to the portable one), or a view (RESHAPE and kin: no code) or a table from the reference
    interpreter (``lut``: elementwise int8 ops tabulated over their 256 inputs)."""

    lower: Callable[[Graph, Operator, str], Step] | None = None
    view: bool = False
    lut: bool = False


OPS: dict[str, OpLowering] = {}  # every op the code generator takes, registered next to its lowering below


def registers(*kinds: str, lut: bool = False):
    """Register the decorated function as the lowering of ``kinds`` (one place per op: see OPS)."""

    def register(function):
        for kind in kinds:
            OPS[kind] = OpLowering(function, lut=lut)
        return function

    return register


for _kind in ("RESHAPE", "SQUEEZE", "EXPAND_DIMS"):
    OPS[_kind] = OpLowering(view=True)
for _kind in ("HARD_SWISH", "TANH"):
    OPS[_kind] = OpLowering(lut=True)  # int8 only: tabulated from the reference interpreter


def lower(graph: Graph, lut_source=None, kernels: str = "portable") -> tuple[list[Step], list[str]]:
    """Steps for every operator, and one line per operator that could not be lowered. ``kernels`` is the
    variant the core runs best (``portable`` anywhere; ``dsp``: the Arm DSP extension; ``mve``: Helium); an op
    without a kernel in that variant (today all but the convolutions), or a layer the variant cannot take
    exactly, gets the portable kernel."""
    if kernels not in KERNEL_VARIANTS:
        raise ValueError(f"unknown kernel variant '{kernels}' (known: {', '.join(KERNEL_VARIANTS)})")
    steps, problems = [], []
    for op in graph.operators:
        try:
            steps.append(_lower_op(graph, op, lut_source, kernels))
        except Unsupported as exc:
            problems.append(f"op {op.index} {op.kind}: {exc}")
    return steps, problems


def _lower_op(graph: Graph, op: Operator, lut_source, kernels: str = "portable") -> Step:
    spec = OPS.get(op.kind)
    if spec is None:
        raise Unsupported("not supported by the code generator")
    if spec.view:
        return Step(op, "", view=True)
    if spec.lut and (spec.lower is None or graph.tensors[op.inputs[0]].dtype != "INT16"):
        return _lut_step(graph, op, _reference_table(graph, op, lut_source))
    return spec.lower(graph, op, kernels)


def lower_rows(graph: Graph, op: Operator, kernels: str, rows: Rows, lut_source=None) -> Step:
    """The step of a convolution, depthwise convolution, PAD or same-shape ADD computing only the strip
    ``rows``: the same kernel and constants, with the strip's input and output heights and its padding."""
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        return _convolution(graph, op, depthwise=op.kind == "DEPTHWISE_CONV_2D", kernels=kernels, rows=rows)
    if op.kind in ("PAD", "PADV2"):
        return _pad(graph, op, kernels, rows=rows)
    if op.kind == "ADD":
        return _binary(graph, op, kernels, rows=rows)
    if op.kind == "RESIZE_NEAREST_NEIGHBOR":
        return _resize(graph, op, kernels, rows=rows)
    raise Unsupported(f"{op.kind} cannot run in strips of rows")


def row_geometry(graph: Graph, op: Operator, lo: int, hi: int) -> tuple[int, int, int]:
    """``(first, end, pad)``: the input rows ``[first, end)`` that output rows ``[lo, hi)`` of ``op`` read
    (clipped to the input; rows beyond it are padding), and the strip's leading padding over ``first``."""
    height = _shape4(graph.tensors[op.inputs[0]])[1]
    if op.kind == "RESIZE_NEAREST_NEIGHBOR":
        out_height = _shape4(graph.tensors[op.outputs[0]])[1]
        align, half = bool(op.options.get("alignCorners", False)), bool(op.options.get("halfPixelCenters", False))
        first = nearest_row(lo, height, out_height, align, half)
        return first, nearest_row(hi - 1, height, out_height, align, half) + 1, 0
    if op.kind in ("PAD", "PADV2"):
        before = int(graph.tensors[op.inputs[1]].data.reshape(-1, 2)[-3, 0])
        stride, pad, reach = 1, before, 1
    else:
        o = op.options
        kh = graph.tensors[op.inputs[1]].shape[1]
        stride, dilation = o["strideH"], o.get("dilationHFactor", 1)
        pad = _padding(o["padding"], stride, dilation, height, kh)
        reach = (kh - 1) * dilation + 1
    first = max(0, lo * stride - pad)
    end = max(first, min(height, (hi - 1) * stride - pad + reach))
    return first, end, pad + first - lo * stride


# ---------------------------------------------------------------------------------------------- helpers


def _t(graph: Graph, op: Operator, position: int, kind: str = "input") -> Tensor:
    indices = op.inputs if kind == "input" else op.outputs
    if position >= len(indices) or indices[position] < 0:
        raise Unsupported(f"missing {kind} {position}")
    return graph.tensors[indices[position]]


def _int8(*tensors: Tensor) -> None:
    for t in tensors:
        if t.dtype != "INT8":
            raise Unsupported(
                f"tensor '{t.name}' is {t.dtype.lower()}; this op takes int8 activations "
                "(16x8 models: CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD, LOGISTIC, MEAN, RESIZE_NEAREST)"
            )
        if len(t.scale) == 0:
            raise Unsupported(f"tensor '{t.name}' has no quantization parameters")


def _activations(*tensors: Tensor) -> str:
    """``s8`` for int8 activations, ``s16`` for the int16 ones of a 16x8 model (symmetric: zero point 0)."""
    if all(t.dtype == "INT16" for t in tensors):
        for t in tensors:
            if len(t.scale) == 0 or _zp(t) != 0:
                raise Unsupported(f"int16 tensor '{t.name}' must be quantized with zero point 0 (16x8 spec)")
        return "s16"
    _int8(*tensors)
    return "s8"


def _scale(t: Tensor) -> float:
    return float(t.scale[0])


def _zp(t: Tensor) -> int:
    return int(t.zero_point[0]) if len(t.zero_point) else 0


def _shape4(t: Tensor) -> tuple[int, int, int, int]:
    if len(t.shape) > 4:
        raise Unsupported(f"tensor '{t.name}' has rank {len(t.shape)}; at most 4 is supported")
    return tuple([1] * (4 - len(t.shape)) + list(t.shape))


def _c_shape(shape) -> str:
    n, h, w, c = shape
    return f"{{{n}, {h}, {w}, {c}}}"


def nearest_row(value: int, in_size: int, out_size: int, align: bool, half: bool) -> int:
    """TFLite's GetNearestNeighbor in float32, as the kernel computes it: the input row of output row ``value``."""
    f32 = np.float32
    scale = f32(in_size - 1) / f32(out_size - 1) if align and out_size > 1 else f32(in_size) / f32(out_size)
    position = (f32(value) + f32(0.5 if half else 0.0)) * scale
    result = int(np.round(position)) if align else int(np.floor(position))
    result = min(result, in_size - 1)
    return max(0, result) if half else result


def _with_rows(shape: tuple[int, int, int, int], rows: int) -> tuple[int, int, int, int]:
    n, _, w, c = shape
    return n, rows, w, c


def _height(t: Tensor) -> int:
    return max(_shape4(t)[1], 1)


def _padding(padding: int, stride: int, dilation: int, in_size: int, filter_size: int) -> int:
    """TFLite's ComputePaddingHeightWidth for one axis: the leading pad."""
    effective = (filter_size - 1) * dilation + 1
    out_size = (in_size + stride - 1) // stride if padding == _SAME else (in_size + stride - effective) // stride
    total = max(0, (out_size - 1) * stride + effective - in_size)
    return total // 2 if padding == _SAME else 0


def activation_range(op: Operator, out: Tensor) -> tuple[int, int]:
    """``(act_min, act_max)`` of ``op``'s fused activation on its quantized output."""
    activation = int(op.options.get("fusedActivationFunction", 0))
    if activation not in (0, 1, 2, 3):
        raise Unsupported(f"fused activation {activation} is not supported (none, RELU, RELU_N1_TO_1, RELU6 are)")
    low, high = (-32768, 32767) if out.dtype == "INT16" else (fp.INT8_MIN, fp.INT8_MAX)
    return fp.activation_range(activation, _scale(out), _zp(out), low, high)


def _per_channel_multipliers(name: str, real: np.ndarray) -> list[Constant]:
    pairs = [fp.quantize_multiplier(float(r)) for r in real]
    return [
        Constant(f"{name}_multiplier", "int32_t", np.array([m for m, _ in pairs], np.int32)),
        Constant(f"{name}_shift", "int32_t", np.array([s for _, s in pairs], np.int32)),
    ]


def _conv_scales(inp: Tensor, weights: Tensor, out: Tensor, channels: int) -> np.ndarray:
    scales = weights.scale if weights.per_channel else np.repeat(weights.scale[:1], channels)
    if len(scales) != channels:
        raise Unsupported(f"weights '{weights.name}' have {len(scales)} scales for {channels} channels")
    # double(input_scale) * double(filter_scale) / double(output_scale), as PopulateConvolutionQuantizationParams
    return np.array([float(inp.scale[0]) * float(s) / float(out.scale[0]) for s in scales])


def _weights(graph: Graph, op: Operator, position: int) -> Tensor:
    w = _t(graph, op, position)
    if not w.is_constant:
        raise Unsupported(f"weights '{w.name}' are not constant")
    if w.dtype != "INT8":
        raise Unsupported(f"weights '{w.name}' are {w.dtype.lower()}; int8 weights are supported")
    if np.any(w.zero_point != 0):
        raise Unsupported(f"weights '{w.name}' have a non-zero zero point (the int8 spec requires 0)")
    return w


def _bias(graph: Graph, op: Operator, position: int, name: str, kind: str = "s8") -> tuple[str, list[Constant]]:
    """The C name of the bias (``0`` when there is none) and its constant: int32 for int8 ops; int64 for 16x8
    (``kind`` s16) ones, as TFLite's converter writes them (an int32 one would change the rounding)."""
    if position >= len(op.inputs) or op.inputs[position] < 0:
        return "0", []
    b = graph.tensors[op.inputs[position]]
    dtype, ctype, of = ("INT64", "int64_t", " of a 16x8 op") if kind == "s16" else ("INT32", "int32_t", "")
    if not b.is_constant or b.dtype != dtype:
        raise Unsupported(f"bias '{b.name}'{of} must be a constant {dtype.lower()} tensor, it is {b.dtype.lower()}")
    return f"{name}_bias", [Constant(f"{name}_bias", ctype, b.data.reshape(-1).astype(np.dtype(ctype[:-2])))]


# ---------------------------------------------------------------------------------------------- ops


@registers("CONV_2D")
def _conv(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    return _convolution(graph, op, depthwise=False, kernels=kernels)


@registers("DEPTHWISE_CONV_2D")
def _depthwise(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    return _convolution(graph, op, depthwise=True, kernels=kernels)


def _convolution(
    graph: Graph, op: Operator, depthwise: bool, kernels: str = "portable", rows: Rows | None = None
) -> Step:
    """CONV_2D (filter ``[oc, kh, kw, ic / groups]``) and DEPTHWISE_CONV_2D (filter ``[1, kh, kw, oc]``);
    with ``rows``, one strip of them (see ``lower_rows``)."""
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    kind = _activations(inp, out)
    w = _weights(graph, op, 1)
    name = f"op{op.index}"
    _, h, wd, c = _shape4(inp)
    if depthwise:
        _, kh, kw, oc = w.shape
        if oc % c:
            raise Unsupported(f"{oc} output channels are not a multiple of {c} input channels")
        multiplier, groups, window = oc // c, 1, 1
    else:
        oc, kh, kw, window = w.shape
        if c % window:
            raise Unsupported(f"input depth {c} is not a multiple of the filter depth {window}")
        multiplier, groups = 1, c // window
    o = op.options
    sh, sw, dh, dw = o["strideH"], o["strideW"], o.get("dilationHFactor", 1), o.get("dilationWFactor", 1)
    pad_h, pad_w = _padding(o["padding"], sh, dh, h, kh), _padding(o["padding"], sw, dw, wd, kw)
    bias, bias_constants = _bias(graph, op, 2, name, kind)
    act_min, act_max = activation_range(op, out)
    in_shape, out_shape = _shape4(inp), _shape4(out)
    macs, distance = out.size * kh * kw * window, _window_distance(inp, out, sh, pad_h)
    if rows is not None:
        in_shape, out_shape = _with_rows(in_shape, rows.in_rows), _with_rows(out_shape, rows.out_rows)
        pad_h, macs, distance = rows.pad, macs * rows.out_rows // _height(out), None
    params = (
        f"{{{_c_shape(in_shape)}, {_c_shape(out_shape)}, {kh}, {kw}, {sh}, {sw}, {dh}, {dw}, {pad_h}, "
        f"{pad_w}, {-_zp(inp)}, {_zp(out)}, {act_min}, {act_max}, {multiplier}, {groups}}}"
    )
    scales = _conv_scales(inp, w, out, oc)
    if kernels in ("dsp", "mve") and kind == "s8":
        bias_values = bias_constants[0].values if bias_constants else None
        geometry = {"multiplier": multiplier, "groups": groups, "stride_w": sw, "dilation": (dh, dw)}
        helium = kernels == "mve"
        fast = _dsp_convolution(name, params, w, bias_values, scales, inp, out, depthwise, geometry, helium)
        if fast is not None:  # the DSP kernels write in the portable kernel's raster order: the same overlap
            code, constants, scratch = fast
            return Step(op, code, constants, scratch_bytes=scratch, macs=macs, overlap=distance)
    constants = [Constant(f"{name}_weights", "int8_t", w.data.reshape(-1)), *bias_constants]
    constants += _per_channel_multipliers(name, scales)
    kernel = f"ep_depthwise_conv2d_{kind}" if depthwise else f"ep_conv2d_{kind}"
    code = (
        f"static const ep_conv_params {name}_params = {params};\n"
        f"{kernel}(&{name}_params, {{T{inp.index}}}, {name}_weights, {bias}, {name}_multiplier, "
        f"{name}_shift, {{T{out.index}}});"
    )
    return Step(op, code, constants, macs=macs, overlap=distance)


def _dsp_convolution(name, params, w, bias, scales, inp, out, depthwise, geometry, helium=False):
    """``(code, constants, scratch bytes)`` of the DSP kernel (``helium``: the Helium one) for a convolution it
    takes exactly, else None (see lower_dsp)."""
    from edgepose.codegen import lower_dsp

    n, _, _, c = _shape4(inp)
    _, _, ow, oc = _shape4(out)
    if n != 1 or geometry["groups"] != 1:
        return None
    if depthwise:
        _, kh, kw, _ = w.shape
        if geometry["multiplier"] != 1 or geometry["dilation"] != (1, 1) or kh > lower_dsp.MAX_KERNEL_ROWS:
            return None
        weights_k = w.data.reshape(kh * kw, c).T  # [c, K] for the requantization bounds
    else:
        weights_k = w.data.reshape(oc, -1)
    rq = lower_dsp.requantization(weights_k, bias, scales, -_zp(inp), _zp(out))
    if rq is None:
        return None
    if helium and depthwise:
        weights, rows, cp = lower_dsp.helium_depthwise_constants(w.data, rq)
        scratch = kh * ((ow - 1) * geometry["stride_w"] + kw) * cp
        kernel, scratch_type = "ep_depthwise_conv_mve_s8", "int8_t"
    elif helium:
        weights, rows, kp = lower_dsp.helium_conv_constants(w.data, rq)
        scratch, kernel, scratch_type = kp, "ep_conv_mve_s8", "int8_t"
    elif depthwise:
        weights, rows, cp = lower_dsp.depthwise_constants(w.data, rq)
        scratch = kh * ((ow - 1) * geometry["stride_w"] + kw) * cp * 2
        kernel, scratch_type = "ep_depthwise_conv_dsp_s8", "int16_t"
    else:
        weights, kp = lower_dsp.conv_constants(w.data)
        rows, scratch, kernel, scratch_type = rq, 5 * kp, "ep_conv_dsp_s8", "int16_t"
    constants = [Constant(f"{name}_weights", str(weights.dtype) + "_t", weights.reshape(-1)),
                 Constant(f"{name}_rq", "int32_t", rows.reshape(-1))]  # fmt: skip
    rq_type = "const int32_t *" if helium else "const ep_rq *"  # Helium: the rows as lanes
    code = (
        f"static const ep_conv_params {name}_params = {params};\n"
        f"{kernel}(&{name}_params, {{T{inp.index}}}, {name}_weights, ({rq_type}){name}_rq, "
        f"({scratch_type} *){{SCRATCH}}, {{T{out.index}}});"
    )
    return code, constants, scratch


@registers("TRANSPOSE_CONV")
def _transpose_conv(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, out = _t(graph, op, 2), _t(graph, op, 0, "output")
    _int8(inp, out)
    w = _weights(graph, op, 1)
    name = f"op{op.index}"
    oc, kh, kw, ic = w.shape
    _, oh, ow, _ = _shape4(out)
    o = op.options
    sh, sw = o["strideH"], o["strideW"]
    bias, bias_constants = _bias(graph, op, 3, name)
    act_min, act_max = activation_range(op, out)
    # TFLite computes the padding as if the output were the input of a forward convolution
    params = (
        f"{{{_c_shape(_shape4(inp))}, {_c_shape(_shape4(out))}, {kh}, {kw}, {sh}, {sw}, 1, 1, "
        f"{_padding(o['padding'], sh, 1, oh, kh)}, {_padding(o['padding'], sw, 1, ow, kw)}, "
        f"{-_zp(inp)}, {_zp(out)}, {act_min}, {act_max}, 1, 1}}"
    )
    constants = [Constant(f"{name}_weights", "int8_t", w.data.reshape(-1)), *bias_constants]
    constants += _per_channel_multipliers(name, _conv_scales(inp, w, out, oc))
    code = (
        f"static const ep_conv_params {name}_params = {params};\n"
        f"ep_transpose_conv2d_s8(&{name}_params, {{T{inp.index}}}, {name}_weights, {bias}, {name}_multiplier, "
        f"{name}_shift, (int32_t *){{SCRATCH}}, {{T{out.index}}});"
    )
    return Step(op, code, constants, scratch_bytes=4 * out.size, macs=inp.size * kh * kw * oc)


@registers("FULLY_CONNECTED")
def _fully_connected(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    kind = _activations(inp, out)
    w = _weights(graph, op, 1)
    name = f"op{op.index}"
    units, depth = w.shape
    bias, bias_constants = _bias(graph, op, 2, name, kind)
    act_min, act_max = activation_range(op, out)
    if w.per_channel:
        real = np.array([float(inp.scale[0]) * float(s) / float(out.scale[0]) for s in w.scale])
    else:  # GetQuantizedConvolutionMultipler: the scales are multiplied in float32 first
        product = float(np.float32(inp.scale[0]) * np.float32(w.scale[0]))
        real = np.full(units, product / float(out.scale[0]))
    params = f"{{{inp.size // depth}, {depth}, {units}, {-_zp(inp)}, {_zp(out)}, {act_min}, {act_max}}}"
    constants = [Constant(f"{name}_weights", "int8_t", w.data.reshape(-1)), *bias_constants]
    constants += _per_channel_multipliers(name, real)
    code = (
        f"static const ep_fc_params {name}_params = {params};\n"
        f"ep_fully_connected_{kind}(&{name}_params, {{T{inp.index}}}, {name}_weights, {bias}, {name}_multiplier, "
        f"{name}_shift, {{T{out.index}}});"
    )
    return Step(op, code, constants, macs=out.size * depth)


@registers("ADD", "MUL")
def _binary(graph: Graph, op: Operator, kernels: str = "portable", rows: Rows | None = None) -> Step:
    a, b, out = _t(graph, op, 0), _t(graph, op, 1), _t(graph, op, 0, "output")
    kind = _activations(a, b, out) if op.kind == "ADD" else (_int8(a, b, out) or "s8")
    name = f"op{op.index}"
    act_min, act_max = activation_range(op, out)
    sa, sb, so = _scale(a), _scale(b), _scale(out)
    if op.kind == "ADD":
        left_shift = 15 if kind == "s16" else 20
        twice_max = 2 * max(sa, sb)
        m1, s1 = fp.quantize_multiplier(sa / twice_max)
        m2, s2 = fp.quantize_multiplier(sb / twice_max)
        mo, so_shift = fp.quantize_multiplier(twice_max / ((1 << left_shift) * so))
    else:
        left_shift, m1, s1, m2, s2 = 0, 0, 0, 0, 0
        mo, so_shift = fp.quantize_multiplier(sa * sb / so)
    shapes = [_shape4(t) for t in (a, b, out)]
    for shape in shapes[:2]:
        if any(d not in (1, o) for d, o in zip(shape, shapes[2], strict=True)):
            raise Unsupported(f"cannot broadcast {shape} to {shapes[2]}")
    size = out.size
    if rows is not None:  # a strip of a same-shape ADD: every operand's rows are the output's
        shapes = [_with_rows(shape, rows.out_rows) for shape in shapes]
        size = rows.out_rows * shapes[2][2] * shapes[2][3]
    params = (
        f"{{{_c_shape(shapes[0])}, {_c_shape(shapes[1])}, {_c_shape(shapes[2])}, {-_zp(a)}, {-_zp(b)}, {_zp(out)}, "
        f"{m1}, {m2}, {mo}, {s1}, {s2}, {so_shift}, {left_shift}, {act_min}, {act_max}}}"
    )
    overlap = {i: 0 for i, t in enumerate((a, b)) if t.shape == out.shape}
    if op.kind == "ADD" and kind == "s8" and kernels in ("dsp", "mve") and shapes[0] == shapes[1] == shapes[2]:
        from edgepose.codegen import lower_dsp

        inputs = [(-_zp(a), m1, s1), (-_zp(b), m2, s2)]
        fast = lower_dsp.add_constants(inputs, left_shift, mo, so_shift, _zp(out))
        if fast is not None:
            tables, rq = fast
            constants = [Constant(f"{name}_tables", "int32_t", tables.reshape(-1)),
                         Constant(f"{name}_rq", "int32_t", rq)]  # fmt: skip
            code = (
                f"ep_add_{kernels}_s8({size}, {name}_tables, (const ep_rq *){name}_rq, {act_min}, {act_max}, "
                f"{{T{a.index}}}, {{T{b.index}}}, {{T{out.index}}});"
            )
            return Step(op, code, constants, overlap=overlap)
    kernel = f"ep_add_{kind}" if op.kind == "ADD" else "ep_mul_s8"
    code = (
        f"static const ep_binary_params {name}_params = {params};\n"
        f"{kernel}(&{name}_params, {{T{a.index}}}, {{T{b.index}}}, {{T{out.index}}});"
    )
    return Step(op, code, overlap=overlap)


@registers("AVERAGE_POOL_2D", "MAX_POOL_2D")
def _pool(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    _int8(inp, out)
    _same_quantization(inp, out)
    name = f"op{op.index}"
    o = op.options
    kh, kw, sh, sw = o["filterHeight"], o["filterWidth"], o["strideH"], o["strideW"]
    _, h, w, _ = _shape4(inp)
    act_min, act_max = activation_range(op, out)
    params = (
        f"{{{_c_shape(_shape4(inp))}, {_c_shape(_shape4(out))}, {kh}, {kw}, {sh}, {sw}, "
        f"{_padding(o['padding'], sh, 1, h, kh)}, {_padding(o['padding'], sw, 1, w, kw)}, {act_min}, {act_max}}}"
    )
    kernel = "ep_avg_pool_s8" if op.kind == "AVERAGE_POOL_2D" else "ep_max_pool_s8"
    code = (
        f"static const ep_pool_params {name}_params = {params};\n"
        f"{kernel}(&{name}_params, {{T{inp.index}}}, {{T{out.index}}});"
    )
    return Step(op, code, overlap=_window_distance(inp, out, sh, _padding(o["padding"], sh, 1, h, kh)))


@registers("MEAN")
def _mean(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, axis, out = _t(graph, op, 0), _t(graph, op, 1), _t(graph, op, 0, "output")
    kind = _activations(inp, out)
    if len(inp.shape) != 4 or axis.data is None or sorted(int(a) % 4 for a in axis.data.reshape(-1)) != [1, 2]:
        raise Unsupported("only the mean over height and width of a 4-D tensor is supported")
    multiplier, shift = fp.mean_multiplier(_scale(inp) / _scale(out), inp.shape[1] * inp.shape[2])
    if kind == "s16":
        code = (
            f"ep_mean_hw_s16((ep_shape){_c_shape(_shape4(inp))}, {multiplier}, {shift}, "
            f"{{T{inp.index}}}, {{T{out.index}}});"
        )
        return Step(op, code)
    code = (
        f"ep_mean_hw_s8((ep_shape){_c_shape(_shape4(inp))}, {_zp(inp)}, {_zp(out)}, {multiplier}, {shift}, "
        f"{{T{inp.index}}}, {{T{out.index}}});"
    )
    return Step(op, code)


@registers("CONCATENATION")
def _concatenation(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inputs = [graph.tensors[i] for i in op.inputs]
    out = _t(graph, op, 0, "output")
    _int8(out, *inputs)
    for t in inputs:
        _same_quantization(t, out)
    if int(op.options.get("fusedActivationFunction", 0)):
        raise Unsupported("a fused activation on CONCATENATION is not supported")
    axis = int(op.options["axis"]) % len(out.shape)
    outer = int(np.prod(out.shape[:axis]))
    inner = [int(np.prod(t.shape[axis:])) for t in inputs]
    name = f"op{op.index}"
    pointers = ", ".join(f"{{T{t.index}}}" for t in inputs)
    code = (
        f"static const int32_t {name}_inner[] = {{{', '.join(map(str, inner))}}};\n"
        f"{{ const int8_t *{name}_inputs[] = {{{pointers}}};\n"
        f"  ep_concat_s8({outer}, {len(inputs)}, {name}_inputs, {name}_inner, {{T{out.index}}}); }}"
    )
    return Step(op, code)


@registers("PAD", "PADV2")
def _pad(graph: Graph, op: Operator, kernels: str = "portable", rows: Rows | None = None) -> Step:
    inp, paddings, out = _t(graph, op, 0), _t(graph, op, 1), _t(graph, op, 0, "output")
    _int8(inp, out)
    _same_quantization(inp, out)
    if paddings.data is None:
        raise Unsupported("paddings must be constant")
    before = [0] * (4 - len(inp.shape)) + [int(p) for p in paddings.data.reshape(-1, 2)[:, 0]]
    value = _zp(out)
    if op.kind == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        constant = graph.tensors[op.inputs[2]]
        if constant.data is None:
            raise Unsupported("the padding value must be constant")
        value = int(constant.data.reshape(-1)[0])
    name = f"op{op.index}"
    in_shape, out_shape = _shape4(inp), _shape4(out)
    if rows is not None:
        in_shape, out_shape = _with_rows(in_shape, rows.in_rows), _with_rows(out_shape, rows.out_rows)
        before[1] = rows.pad
    code = (
        f"static const int32_t {name}_before[4] = {{{', '.join(map(str, before))}}};\n"
        f"ep_pad_s8((ep_shape){_c_shape(in_shape)}, (ep_shape){_c_shape(out_shape)}, {name}_before, {value}, "
        f"{{T{inp.index}}}, {{T{out.index}}});"
    )
    return Step(op, code)


@registers("RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR")
def _resize(graph: Graph, op: Operator, kernels: str = "portable", rows: Rows | None = None) -> Step:
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    kind = _activations(inp, out) if op.kind == "RESIZE_NEAREST_NEIGHBOR" else (_int8(inp, out) or "s8")
    _same_quantization(inp, out)
    align = int(bool(op.options.get("alignCorners", False)))
    half = int(bool(op.options.get("halfPixelCenters", False)))
    kernel = "ep_resize_bilinear_s8" if op.kind == "RESIZE_BILINEAR" else f"ep_resize_nearest_{kind}"
    if rows is not None:  # a strip: rows chosen from the whole tensors' heights, read from the window
        if op.kind != "RESIZE_NEAREST_NEIGHBOR" or kind != "s8":
            raise Unsupported(f"{op.kind} ({kind}) cannot run in strips of rows")
        window, strip = _with_rows(_shape4(inp), rows.in_rows), _with_rows(_shape4(out), rows.out_rows)
        code = (
            f"ep_resize_nearest_rows_s8((ep_shape){_c_shape(window)}, (ep_shape){_c_shape(strip)}, {rows.in_start}, "
            f"{rows.out_start}, {_height(inp)}, {_height(out)}, {align}, {half}, {{T{inp.index}}}, {{T{out.index}}});"
        )
        return Step(op, code)
    code = (
        f"{kernel}((ep_shape){_c_shape(_shape4(inp))}, (ep_shape){_c_shape(_shape4(out))}, {align}, {half}, "
        f"{{T{inp.index}}}, {{T{out.index}}});"
    )
    return Step(op, code)


@registers("QUANTIZE")
def _quantize(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    if inp.dtype == "FLOAT32":
        kind = _activations(out)
        code = (
            f"ep_quantize_f32_{kind}({out.size}, {float(np.float32(_scale(out)))!r}f, {_zp(out)}, "
            f"(const float *){{T{inp.index}}}, {{T{out.index}}});"
        )
        return Step(op, code)
    _int8(out)
    _int8(inp)
    multiplier, shift = fp.quantize_multiplier(_scale(inp) / _scale(out))
    table = [
        max(
            fp.INT8_MIN,
            min(fp.INT8_MAX, _zp(out) + fp.multiply_by_quantized_multiplier(v - _zp(inp), multiplier, shift)),
        )
        for v in range(-128, 128)
    ]
    return _lut_step(graph, op, table)


@registers("DEQUANTIZE")
def _dequantize(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    kind = _activations(inp)
    if out.dtype != "FLOAT32":
        raise Unsupported(f"DEQUANTIZE to {out.dtype.lower()} is not supported")
    code = (
        f"ep_dequantize_{kind}_f32({inp.size}, {float(np.float32(_scale(inp)))!r}, {_zp(inp)}, {{T{inp.index}}}, "
        f"(float *){{T{out.index}}});"
    )
    return Step(op, code)


@registers("RELU", "RELU6", "RELU_N1_TO_1")
def _relu(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    _int8(inp, out)
    multiplier, shift = fp.quantize_multiplier(_scale(inp) / _scale(out))
    activation = {"RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}[op.kind]
    lo, hi = fp.activation_range(activation, _scale(out), _zp(out))
    table = [
        max(lo, min(hi, _zp(out) + fp.multiply_by_quantized_multiplier(v - _zp(inp), multiplier, shift)))
        for v in range(-128, 128)
    ]
    return _lut_step(graph, op, table)


def _lut_step(graph: Graph, op: Operator, table) -> Step:
    """An int8 → int8 elementwise op as a 256-entry table, indexed by the input byte."""
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    _int8(inp, out)
    values = np.zeros(256, np.int8)
    for v, result in zip(range(-128, 128), table, strict=True):
        values[v & 0xFF] = result
    name = f"op{op.index}"
    code = f"ep_lut_s8({out.size}, {name}_table, {{T{inp.index}}}, {{T{out.index}}});"
    return Step(op, code, [Constant(f"{name}_table", "int8_t", values)], overlap={0: 0})


@registers("LOGISTIC", lut=True)  # int8: a table; int16: the interpolated sigmoid below
def _logistic_s16(graph: Graph, op: Operator, kernels: str = "portable") -> Step:
    """int16 LOGISTIC: TFLite's interpolated sigmoid table (an int16 op has 65536 inputs: too many to tabulate)."""
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    _activations(inp, out)
    if abs(_scale(out) - 2.0**-15) > 2.0**-25:
        raise Unsupported(f"int16 LOGISTIC output '{out.name}' must have scale 2^-15 (TFLite requires it)")
    multiplier, left_shift = fp.logistic_int16_rescale(float(np.float32(_scale(inp))))
    name = f"op{op.index}"
    from edgepose.codegen.reference_tables import sigmoid_table_int16

    table = Constant(f"{name}_sigmoid", "uint16_t", np.array(sigmoid_table_int16(), np.uint16))
    code = (
        f"ep_logistic_s16({out.size}, {multiplier}, {left_shift}, {name}_sigmoid, {{T{inp.index}}}, {{T{out.index}}});"
    )
    return Step(op, code, [table], overlap={0: 0})


def _reference_table(graph: Graph, op: Operator, lut_source) -> list[int]:
    if lut_source is None:
        from edgepose.codegen.reference_tables import reference_table as lut_source
    inp, out = _t(graph, op, 0), _t(graph, op, 0, "output")
    _int8(inp, out)
    return lut_source(op, inp, out)


def _window_distance(inp: Tensor, out: Tensor, stride: int, pad: int) -> dict[int, int] | None:
    """How far below its input a windowed op's output may start (kernels write in raster order).

    Output row ``oy`` is finished before any input row below ``oy * stride - pad`` is no longer needed,
    so the output may start ``D`` bytes below the input with
    ``D = max over oy of (end of output row oy) - (start of input row max(0, oy * stride - pad))``.
    """
    n, h, w, c = _shape4(inp)
    _, oh, ow, oc = _shape4(out)
    if n != 1:
        return None
    out_row, in_row = ow * oc * out.nbytes // max(out.size, 1), w * c * inp.nbytes // max(inp.size, 1)  # bytes
    distance = max((oy + 1) * out_row - max(0, oy * stride - pad) * in_row for oy in range(oh))
    return {0: max(distance, 0)}


def _same_quantization(a: Tensor, b: Tensor) -> None:
    if _scale(a) != _scale(b) or _zp(a) != _zp(b):
        raise Unsupported(f"'{a.name}' and '{b.name}' must share scale and zero point (TFLite requires it)")
