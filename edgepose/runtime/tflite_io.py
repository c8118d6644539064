"""The input and output tensors of a ``.tflite`` file, named and with their quantization, read once from
the flatbuffer so that LiteRT and tflite-micro runners agree on names, order and scales.

Names come from the model's serving signature when it has one (``heatmaps``), else from the tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgepose.runtime.runner import dequantize, quantize

_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    position: int  # index among the graph's inputs or outputs
    shape: tuple[int, ...]  # with the batch axis
    dtype: type
    scale: float | None
    zero_point: int

    @property
    def quantized(self) -> bool:
        return self.scale is not None and np.issubdtype(self.dtype, np.integer)

    def to_model(self, values: np.ndarray) -> np.ndarray:
        if self.quantized:
            return quantize(values, self.scale, self.zero_point, self.dtype)
        return np.asarray(values, self.dtype)

    def from_model(self, values: np.ndarray) -> np.ndarray:
        if self.quantized:
            return dequantize(values, self.scale, self.zero_point)
        return np.asarray(values, np.float32)


def tflite_io(data: bytes, source="the model") -> tuple[list[TensorSpec], list[TensorSpec]]:
    from edgepose.convert.inspect import read_tflite

    model = read_tflite(data, source)
    graph = model.subgraphs[0]
    names = {}
    for signature in model.signatureDefs or []:
        for item in [*(signature.inputs or []), *(signature.outputs or [])]:
            names[item.tensorIndex] = item.name.decode()
        break

    def spec(position: int, index: int) -> TensorSpec:
        tensor = graph.tensors[index]
        quant = tensor.quantization
        has_scale = quant is not None and quant.scale is not None and len(quant.scale) > 0
        return TensorSpec(
            name=names.get(index, tensor.name.decode()),
            position=position,
            shape=tuple(int(d) for d in tensor.shape),
            dtype=_DTYPES.get(tensor.type, np.float32),
            scale=float(quant.scale[0]) if has_scale else None,
            zero_point=int(quant.zeroPoint[0]) if has_scale and quant.zeroPoint is not None else 0,
        )

    return [spec(p, i) for p, i in enumerate(graph.inputs)], [spec(p, i) for p, i in enumerate(graph.outputs)]
