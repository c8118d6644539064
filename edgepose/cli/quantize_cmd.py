"""``edgepose quantize MODEL --calib SET``: int8 artifacts and ``quant_report.json``."""

from __future__ import annotations

from pathlib import Path

import typer

from edgepose import console
from edgepose.cli.common import (
    COLOR_OPTION,
    CONFIG_OPTION,
    OFFSET_OPTION,
    OUT_OPTION,
    OVERRIDES_ARGUMENT,
    SCALE_OPTION,
    model_normalization,
    normalization_overrides,
    resolve_config,
)
from edgepose.runs import Run


def quantize(
    model: Path = typer.Argument(..., help="A .keras/.h5 file, a SavedModel folder, a float .tflite or an .onnx."),
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
    calib: str | None = typer.Option(
        None, "--calib", help="A set under calibration/ by name, a set folder, or a folder of images."
    ),
    backend: str | None = typer.Option(None, "--backend", "-b", help="tflite (default) or onnx."),
    granularity: str | None = typer.Option(None, "--granularity", help="per-channel (default) or per-tensor."),
    method: str | None = typer.Option(None, "--method", help="ONNX calibration: minmax, entropy or percentile."),
    onnx_format: str | None = typer.Option(None, "--onnx-format", help="ONNX: qdq (default) or qoperator."),
    input_type: str | None = typer.Option(None, "--input-type", help="TFLite: int8, uint8, int16 or float32."),
    output_type: str | None = typer.Option(None, "--output-type", help="TFLite: int8, uint8, int16 or float32."),
    val: Path | None = typer.Option(None, "--val", help="COCO .json or YOLO folder: adds the accuracy report."),
    qat_epochs: int | None = typer.Option(
        None, "--qat-epochs", help="Quantization-aware fine-tuning epochs on the config's training data (Keras model)."
    ),
    scale: str | None = SCALE_OPTION,
    offset: str | None = OFFSET_OPTION,
    color: str | None = COLOR_OPTION,
    config: Path | None = CONFIG_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """Quantize a model to int8 with a calibration set and report what it cost."""
    from edgepose.data.sources import load_path
    from edgepose.quantize.ptq import QuantizeJob
    from edgepose.quantize.ptq import quantize as run_quantize
    from edgepose.quantize.report import metrics

    flags = {
        "backend": backend,
        "granularity": granularity,
        "calibration_method": method,
        "onnx_format": onnx_format,
        "input_type": input_type,
        "output_type": output_type,
        "calibration": calib,
        "aware_training.epochs": qat_epochs,
    }
    given = [f"quantization.{key}={value}" for key, value in flags.items() if value is not None]
    settings = resolve_config(config, [*(overrides or []), *given, *normalization_overrides(scale, offset, color)])
    q = settings.quantization
    if q.calibration is None:
        from edgepose.errors import ConfigError

        raise ConfigError("no calibration set: pass --calib NAME|DIR or set quantization.calibration")
    normalization, normalized_by = model_normalization(model, settings, scale, offset, color)
    job = QuantizeJob.from_config(model, Path("."), q.calibration, normalization, settings)
    samples = None
    if val is not None:
        from edgepose.data.samples import SkipLog

        log = SkipLog()
        samples = load_path(val, settings.dataset, log)
        if log.total:
            console.warn(log.summary())
    run = Run.create("quantize", out, settings.general.runs_dir, settings)
    run.add_input(model, "model", normalization=normalization.as_dict(), normalization_from=normalized_by)
    job.out_dir = run.path
    with run, console.err.status("quantizing") as status:
        report = run_quantize(job, settings, samples, lambda message: status.update(message))
        run.add_input(Path(report["calibration"]["set"]), "calibration set")
        if val is not None:
            run.add_dataset(val, "validation data")
        run.outputs.extend(run.path / a["file"] for a in report["artifacts"] if (run.path / a["file"]).exists())
        run.log_metrics(metrics(report))
    print_report(report)
    console.out.print(f"run directory: {run.path}", soft_wrap=True)


def print_report(report: dict) -> None:
    rows = [
        (a["role"], a["file"], console.human_bytes(a["bytes"]), a.get("params"), a.get("macs"), sum(a["ops"].values()))
        for a in report["artifacts"]
    ]
    console.out.print(console.table("artifacts", ("", "file", "size", "params", "MACs", "ops"), rows))
    rows = []
    for engine, outputs in report["output_error"].items():
        if "error" in outputs:
            rows.append((engine, "-", "-", "-", "-", outputs["error"]))
            continue
        for name, e in outputs.items():
            spatial = _fmt(e.get("spatial_snr_db"), 1)
            rows.append((engine, name, f"{e['max_abs']:.4g}", f"{e['cosine']:.5f}", f"{e['snr_db']:.1f}", spatial))
    columns = ("engine", "output", "max |diff|", "cosine", "SNR dB", "SNR of each map about its mean, dB")
    console.out.print(console.table("quantized against float", columns, rows))
    accuracy = report.get("accuracy") or {}
    if "float" in accuracy:
        keys = [k for k in accuracy["float"] if k != "mean_error_px"]
        rows = [
            (engine, *(_fmt(scores.get(k)) for k in keys), _fmt(scores.get("drop", {}).get("AP_points"), 2))
            for engine, scores in accuracy.items()
            if "error" not in scores
        ]
        console.out.print(console.table("accuracy", ("", *keys, "AP drop (points)"), rows))
    layers = (report.get("per_layer") or {}).get("layers") or []
    if layers:
        print_layers(layers)
    print_advice(report.get("advice") or {})
    print_aware_training(report.get("aware_training"))


def print_aware_training(aware: dict | None) -> None:
    """One line: what fine-tuning did to the AP drop, or why it was not needed."""
    if not aware:
        return
    if "skipped" in aware:
        console.out.print(f"quantization-aware fine-tuning not needed: {aware['skipped']}", soft_wrap=True)
        return
    drops = ""
    if aware.get("ap_drop_points") is not None:
        before = aware.get("ptq_ap_drop_points")
        drops = f": AP drop {_fmt(before, 2)} → {aware['ap_drop_points']:.2f} point(s)" if before is not None else ""
    console.out.print(
        f"quantization-aware fine-tuning, {aware['epochs']} epoch(s) → {aware['model']}{drops}", soft_wrap=True
    )


def print_layers(layers: list[dict], count: int = 8) -> None:
    """The worst layers: SQNR, cosine, max error, rms error in quantization steps, and the dB each adds."""
    keys = (("sqnr_db", 1), ("cosine", 5), ("max_abs_error", 4), ("rmse_per_scale", 2), ("error_added_db", 1))
    rows = [
        (_short(layer["layer"]), layer.get("op", ""), *(_fmt(layer.get(key), digits) for key, digits in keys))
        for layer in layers[:count]
    ]
    columns = ("layer", "op", "SQNR dB", "cosine", "max |error|", "rmse/scale", "dB added")
    console.out.print(console.table(f"worst layers ({len(layers)} compared)", columns, rows))


def print_advice(advice: dict) -> None:
    """Per poor output: the layers to blame, and the SNR measured with 16x8 and with them in float."""
    outputs = advice.get("outputs") or {}
    if not outputs:
        return
    rows = [
        (name, _fmt(o["snr_db"], 1), _fmt(o.get("int16x8_snr_db"), 1), _fmt(o.get("float_layers_snr_db"), 1),
         ", ".join(_short(layer) for layer in o["layers"]) or "-")
        for name, o in outputs.items()
    ]  # fmt: skip
    columns = ("output", "SNR dB now", "whole model 16x8", "these layers in float", "layers adding most error")
    console.out.print(console.table(f"outputs under {advice['threshold_db']:g} dB, and what would help", columns, rows))
    for key in ("int16x8", "float_layers"):
        if (advice.get(key) or {}).get("skipped"):
            console.out.print(f"{key.replace('_', ' ')}: not measured ({advice[key]['skipped']})", soft_wrap=True)


def _short(name: str) -> str:
    """A converter's tensor name is the ';'-joined names of the ops it fused: the first one says enough."""
    return name.split(";")[0]


def _fmt(value, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
