"""Quantization-aware fine-tuning: a few epochs of training that see int8's rounding, for a model that
post-training quantization leaves too far from float.

TensorFlow Model Optimization's QAT does not run on Keras 3, so the fake quantization is edgepose's own and
mirrors what TFLite's converter will do to this model:

- **weights** of Conv2D and DepthwiseConv2D are rounded to symmetric int8 (per output channel, or per
  tensor) *after* folding the BatchNormalization that follows them, as the converter folds it; rounding
  passes the gradient straight through. Folding is exact to fake-quantize because the BN statistics are
  frozen for the fine-tuning (``BatchNormalization`` in inference mode), which is also what the device runs;
- **activations** are rounded to asymmetric int8 wherever TFLite keeps a tensor: after each op together
  with the BatchNormalization and ReLU it fuses, at every other layer's output and at the model's outputs.
  Their ranges are the ones the converter's calibration will compute — min and max of the float model over
  the calibration set, widened where the calibrating interpreter runs ADD in place — refreshed after every
  epoch as the weights move; the model input is rounded to its int8 grid too.

The fake-quantized model shares its variables with the float model, so fine-tuning the one trains the other;
the fine-tuned float model then goes through the usual post-training quantizer, whose calibration finds the
ranges the fine-tuning trained with. ``tests/test_qat.py`` holds the fake-quantized model to LiteRT's int8
model within a tie's rounding.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import ops

from edgepose import console
from edgepose.errors import ConfigError, ModelError

# What TFLite fuses into the op before it: the tensor between them never exists in the int8 model.
_FUSED_ACTIVATIONS = ("relu", "relu6")


@dataclass
class FineTuned:
    model: Path
    history: dict[str, list[float]] = field(default_factory=dict)
    ranges: int = 0
    quantized_weights: list[str] = field(default_factory=list)
    float_weights: list[str] = field(default_factory=list)  # weighted layers the fake quantization leaves alone

    def as_dict(self) -> dict:
        return {
            "model": self.model.name,
            "history": self.history,
            "fake_quantized": {"activations": self.ranges, "weights": len(self.quantized_weights)},
            "float_weights": self.float_weights,
        }


# ---------------------------------------------------------------------------------------------- fine-tuning


def finetune(
    model_path: Path, out_path: Path, config, calibration: np.ndarray, per_channel: bool, settings
) -> FineTuned:
    """Fine-tune the Keras model at ``model_path`` for ``settings.epochs`` epochs on the config's training
    data through fake quantization; the fine-tuned float model is saved at ``out_path``."""
    from edgepose.data.sources import load_splits
    from edgepose.runtime.keras_runner import KerasRunner
    from edgepose.train import trainer
    from edgepose.train.losses import HeatmapLoss

    runner = KerasRunner.from_file(Path(model_path))
    if not runner.is_heatmap_model:
        raise ModelError(
            f"{model_path}: quantization-aware fine-tuning trains heatmap models (one heatmap output); "
            "quantize this one with aware_training.epochs=0"
        )
    model = runner.model
    splits = load_splits(config.dataset)
    if not splits.train:
        raise ConfigError("quantization.aware_training needs training data: dataset has no training split")
    spec = trainer._spec(config, model)
    data = trainer._training_data(splits, spec, config)
    steps = trainer.steps_per_epoch(len(splits.train), config.training.batch_size)

    fake = FakeQuantized(model, per_channel)
    fake.calibrate(calibration)
    schedule = keras.optimizers.schedules.CosineDecay(settings.learning_rate, steps * settings.epochs)
    fake.model.compile(optimizer=keras.optimizers.Adam(schedule), loss=HeatmapLoss(config.training.loss))
    console.err.print(
        f"quantization-aware fine-tuning: {settings.epochs} epoch(s) on {len(splits.train)} people, "
        f"{len(fake.quantized_weights)} layers' weights and {len(fake.ranges)} activations fake-quantized"
    )
    with fake.frozen_statistics():
        history = fake.model.fit(
            data,
            steps_per_epoch=steps,
            epochs=settings.epochs,
            callbacks=[_Recalibrate(fake, calibration)],
            verbose=1 if sys.stdout.isatty() else 2,
        )
    _save(model, out_path)
    return FineTuned(
        out_path,
        {key: [float(v) for v in values] for key, values in history.history.items()},
        len(fake.ranges),
        fake.quantized_weights,
        fake.float_weights,
    )


def _save(model, path: Path) -> None:
    """Written under a temporary name and renamed, so a half-saved model never sits at ``path``."""
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    model.save(partial)
    partial.replace(path)


class _Recalibrate(keras.callbacks.Callback):
    """The weights moved during the epoch, so the ranges calibration would now find moved too."""

    def __init__(self, fake: FakeQuantized, calibration: np.ndarray):
        super().__init__()
        self.fake, self.calibration = fake, calibration

    def on_epoch_end(self, epoch, logs=None):
        self.fake.calibrate(self.calibration)


# ---------------------------------------------------------------------------------------------- the model


class FakeQuantized:
    """``model`` as TFLite's int8 conversion will compute it, sharing ``model``'s variables."""

    def __init__(self, model, per_channel: bool):
        consumers = _consumers(model)
        layers = {layer.name: layer for layer in model.layers}
        self.ranged = [
            layer
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer) and _keeps_tensor(layer, consumers, layers)
        ]
        # The probe is built before the fake-quantized graph: it reads the float model's own tensors.
        (image,) = model.inputs
        self.probe = keras.Model(image, [_min_max(image), *(_min_max(layer.output) for layer in self.ranged)])
        self.ranges: dict[str, ActivationRange] = {}
        self.shares_range = _in_place_inputs(self.ranged, consumers, layers)
        self.quantized_weights: list[str] = []
        self.float_weights: list[str] = []
        self.bn_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]

        ranged = {layer.name for layer in self.ranged}

        def wrap(layer):
            if _quantizable(layer):
                self.quantized_weights.append(layer.name)
                (following,) = consumers.get(layer.name) or (None,)
                bn = layers.get(following) if _is_bn(layers.get(following)) else None
                return FakeQuantWeights(layer, per_channel, bn)
            if layer.weights and not _is_bn(layer):
                self.float_weights.append(layer.name)
            return layer  # shared: the fake-quantized model trains the float model's variables

        def call(layer, *args, **kwargs):
            output = layer(*args, **kwargs)
            if layer.name not in ranged:
                return output
            self.ranges[layer.name] = ActivationRange(name=f"{layer.name}_range")
            return self.ranges[layer.name](output)

        graph = keras.models.clone_model(model, clone_function=wrap, call_function=call)
        # The int8 model's input is quantized too (normalized pixels need not sit on its grid).
        self.input_range = ActivationRange(name="input_range")
        given = keras.Input(image.shape[1:], dtype=image.dtype, name=image.name)
        self.model = keras.Model(given, graph(self.input_range(given)), name=f"{model.name}_fake_quantized")

    def calibrate(self, inputs: np.ndarray, batch: int = 16) -> None:
        """Each activation's range: min and max of the float model over ``inputs``, as calibration finds it."""
        low = np.full(1 + len(self.ranged), np.inf)
        high = np.full(1 + len(self.ranged), -np.inf)
        for start in range(0, len(inputs), batch):
            found = self.probe(inputs[start : start + batch], training=False)
            found = np.stack([np.asarray(pair) for pair in found])
            low, high = np.minimum(low, found[:, 0]), np.maximum(high, found[:, 1])
        found = dict(zip(["", *(layer.name for layer in self.ranged)], zip(low, high, strict=True), strict=True))
        for name, shared in self.shares_range.items():
            found[name] = (min(found[name][0], found[shared][0]), max(found[name][1], found[shared][1]))
        self.input_range.set_range(*map(float, found[""]))
        for layer in self.ranged:
            self.ranges[layer.name].set_range(*map(float, found[layer.name]))

    def frozen_statistics(self):
        """BatchNormalization in inference mode while fine-tuning (Keras runs a non-trainable BN so): the
        converter folds these statistics into the weights, so they must be the ones trained against."""

        @contextlib.contextmanager
        def frozen():
            before = [layer.trainable for layer in self.bn_layers]
            for layer in self.bn_layers:
                layer.trainable = False
            try:
                yield
            finally:
                for layer, trainable in zip(self.bn_layers, before, strict=True):
                    layer.trainable = trainable

        return frozen()


