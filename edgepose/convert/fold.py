"""ONNX folding before quantization: a smaller graph that computes the same function.

ONNX Runtime's offline *basic* optimizations do most of the work: constant folding, Identity and Dropout
removal, BatchNormalization folded into Conv, and the per-channel Mul/Add pairs tf2onnx leaves after
(depthwise) convolutions folded into the convolution's weights and bias (ConvMulFusion, ConvAddFusion).
Basic level is chosen because it stays within the standard ONNX operator set; the extended levels add
Microsoft contrib ops that other runtimes cannot load. Two small passes are ours: NCHW input/output on
request (a Transpose at each 4-D edge of the graph), and merging chains of Transposes — with NCHW edges,
tf2onnx's own NHWC→NCHW Transpose meets ours and the pair cancels out.

Every folded model is run against the unfolded one on sample inputs; a difference beyond float rounding
is an error, not a warning.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from edgepose import atomic
from edgepose.convert.modelfile import load_onnx
from edgepose.errors import ModelError

# Folding reorders float arithmetic (BN into weights), so outputs move by rounding only.
TOLERANCE = 1e-4


def fold_onnx(source: Path, target: Path, nchw: bool = False, constant_folding: bool = True) -> dict:
    """Fold ``source`` into ``target``; returns node counts before and after and the numerical check."""
    import onnx

    model = load_onnx(source)
    before = op_counts(model)
    if nchw:
        model = to_nchw(model)
    with tempfile.TemporaryDirectory(prefix="edgepose-fold-") as scratch:
        staged = Path(scratch) / "staged.onnx"
        onnx.save(model, str(staged))
        if constant_folding:
            _ort_basic(staged, Path(scratch) / "folded.onnx")
            model = onnx.load(str(Path(scratch) / "folded.onnx"))
        model = merge_transposes(model)
        onnx.checker.check_model(model)
        check = compare_outputs(load_onnx(source), model, nchw=nchw)
        if check["max_abs_diff"] > TOLERANCE * max(1.0, check["max_abs_reference"]):
            raise ModelError(
                f"{source}: folding changed the outputs by {check['max_abs_diff']:.3g} (tolerance {TOLERANCE:g}); "
                "export with --no-fold and report the model"
            )
        atomic.write_bytes(target, model.SerializeToString())
    after = op_counts(model)
    return {
        "nodes_before": sum(before.values()),
        "nodes_after": sum(after.values()),
        "ops_before": dict(sorted(before.items())),
        "ops_after": dict(sorted(after.items())),
        "nchw": nchw,
        "check": check,
    }


def op_counts(model) -> Counter:
    return Counter(node.op_type for node in model.graph.node)


def _ort_basic(source: Path, target: Path) -> None:
    import onnxruntime as ort

    from edgepose.runtime.onnx_runner import quiet_onnxruntime

    quiet_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"{source}: ONNX Runtime cannot load the model: {' '.join(str(exc).split())[:300]}") from None


def to_nchw(model):
    """Make every 4-D NHWC graph input and output NCHW by a Transpose at the graph's edge."""
    from onnx import helper

    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    for value in [v for v in graph.input if v.name not in initializers]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            continue
        inner = f"{value.name}__nhwc"
        _rename_uses(graph, value.name, inner)
        graph.node.insert(0, helper.make_node("Transpose", [value.name], [inner], perm=[0, 2, 3, 1]))
        _permute_dims(dims, (0, 3, 1, 2))
    for value in graph.output:
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4:
            continue
        inner = f"{value.name}__nhwc"
        for node in graph.node:
            node.output[:] = [inner if o == value.name else o for o in node.output]
        _rename_uses(graph, value.name, inner)
        graph.node.append(helper.make_node("Transpose", [inner], [value.name], perm=[0, 3, 1, 2]))
        _permute_dims(dims, (0, 3, 1, 2))
    return model


def merge_transposes(model):
    """Compose Transpose→Transpose chains; drop the pair when the composition is the identity."""
    from onnx import helper

    graph = model.graph
    changed = True
    while changed:
        changed = False
        producers = {out: node for node in graph.node for out in node.output}
        consumers = Counter(name for node in graph.node for name in node.input)
        outputs = {o.name for o in graph.output}
        for node in list(graph.node):
            first = producers.get(node.input[0]) if node.op_type == "Transpose" else None
            if first is None or first.op_type != "Transpose" or consumers[first.output[0]] != 1:
                continue
            if first.output[0] in outputs:
                continue
            outer, inner = _perm(node), _perm(first)
            composed = [inner[axis] for axis in outer]
            if composed != sorted(composed):
                position = list(graph.node).index(node)
                merged = helper.make_node("Transpose", [first.input[0]], [node.output[0]], perm=composed)
                graph.node.insert(position, merged)
            elif node.output[0] not in outputs:
                _rename_uses(graph, node.output[0], first.input[0])
            else:  # the pair ends the graph: the node before it now writes the graph output itself
                source = producers.get(first.input[0])
                if source is None or consumers[first.input[0]] != 1:
                    continue
                source.output[:] = [node.output[0] if o == first.input[0] else o for o in source.output]
            graph.node.remove(node)
            graph.node.remove(first)
            changed = True
            break
    return model


def compare_outputs(reference, candidate, nchw: bool = False, samples: int = 2, seed: int = 0) -> dict:
    """Run both ONNX models on the same random inputs; the worst difference over all outputs."""
    import onnxruntime as ort

    sessions = [
        ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]) for m in (reference, candidate)
    ]
    rng = np.random.default_rng(seed)
    worst, largest, cosine = 0.0, 0.0, 1.0
    for _ in range(samples):
        feeds = {i.name: _random_input(i, rng) for i in sessions[0].get_inputs()}
        expected = sessions[0].run(None, feeds)
        if nchw:
            feeds = {name: (value.transpose(0, 3, 1, 2) if value.ndim == 4 else value) for name, value in feeds.items()}
        got = sessions[1].run(None, feeds)
        for want, have in zip(expected, got, strict=True):
            if nchw and have.ndim == 4:
                have = have.transpose(0, 2, 3, 1)
            want, have = want.astype(np.float64), have.astype(np.float64)  # integer outputs must not wrap
            worst = max(worst, float(np.abs(want - have).max()))
            largest = max(largest, float(np.abs(want).max()))
            cosine = min(cosine, cosine_similarity(want, have))
    return {"samples": samples, "max_abs_diff": worst, "max_abs_reference": largest, "cosine": cosine}


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    norms = np.linalg.norm(a) * np.linalg.norm(b)
    return 1.0 if norms == 0 else float(a @ b / norms)


_INTEGER_INPUTS = {"tensor(int8)": np.int8, "tensor(uint8)": np.uint8}


def _random_input(info, rng) -> np.ndarray:
    """Values in [-1, 1] for a float input; the whole range for the int8/uint8 input of a quantized model."""
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in info.shape]
    if info.type in _INTEGER_INPUTS:
        dtype = _INTEGER_INPUTS[info.type]
        return rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, shape, endpoint=True, dtype=dtype)
    return rng.uniform(-1, 1, shape).astype(np.float32)


def _perm(node) -> list[int]:
    return list(next(a.ints for a in node.attribute if a.name == "perm"))


def _rename_uses(graph, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if name == old else name for name in node.input]


def _permute_dims(dims, order) -> None:
    copies = [(d.dim_value, d.dim_param) for d in dims]
    for dim, source in zip(dims, order, strict=True):
        value, param = copies[source]
        dim.Clear()
        if param:
            dim.dim_param = param
        else:
            dim.dim_value = value
