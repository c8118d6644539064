"""What a Keras model costs: parameters, multiply-accumulates, an activation-memory estimate, and its ops.

These work on the Keras graph before export, so they answer "will it fit?" while a model is being designed.
The exact numbers for a board come later, from the converted int8 model: BatchNormalization and ReLU fold
into the convolutions there, so the estimates here are a little pessimistic, never optimistic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import keras


def count_params(model: keras.Model) -> int:
    """All weights, trainable or not (BatchNormalization's moving statistics included)."""
    return int(model.count_params())


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates of one forward pass (batch 1) through the convolutions and dense layers.

    Per layer, with ``out_h x out_w`` output pixels:

    - Conv2D: ``out_h * out_w * k_h * k_w * (c_in / groups) * c_out``
    - DepthwiseConv2D: ``out_h * out_w * k_h * k_w * c_in * depth_multiplier``
    - SeparableConv2D: its depthwise part plus ``out_h * out_w * c_in * depth_multiplier * c_out``
    - Conv2DTranspose: ``in_h * in_w * k_h * k_w * c_in * c_out`` (every input pixel is scattered once)
    - Dense: ``inputs * units`` for every position of the leading dimensions

    Adds, BatchNormalization, activations, pooling and resizing are left out: they cost a few operations per
    element, small next to the convolutions. Nested models are walked into.
    """
    return sum(_layer_macs(layer) for layer in _flat_layers(model))


def activation_peak_bytes(model: keras.Model, bytes_per_element: int = 1) -> int:
    """An estimate of the activation memory (the "arena") one inference needs, in bytes (batch 1).

    The layers are taken in the order Keras runs them. At each layer, the live tensors are those produced
    earlier (the model's inputs included) that this layer or a later one still reads, plus the output this
    layer produces; the model's outputs stay live to the end. The peak over all layers is what a greedy arena
    planner needs when no tensor is fragmented and no operation works in place. With
    ``bytes_per_element=1`` it is the int8 figure; 4 gives float32. The C code generator computes the exact
    plan for the converted model, where BatchNormalization and activations no longer hold tensors of their
    own; a nested model counts as one layer.
    """
    order = _execution_order(model)
    last_use = {id(t): len(order) for t in model.outputs}  # outputs must survive the whole inference
    for step, node in enumerate(order):
        for tensor in node.input_tensors:
            last_use[id(tensor)] = max(last_use.get(id(tensor), step), step)
    live = {id(t): _bytes(t, bytes_per_element) for t in model.inputs}
    peak = sum(live.values())
    for step, node in enumerate(order):
        produced = {id(t): _bytes(t, bytes_per_element) for t in node.outputs}
        peak = max(peak, sum(live.values()) + sum(produced.values()))
        live.update(produced)
        live = {key: size for key, size in live.items() if last_use.get(key, -1) > step}
    return peak


def allowed_ops(model: keras.Model, allowed: Iterable[str]) -> list[str]:
    """The layer class names in ``model`` that are not in ``allowed`` (sorted, each once); [] when it fits."""
    allowed = set(allowed)
    return sorted({type(layer).__name__ for layer in _flat_layers(model)} - allowed)


def profile(model: keras.Model) -> dict[str, int]:
    """Parameters, MACs and the int8 activation peak together, as ``edgepose models`` lists them."""
    return {
        "params": count_params(model),
        "macs": count_macs(model),
        "activation_peak_bytes": activation_peak_bytes(model, bytes_per_element=1),
    }


def _flat_layers(model: keras.Model) -> Iterator[keras.Layer]:
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def _execution_order(model: keras.Model) -> list:
    """The model's call nodes, deepest first: the order ``keras.Model`` itself runs a functional graph in."""
    by_depth = model._nodes_by_depth  # no public API exposes the graph's nodes; Keras 3 keeps them here
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth] if not node.is_input]


def _bytes(tensor, bytes_per_element: int) -> int:
    return math.prod(dim or 1 for dim in tensor.shape) * bytes_per_element  # the batch (None) counts as 1


def _layer_macs(layer: keras.Layer) -> int:
    # In Keras 3 none of these four convolutions subclasses another, so the order of the checks is free.
    if isinstance(layer, keras.layers.SeparableConv2D):
        return _separable_macs(layer)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return _pixels(layer.output) * math.prod(layer.kernel_size) * layer.input.shape[-1] * layer.depth_multiplier
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return _pixels(layer.input) * math.prod(layer.kernel_size) * layer.input.shape[-1] * layer.filters
    if isinstance(layer, keras.layers.Conv2D):
        per_pixel = math.prod(layer.kernel_size) * layer.input.shape[-1] // layer.groups * layer.filters
        return _pixels(layer.output) * per_pixel
    if isinstance(layer, keras.layers.Dense):
        return math.prod(d or 1 for d in layer.input.shape[:-1]) * layer.input.shape[-1] * layer.units
    return 0


def _separable_macs(layer: keras.Layer) -> int:
    depthwise = _pixels(layer.output) * math.prod(layer.kernel_size) * layer.input.shape[-1] * layer.depth_multiplier
    pointwise = _pixels(layer.output) * layer.input.shape[-1] * layer.depth_multiplier * layer.filters
    return depthwise + pointwise


def _pixels(tensor) -> int:
    """Positions per image of an NHWC tensor: height x width."""
    return math.prod(d or 1 for d in tensor.shape[1:-1])