def _in_place_inputs(ranged, consumers: dict[str, list[str]], layers: dict) -> dict[str, str]:
    """Tensors whose calibrated range is widened by the ADD they feed: the interpreter that calibrates runs
    ADD in place, writing its output over an input used nowhere else, and the calibrator reads that input
    after the op ran — so such an input's range is the union of its own and the sum's."""
    names = {layer.name for layer in ranged}
    shared = {}
    for layer in ranged:
        following = consumers.get(layer.name, [])
        if len(following) == 1 and following[0] in names and isinstance(layers[following[0]], keras.layers.Add):
            shared[layer.name] = following[0]
    return shared


def _min_max(tensor):
    return ops.stack([ops.min(tensor), ops.max(tensor)])


def _consumers(model) -> dict[str, list[str]]:
    """Layer name → the names of the layers its output feeds (from the model's config, Keras' public view
    of the graph); the model's outputs count as a consumer named ``""``."""
    found: dict[str, list[str]] = {}
    config = model.get_config()
    for layer in config["layers"]:
        text = json.dumps(layer.get("inbound_nodes", []))
        for producer in _history_names(text):
            found.setdefault(producer, []).append(layer["name"])
    for output in _output_names(config["output_layers"]):
        found.setdefault(output, []).append("")
    return found


def _history_names(text: str) -> list[str]:
    """The producers named in a serialized ``inbound_nodes`` list (``keras_history: [name, node, index]``)."""
    return re.findall(r'"keras_history": \["([^"]+)"', text)


