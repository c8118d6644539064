"""``edgepose export MODEL --format ...`` and ``edgepose inspect MODEL``."""

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


def export(
    model: Path = typer.Argument(..., help="A .keras/.h5 file, a SavedModel folder, a .tflite or an .onnx."),
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="savedmodel, tflite, tflite-fp16, tflite-dynamic or onnx (repeat: --format a,b)."
    ),
    target: str | None = typer.Option(
        None, "--target", "-t", help="android or ios: a package with float16 and int8 models, metadata and a README."
    ),
    int8: Path | None = typer.Option(
        None,
        "--int8",
        help="--target: the int8 .tflite to package (default: quantized here with --calib).",
        exists=True,
        dir_okay=False,
    ),  # fmt: skip
    calib: str | None = typer.Option(
        None, "--calib", help="--target: calibration set for the int8 model (a set name, a set folder, images)."
    ),
    opset: int = typer.Option(17, "--opset", min=9, help="ONNX opset."),
    fold: bool = typer.Option(True, "--fold/--no-fold", help="ONNX: fold BN, constants, identities, transposes."),
    nchw: bool = typer.Option(False, "--nchw", help="ONNX: NCHW input and output (default NHWC, as trained)."),
    scale: str | None = SCALE_OPTION,
    offset: str | None = OFFSET_OPTION,
    color: str | None = COLOR_OPTION,
    config: Path | None = CONFIG_OPTION,
    out: Path | None = OUT_OPTION,
) -> None:
    """Export a model to SavedModel, TFLite (float32, float16 weights, dynamic range) or ONNX, or package it
    for a phone (--target android|ios)."""
    from dataclasses import replace

    from edgepose.convert.export import export_model
    from edgepose.convert.inspect import describe
    from edgepose.convert.metadata import write_sidecar

    given = [f"quantization.calibration={calib}"] if calib else []
    settings = resolve_config(config, [*(overrides or []), *given, *normalization_overrides(scale, offset, color)])
    normalization, normalized_by = model_normalization(model, settings, scale, offset, color)
    if target is not None:
        _mobile_package(model, target, int8, settings, normalization, normalized_by, out)
        return
    if fmt is None:
        from edgepose.errors import ConfigError

        raise ConfigError("give --format (or --target android|ios for a phone package)")
    if nchw:
        normalization = replace(normalization, layout="NCHW")
    formats = [f.strip() for f in fmt.split(",") if f.strip()]
    run = Run.create("export", out, settings.general.runs_dir, settings)
    run.add_input(model, "model", normalization=normalization.as_dict(), normalization_from=normalized_by)
    rows = []
    with run:
        for name in formats:
            with console.err.status(f"exporting {model.name} as {name}"):
                exported = export_model(model, name, run.path, opset=opset, fold=fold, nchw=nchw)
            extra = {"fold": exported.fold} if exported.fold else {}
            write_sidecar(exported.path, name, normalization, model, **extra)
            run.outputs.append(exported.path)
            info = describe(exported.path)
            rows.append(
                (
                    exported.path.name,
                    console.human_bytes(info["bytes"]),
                    info.get("params"),
                    info.get("macs"),
                    _ops(info.get("ops")),
                )
            )
            if exported.fold:
                _print_fold(exported.fold)
    console.out.print(console.table("exported", ("artifact", "size", "params", "MACs", "ops"), rows))
    console.out.print(f"run directory: {run.path}", soft_wrap=True)


def _mobile_package(model: Path, target: str, int8: Path | None, settings, normalization, normalized_by, out) -> None:
    from edgepose.convert.mobile import package

    def quantize() -> Path:  # in the run folder beside the package, with its quant_report.json
        from edgepose.quantize.ptq import QuantizeJob
        from edgepose.quantize.ptq import quantize as run_quantize

        folder = run.path / "quantize"
        job = QuantizeJob.from_config(model, folder, settings.quantization.calibration, normalization, settings)
        report = run_quantize(job, settings)
        return next(folder / a["file"] for a in report["artifacts"] if a["role"] == "int8")

    quantizer = quantize if int8 is None and settings.quantization.calibration is not None else None
    run = Run.create("export", out, settings.general.runs_dir, settings)
    run.add_input(model, "model", normalization=normalization.as_dict(), normalization_from=normalized_by)
    with run:
        with console.err.status(f"packaging {model.name} for {target}"):
            written = package(model, target, run.path / target, normalization, int8, quantizer)
        run.outputs.extend(written)
    rows = [(p.name, console.human_bytes(p.stat().st_size)) for p in written]
    console.out.print(console.table(f"{target} package", ("file", "size"), rows))
    console.out.print(f"package: {run.path / target}", soft_wrap=True)


def inspect(model: Path = typer.Argument(..., help="A .tflite, .onnx or .keras file.")) -> None:
    """Params, MACs, op histogram, size and input/output specs (with quantization) of one model file."""
    from edgepose.convert.inspect import describe

    info = describe(model)
    console.out.print(
        console.table(
            f"{model.name} ({info['kind']})",
            ("", ""),
            [("size", console.human_bytes(info["bytes"])), ("params", info.get("params")), ("MACs", info.get("macs"))],
        )
    )
    console.out.print(console.table("ops", ("op", "count"), sorted((info.get("ops") or {}).items())))
    rows = [
        (role, t["name"], t["shape"], t["dtype"], t["scale"], t["zero_point"])
        for role in ("inputs", "outputs")
        for t in info.get(role, [])
    ]
    console.out.print(console.table("tensors", ("", "name", "shape", "dtype", "scale", "zero point"), rows))
    if info["kind"] == "tflite":
        _print_metadata(model)


def _print_metadata(model: Path) -> None:
    """The metadata a phone app reads from the file (``export --target``), where there is some."""
    from edgepose.convert.tflite_metadata import read_metadata

    found = read_metadata(model)
    standard, pose = found["standard"], found["pose"]
    if not standard and not pose:
        return
    rows = []
    if standard:
        rows.append(("name", f"{standard['name']} {standard['version'] or ''}".strip()))
        for tensor in standard["inputs"]:
            size = "x".join(str(v) for v in reversed(tensor.get("image_size") or []))
            rows.append(("input", f"{tensor['name']}: {tensor.get('color_space')} image {size}, "
                                  f"(pixel - {tensor.get('mean')}) / {tensor.get('std')}"))  # fmt: skip
    if pose:
        rows.append(("keypoints", f"{len(pose['keypoints'])}: {', '.join(pose['keypoints'])}"))
        rows.append(("heatmaps", f"stride {pose['heatmap_stride']}, {len(pose['skeleton'])} limbs"))
    console.out.print(console.table("metadata (TFLITE_METADATA, edgepose.pose)", ("", ""), rows))


def _ops(ops: dict | None) -> str:
    return " ".join(f"{name}x{count}" for name, count in sorted((ops or {}).items(), key=lambda item: -item[1]))


def _print_fold(report: dict) -> None:
    ops = sorted(set(report["ops_before"]) | set(report["ops_after"]))
    rows = [(op, report["ops_before"].get(op, 0), report["ops_after"].get(op, 0)) for op in ops]
    rows.append(("total", report["nodes_before"], report["nodes_after"]))
    title = f"ONNX folding, max |diff| {report['check']['max_abs_diff']:.2g}"
    console.out.print(console.table(title, ("op", "before", "after"), rows))
