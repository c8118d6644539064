"""Mixed-precision advice, measured rather than guessed.

For every output whose SNR against the float model is poor (under ``POOR_SNR_DB``; for heatmaps the
SNR of each map about its own mean, what decoding sees: see ``report.output_error``), the layers that
dominate its error are named: among the layers it is computed from, those that add the most dB of error
themselves (``error_added_db`` of the per-layer report). Then what higher precision would buy is measured,
per output, by quantizing again:

- the whole model with 16-bit activations and 8-bit weights (16x8; TFLite has 16x8 only model-wide);
- the named layers kept in float (TFLite: from a Keras model or SavedModel, through the converter's deny
  list; ONNX Runtime: those nodes excluded from quantization).

Each alternative's outputs are compared with the float model's on the same calibration inputs, in the
same way as the quantized model's, so the SNRs side by side are one scale.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from edgepose.errors import EdgeposeError
from edgepose.quantize import debug, report

POOR_SNR_DB = 30.0
LAYERS_PER_OUTPUT = 3
MIN_ADDED_DB = 0.5  # a layer that adds less than this is not where the error comes from


def advise(job, float_path: Path, quant_path: Path, saved: Path | None, inputs: np.ndarray, per_layer: dict,
           reference, errors: dict, threshold_db: float = POOR_SNR_DB) -> dict:  # fmt: skip
    """The advice section of ``quant_report.json``; ``errors`` is the quantized model's output error."""
    poor = {name: e["quality_snr_db"] for name, e in errors.items() if e["quality_snr_db"] < threshold_db}
    result = {"threshold_db": threshold_db, "outputs": {}}
    if not poor or not per_layer or "layers" not in per_layer:
        result["note"] = "every output is above the threshold" if not poor else "no per-layer report to advise from"
        return result
    graph_inputs = debug.inputs_of(quant_path)
    tensors = _output_tensors(quant_path, list(errors))
    named: list[str] = []
    for name, snr in poor.items():
        upstream = debug.ancestors(graph_inputs, tensors.get(name, name))
        culprits = [layer for layer in per_layer["layers"] if layer["layer"] in upstream]
        culprits.sort(key=lambda layer: -(layer.get("error_added_db") or 0.0))
        chosen = [layer["layer"] for layer in culprits if (layer.get("error_added_db") or 0.0) >= MIN_ADDED_DB]
        chosen = chosen[:LAYERS_PER_OUTPUT]
        result["outputs"][name] = {"snr_db": snr, "layers": chosen}
        named += [layer for layer in chosen if layer not in named]
    expected = reference.run_all(inputs)
    alternatives = {
        "int16x8": _measured(_int16x8, job, float_path, saved, inputs),
        "float_layers": _measured(_float_layers, job, float_path, saved, inputs, named),
    }
    for key, outcome in alternatives.items():
        if isinstance(outcome, str):
            result[key] = {"skipped": outcome}
            continue
        snrs = report.output_error(expected, outcome)
        result[key] = {"layers": named} if key == "float_layers" else {}
        for name in poor:
            result["outputs"][name][f"{key}_snr_db"] = snrs[name]["quality_snr_db"] if name in snrs else None
    return result


def _measured(alternative, *args) -> dict | str:
    """An alternative's outputs, or why there are none: advice never costs the user the quantized model."""
    try:
        return alternative(*args)
    except EdgeposeError as exc:
        return f"could not be quantized so: {exc}"


def _output_tensors(quant_path: Path, names: list[str]) -> dict[str, str]:
    """Output name (as the runners call it) -> the graph tensor that holds it, by position."""
    if Path(quant_path).suffix == ".onnx":
        import onnx

        graph = onnx.load(str(quant_path), load_external_data=False).graph
        return dict(zip(names, [o.name for o in graph.output], strict=False))
    from edgepose.codegen.graph import read_graph

    graph = read_graph(quant_path)
    return dict(zip(names, [graph.tensors[i].name for i in graph.outputs], strict=False))


def _int16x8(job, float_path: Path, saved: Path | None, inputs: np.ndarray) -> dict | str:
    """Outputs of the whole model quantized 16x8, or why it was not measured."""
    from dataclasses import replace

    from edgepose.quantize.tflite_ptq import quantize_saved_model, quantize_tflite_file

    if job.backend != "tflite":
        return "16-bit activations are measured for TFLite (the MCU path); use --backend tflite"
    if job.tflite.activations == "int16":
        return "the model is 16x8 already"
    # per-channel whatever the job says: TFLite's converter has no per-tensor 16x8
    settings = replace(
        job.tflite, activations="int16", granularity="per-channel", input_type="float32", output_type="float32",
        float_layers=[],
    )  # fmt: skip
    if saved is not None:
        data = quantize_saved_model(saved, inputs, settings, job.model)
    else:
        data = quantize_tflite_file(float_path, inputs, settings)
    return _run(data, ".tflite", inputs)


def _float_layers(job, float_path: Path, saved: Path | None, inputs: np.ndarray, layers: list[str]) -> dict | str:
    """Outputs with ``layers`` kept in float, or why it was not measured."""
    from dataclasses import replace

    if not layers:
        return "no layer adds enough error to name"
    if job.backend == "tflite":
        from edgepose.quantize.tflite_ptq import quantize_saved_model

        if saved is None:
            return "keeping layers in float needs the Keras model or SavedModel, not a .tflite"
        settings = replace(job.tflite, input_type="float32", output_type="float32", float_layers=list(layers))
        return _run(quantize_saved_model(saved, inputs, settings, job.model), ".tflite", inputs)
    from edgepose.quantize.onnx_ptq import quantize_onnx

    nodes = _onnx_nodes_making(float_path, layers)
    with tempfile.TemporaryDirectory(prefix="edgepose-advice-") as scratch:
        target = Path(scratch) / "float_layers.onnx"
        quantize_onnx(float_path, target, inputs, replace(job.onnx, exclude_nodes=[*job.onnx.exclude_nodes, *nodes]))
        return _run(target.read_bytes(), ".onnx", inputs)


def _onnx_nodes_making(model: Path, tensors: list[str]) -> list[str]:
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    return [node.name for node in graph.node if set(node.output) & set(tensors)]


def _run(data: bytes, suffix: str, inputs: np.ndarray) -> dict[str, np.ndarray]:
    from edgepose.runtime import open_runner

    with tempfile.TemporaryDirectory(prefix="edgepose-advice-") as scratch:
        path = Path(scratch) / f"alternative{suffix}"
        path.write_bytes(data)
        with open_runner(path) as runner:
            return runner.run_all(inputs)
