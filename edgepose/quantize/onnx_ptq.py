"""Static post-training quantization with ONNX Runtime: QDQ (default) or QOperator, per-channel or
per-tensor, MinMax / Entropy / Percentile calibration, after ``quant_pre_process``.

The input model is a folded float ONNX (see ``edgepose.convert.fold``); calibration inputs arrive NHWC and
are transposed here when the model is NCHW.
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationDataReader

from edgepose import atomic
from edgepose.errors import ModelError, UnsupportedOpError

METHODS = ("minmax", "entropy", "percentile")
FORMATS = ("qdq", "qoperator")


@dataclass
class OnnxSettings:
    granularity: str = "per-channel"
    method: str = "minmax"
    format: str = "qdq"
    exclude_nodes: list[str] = field(default_factory=list)
    reduce_range: bool = False  # 7-bit weights: for ONNX Runtime on x86 CPUs without VNNI (see below)


def saturating_host() -> bool:
    """Whether this machine's ONNX Runtime int8 kernels may saturate: on x86 with AVX2 but without VNNI,
    its u8s8 path multiplies pairs with VPMADDUBSW, whose 16-bit sums overflow for full-range weights
    (ONNX Runtime's documentation advises ``reduce_range`` there). ARM and VNNI machines are exact."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx2" in flags and "vnni" not in flags


class CalibrationReader(CalibrationDataReader):
    """ONNX Runtime's calibration reader over an array of NHWC inputs, one sample per call."""

    def __init__(self, name: str, inputs: np.ndarray, nchw: bool) -> None:
        self.name = name
        self.batches = [(s.transpose(2, 0, 1) if nchw else s)[None].astype(np.float32) for s in inputs]
        self.position = 0

    def get_next(self):
        if self.position >= len(self.batches):
            return None
        self.position += 1
        return {self.name: self.batches[self.position - 1]}

    def rewind(self) -> None:
        self.position = 0


def reader(model_path: Path, inputs: np.ndarray) -> CalibrationReader:
    """A fresh calibration reader for ``model_path`` (layout taken from the model's input)."""
    from edgepose.runtime.onnx_runner import OnnxRunner

    runner = OnnxRunner(model_path)
    return CalibrationReader(runner.input_name, inputs, runner.nchw)


def quantize_onnx(float_model: Path, target: Path, inputs: np.ndarray, settings: OnnxSettings) -> None:
    """Write the int8 model for ``float_model`` to ``target`` (atomically)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if settings.method not in METHODS:
        raise ModelError(f"unknown calibration method '{settings.method}'; choose one of {', '.join(METHODS)}")
    if settings.format not in FORMATS:
        raise ModelError(f"unknown ONNX quantization format '{settings.format}'; choose qdq or qoperator")
    _check_nodes(float_model, settings.exclude_nodes)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy}.get(
        settings.method, CalibrationMethod.Percentile
    )
    with tempfile.TemporaryDirectory(prefix="edgepose-ortq-") as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        pre_process(float_model, prepared)
        quantized = Path(scratch) / "quantized.onnx"
        try:
            quantize_static(
                str(prepared),
                str(quantized),
                reader(prepared, inputs),
                quant_format=QuantFormat.QDQ if settings.format == "qdq" else QuantFormat.QOperator,
                per_channel=settings.granularity == "per-channel",
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=method,
                reduce_range=settings.reduce_range,
                nodes_to_exclude=list(settings.exclude_nodes),
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        except Exception as exc:  # the quantizer raises bare Exceptions for ops it cannot handle
            message = " ".join(str(exc).split())[:300]
            raise UnsupportedOpError(f"{float_model}: ONNX Runtime's quantizer failed: {message}") from None
        atomic.write_bytes(target, quantized.read_bytes())


def pre_process(source: Path, target: Path) -> None:
    """``quant_pre_process``: shape inference and a clean graph; symbolic inference is tried first and
    skipped when the graph defeats it (tf2onnx's Resize shapes often do), as ONNX Runtime advises."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(source), str(target))
    except Exception:  # noqa: BLE001 - "Incomplete symbolic shape inference" is a plain Exception
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)


def _check_nodes(model_path: Path, names: list[str]) -> None:
    if not names:
        return
    import onnx

    known = [node.name for node in onnx.load(str(model_path)).graph.node]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ModelError(f"quantization.exclude_nodes: no node named '{name}' in {model_path}{hint}")