def _output_names(outputs) -> list[str]:
    """The layers named in a serialized ``output_layers`` (``[name, node, index]`` entries, maybe nested)."""
    return re.findall(r'"([^"]+)", \d+, \d+\]', json.dumps(outputs))


def _keeps_tensor(layer, consumers: dict[str, list[str]], layers: dict) -> bool:
    """Whether the int8 model has this layer's output as a tensor of its own (then it gets a range)."""
    if isinstance(layer, keras.layers.Dropout):
        return False  # the identity at inference
    following = consumers.get(layer.name, [])
    if len(following) != 1 or not following[0]:
        return True  # used twice, or a model output: the tensor must exist
    return not _fuses_into(layer, layers[following[0]])


def _fuses_into(producer, consumer) -> bool:
    """TFLite folds a BatchNormalization into the convolution before it, and a ReLU/ReLU6 into the op
    before it (convolution, BN, ADD)."""
    weighted = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
    if _is_bn(consumer):
        return isinstance(producer, weighted) and _activation(producer) == "linear"
    return (
        _is_relu(consumer)
        and (isinstance(producer, (*weighted, keras.layers.Add)) or _is_bn(producer))
        and _activation(producer) == "linear"
    )


def _activation(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _is_bn(layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def _is_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        return float(layer.negative_slope) == 0 and float(layer.threshold) == 0 and layer.max_value in (None, 6.0, 6)
    return isinstance(layer, keras.layers.Activation) and _activation(layer) in _FUSED_ACTIVATIONS


def _quantizable(layer) -> bool:
    return type(layer) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D) and layer.data_format == "channels_last"


# ---------------------------------------------------------------------------------------------- layers


class ActivationRange(keras.layers.Layer):
    """Asymmetric int8 rounding with TFLite's nudged range (zero exactly representable); the gradient goes
    straight through inside the range and stops outside it, as for the clipped value."""

    def build(self, input_shape):
        self.low = self.add_weight(shape=(), initializer="zeros", trainable=False, name="low")
        self.high = self.add_weight(shape=(), initializer="zeros", trainable=False, name="high")

    def set_range(self, low: float, high: float) -> None:
        self.low.assign(min(low, 0.0))
        self.high.assign(max(high, 0.0))

    def call(self, x):
        import tensorflow as tf

        return tf.quantization.fake_quant_with_min_max_vars(x, self.low, self.high, num_bits=8, narrow_range=False)


class FakeQuantWeights(keras.layers.Layer):
    """A Conv2D or DepthwiseConv2D computed with its kernel rounded as the converter rounds it: folded with
    the BatchNormalization after it (frozen), symmetric int8 in [-127, 127], one scale per output channel or
    one for the tensor. Holds the original layer, whose variables it trains."""

    def __init__(self, layer, per_channel: bool, bn=None, **kwargs):
        super().__init__(name=layer.name, dtype=layer.dtype_policy, **kwargs)
        self.layer, self.per_channel, self.bn = layer, per_channel, bn

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)

    def call(self, x):
        layer = self.layer
        kernel = self._rounded_kernel()
        if _is_depthwise(layer):
            y = ops.depthwise_conv(x, kernel, layer.strides, layer.padding, layer.data_format, layer.dilation_rate)
        else:
            y = layer.convolution_op(x, kernel)
        if layer.use_bias:
            y = ops.add(y, layer.bias)
        return layer.activation(y) if layer.activation is not None else y

    def _rounded_kernel(self):
        kernel = self.layer.kernel
        scale = self._bn_scale(kernel.shape)
        folded = kernel * scale
        axes = tuple(range(len(kernel.shape) - (2 if _is_depthwise(self.layer) else 1)))
        if not self.per_channel:
            axes = tuple(range(len(kernel.shape)))
        step = ops.maximum(ops.max(ops.abs(folded), axis=axes, keepdims=True), 1e-12) / 127.0
        rounded = ops.clip(ops.round(folded / step), -127.0, 127.0) * step
        quantized = folded + ops.stop_gradient(rounded - folded)  # straight-through
        return quantized / scale

    def _bn_scale(self, shape):
        """gamma / sqrt(var + eps) of the frozen BN after this layer, shaped like the kernel's output
        channels (ones without one); a channel whose scale is zero is left unscaled."""
        if self.bn is None:
            return 1.0
        bn = self.bn
        gamma = bn.gamma if bn.scale else ops.ones_like(bn.moving_variance)
        scale = gamma / ops.sqrt(bn.moving_variance + bn.epsilon)
        scale = ops.where(ops.abs(scale) < 1e-12, ops.ones_like(scale), scale)
        return ops.reshape(scale, tuple(shape[2:]) if _is_depthwise(self.layer) else (shape[-1],))


def _is_depthwise(layer) -> bool:
    return isinstance(layer, keras.layers.DepthwiseConv2D)
