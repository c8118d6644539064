"""``edgepose quantize``: one model, one calibration set → float reference and int8 artifacts, each with
its sidecar, and ``quant_report.json`` proving what quantization cost.

Steps: recognise the model → the float reference artifact of the chosen backend (``*_float32.tflite`` or
a folded ``*.onnx``) → calibration inputs checked against the model's preprocessing → the int8 artifact
→ per-layer error → output error and (with validation data) keypoint accuracy, float against every
engine that runs the int8 artifact (LiteRT and tflite-micro for TFLite, ONNX Runtime for ONNX).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepose import atomic, console
from edgepose.config.schema import AwareTraining
from edgepose.convert import export as exporter
from edgepose.convert.inspect import describe
from edgepose.convert.metadata import Normalization, write_sidecar
from edgepose.convert.modelfile import load_keras, model_kind
from edgepose.errors import ConfigError, EdgeposeError, ModelError
from edgepose.quantize import calibration, debug, report
from edgepose.quantize.advice import POOR_SNR_DB, advise
from edgepose.quantize.onnx_ptq import OnnxSettings, quantize_onnx, saturating_host
from edgepose.quantize.tflite_ptq import TfliteSettings, quantize_saved_model, quantize_tflite_file
from edgepose.runtime.runner import Runner, open_runner

REPORT = "quant_report.json"
SCHEMA = "edgepose.quant_report/1"
BACKENDS = ("tflite", "onnx")


@dataclass
class QuantizeJob:
    model: Path
    out_dir: Path
    calibration: str | Path
    normalization: Normalization
    backend: str = "tflite"
    calibration_size: int = 200
    tflite: TfliteSettings = field(default_factory=TfliteSettings)
    onnx: OnnxSettings = field(default_factory=OnnxSettings)
    per_layer: bool = True
    advice: bool = True  # mixed-precision advice when an output's SNR is poor (needs per_layer)
    advice_below_db: float = POOR_SNR_DB  # outputs under this SNR get advice (inf: every output)
    aware_training: AwareTraining = field(default_factory=AwareTraining)

    @property
    def granularity(self) -> str:
        return self.tflite.granularity if self.backend == "tflite" else self.onnx.granularity

    @classmethod
    def from_config(
        cls, model: Path, out_dir: Path, calibration: str | Path, normalization: Normalization, config, **given
    ) -> QuantizeJob:
        """The job the config's ``quantization`` section describes; ``given`` overrides fields (``backend``,
        ``per_layer``). The CLI and the pipeline both build their jobs here."""
        q = config.quantization
        fields = dict(
            backend=q.backend,
            calibration_size=q.calibration_size,
            tflite=TfliteSettings(
                q.granularity, q.io_type("input"), q.io_type("output"), q.activations, list(q.float_layers)
            ),
            onnx=OnnxSettings(
                q.granularity, q.calibration_method, q.onnx_format, list(q.exclude_nodes), q.reduce_range
            ),
            per_layer=q.per_layer_report,
            advice=q.advice,
            aware_training=q.aware_training,
        )
        return cls(Path(model), Path(out_dir), calibration, normalization, **{**fields, **given})


def quantize(job: QuantizeJob, config, val_samples=None, progress=None) -> dict:
    """Run ``job``; returns the report that is also written to ``out_dir/quant_report.json``.

    Artifacts are made in a scratch folder and land in ``out_dir`` only once everything succeeded, so a
    failed run leaves no artifact behind that looks like a finished one. With ``aware_training.epochs`` the
    model is fine-tuned through int8 rounding and quantized again (see ``_with_finetuning``)."""
    if job.backend not in BACKENDS:
        raise ModelError(f"unknown quantization backend '{job.backend}'; choose tflite or onnx")
    step = progress or (lambda message: None)
    if job.backend == "onnx" and not job.onnx.reduce_range and saturating_host():
        console.warn(
            "this CPU has AVX2 but no VNNI: ONNX Runtime's int8 kernels here can saturate, so the accuracy "
            "measured on this machine may be lower than on the device; quantization.reduce_range=true avoids it"
        )
    with tempfile.TemporaryDirectory(prefix="edgepose-quantize-") as scratch:
        scratch = Path(scratch)
        if job.aware_training.epochs:
            body, made = _with_finetuning(job, config, val_samples, step, scratch)
        else:
            body, made = _post_training(job, config, val_samples, step, scratch / "ptq")
        landed = {}  # staged path → where it landed (the fine-tuned model is its artifacts' source)
        for path, role, source in made:
            if path == job.model:  # a float .tflite the user brought is its own reference
                continue
            landed[path] = atomic.write_bytes(Path(job.out_dir) / path.name, path.read_bytes())
            if role in ("float", "int8"):
                write_sidecar(landed[path], f"{job.backend}-{role}", job.normalization, landed.get(source, source))
        atomic.write_json(Path(job.out_dir) / REPORT, body)
    return body


def _with_finetuning(job: QuantizeJob, config, val_samples, step, scratch: Path) -> tuple[dict, list]:
    """PTQ first where validation data can say what it costs (and, with ``only_above_drop``, whether
    fine-tuning is needed at all); then quantization-aware fine-tuning of the Keras model and PTQ of the
    fine-tuned model. Accuracy is always measured against the original float model."""
    from edgepose.quantize import qat

    settings = job.aware_training
    if model_kind(job.model) not in ("keras", "h5"):
        raise ModelError(
            f"{job.model}: quantization-aware fine-tuning trains the Keras model (.keras or .h5); give that "
            "instead of the converted file, or set quantization.aware_training.epochs=0"
        )
    if settings.only_above_drop is not None and val_samples is None:
        raise ConfigError("quantization.aware_training.only_above_drop needs validation data: pass --val")
    before = None
    if val_samples is not None:
        body, made = _post_training(job, config, val_samples, step, scratch / "ptq")
        before = _ap_drop(body)
        if settings.only_above_drop is not None and before is not None and before <= settings.only_above_drop:
            body["aware_training"] = {
                "skipped": f"post-training quantization loses {before:.2f} AP point(s), "
                f"within only_above_drop {settings.only_above_drop:g}",
                "ptq_ap_drop_points": before,
            }
            return body, made
    step(f"quantization-aware fine-tuning, {settings.epochs} epoch(s)")
    with open_runner(job.model) as original:
        calib = calibration.load_set(job.calibration, job.normalization, original.input_shape, job.calibration_size)
    stem = Path(job.model).name.split(".")[0] or "model"
    tuned = qat.finetune(
        job.model, scratch / f"{stem}_qat.keras", config, calib.inputs(), job.granularity == "per-channel", settings
    )
    tuned_job = dataclasses.replace(job, model=tuned.model)
    body, made = _post_training(tuned_job, config, val_samples, step, scratch / "qat", reference=job.model)
    body["aware_training"] = {
        **settings.model_dump(),
        **tuned.as_dict(),
        "ptq_ap_drop_points": before,
        "ap_drop_points": _ap_drop(body),
    }
    if val_samples is not None:
        with open_runner(tuned.model) as runner:
            body["aware_training"]["fine_tuned_float"] = report.accuracy(runner, val_samples, config)
    body["artifacts"].insert(0, {"role": "fine-tuned", **describe(tuned.model)})
    return body, [(tuned.model, "fine-tuned", job.model), *made]


def _ap_drop(body: dict) -> float | None:
    """AP points the first engine's int8 model loses against float (None without validation data)."""
    scores = body.get("accuracy") or {}
    engine = next((name for name in scores if name != "float"), None)
    drop = (scores.get(engine) or {}).get("drop", {}).get("AP_points") if engine else None
    return None if drop is None else float(drop)


def _post_training(
    job: QuantizeJob, config, val_samples, step, scratch: Path, reference: Path | None = None
) -> tuple[dict, list]:
    """The report and the (artifact, role, source) list of one post-training quantization, staged under
    ``scratch``; accuracy and output error are against ``reference`` (default: the job's own model)."""
    kind = model_kind(job.model)
    staged = scratch / "out"
    staged.mkdir(parents=True)
    saved = _saved_model(job.model, kind, scratch) if job.backend == "tflite" and kind != "tflite" else None
    step("float reference")
    float_path = _float_artifact(job, kind, saved, staged)
    given = reference or job.model
    with _reference_runner(given, model_kind(given), float_path) as reference_runner:
        shape = reference_runner.input_shape
        calib = calibration.load_set(job.calibration, job.normalization, shape, job.calibration_size)
        if calib.manifest.get("schema"):
            calib.check_matches(job.normalization, reference_runner.input_shape, given)
        inputs = calib.inputs()
        step(f"calibrating on {len(inputs)} images")
        started = time.perf_counter()
        int8_path = _int8_artifact(job, kind, saved, float_path, inputs, staged)
        calibration_s = time.perf_counter() - started
        step("per-layer error")
        per_layer = _per_layer(job, float_path, int8_path, inputs) if job.per_layer else None
        step("accuracy")
        engines = ("litert", "tflite-micro") if job.backend == "tflite" else ("onnxruntime",)
        checks = _check_engines(reference_runner, int8_path, engines, inputs[:16], val_samples, config)
        advice = None
        errors = checks["output_error"].get(engines[0], {})
        if job.advice and per_layer and "layers" in per_layer and "error" not in errors:
            step("mixed-precision advice")
            advice = _advice(job, float_path, int8_path, saved, inputs[:16], per_layer, reference_runner, errors)
        if val_samples is not None and reference_runner.is_heatmap_model:
            checks["accuracy"] = {
                "float": report.accuracy(reference_runner, val_samples, config),
                **checks["accuracy"],
            }
            for engine in engines:
                scores = checks["accuracy"].get(engine)
                if scores and "error" not in scores:
                    scores["drop"] = report.accuracy_drop(checks["accuracy"]["float"], scores)
    body = {
        "schema": SCHEMA,
        "source": {"path": str(given), "kind": model_kind(given)},
        "backend": job.backend,
        "settings": _settings(job),
        "normalization": job.normalization.as_dict(),
        "calibration": {
            "set": str(calib.path),
            "images": len(inputs),
            "selection": calib.manifest.get("selection"),
            "seconds": round(calibration_s, 2),
        },
        "artifacts": [{"role": "float", **describe(float_path)}, {"role": "int8", **describe(int8_path)}],
        **checks,
        "per_layer": per_layer,
        "advice": advice,
    }
    return body, [(float_path, "float", job.model), (int8_path, "int8", job.model)]


def _saved_model(model: Path, kind: str, scratch: Path) -> Path:
    if kind == "savedmodel":
        return model
    if kind in ("keras", "h5"):
        return exporter.saved_model_from_keras(load_keras(model), scratch / "saved_model")
    raise ModelError(
        f"{model}: TFLite quantization takes a Keras model, SavedModel or float .tflite; use --backend onnx"
    )


def _float_artifact(job: QuantizeJob, kind: str, saved: Path | None, staged: Path) -> Path:
    """The float model the int8 one is compared against, in the backend's own format."""
    if job.backend == "tflite":
        if kind == "tflite":
            return job.model
        target = staged / exporter.artifact_name(job.model, "tflite")
        atomic.write_bytes(target, exporter.tflite_from_saved_model(saved, "tflite"))
        return target
    return exporter.export_model(job.model, "onnx", staged).path


def _reference_runner(model: Path, kind: str, float_path: Path) -> Runner:
    """The float model itself where it can run (Keras), else its float artifact."""
    return open_runner(model if kind in ("keras", "h5") else float_path)


def _int8_artifact(
    job: QuantizeJob, kind: str, saved: Path | None, float_path: Path, inputs: np.ndarray, staged: Path
) -> Path:
    stem = Path(job.model).name.split(".")[0] or "model"
    if job.backend == "tflite":
        target = staged / f"{stem}_{'int16x8' if job.tflite.activations == 'int16' else 'int8'}.tflite"
        if saved is not None:
            data = quantize_saved_model(saved, inputs, job.tflite, job.model)
        else:
            data = quantize_tflite_file(job.model, inputs, job.tflite)
        atomic.write_bytes(target, data)
        return target
    target = staged / f"{stem}_int8.onnx"
    quantize_onnx(float_path, target, inputs, job.onnx)
    return target


def _per_layer(job: QuantizeJob, float_path: Path, int8_path: Path, inputs: np.ndarray) -> dict | None:
    try:
        if job.backend == "tflite":
            return debug.tflite_layer_errors(float_path, int8_path, inputs)
        return debug.onnx_layer_errors(float_path, int8_path, inputs)
    except EdgeposeError:
        raise
    except Exception as exc:  # noqa: BLE001 - a debugging aid must not sink the quantized model
        console.warn(f"per-layer error report skipped: {' '.join(str(exc).split())[:200]}")
        return {"skipped": " ".join(str(exc).split())[:300]}


def _advice(job, float_path, int8_path, saved, inputs, per_layer, reference, errors) -> dict | None:
    try:
        return advise(job, float_path, int8_path, saved, inputs, per_layer, reference, errors, job.advice_below_db)
    except EdgeposeError:
        raise
    except Exception as exc:  # noqa: BLE001 - advice must not sink the quantized model
        console.warn(f"mixed-precision advice skipped: {' '.join(str(exc).split())[:200]}")
        return {"skipped": " ".join(str(exc).split())[:300]}


def _check_engines(reference: Runner, int8_path: Path, engines, inputs, val_samples, config) -> dict:
    """Output error of every engine that runs the int8 artifact, and its keypoint accuracy."""
    expected = reference.run_all(inputs)
    errors, scores = {}, {}
    for engine in engines:
        try:
            runner = open_runner(int8_path, engine)
        except ModelError as exc:  # e.g. tflite-micro lacks a kernel: say so, keep the other engines
            errors[engine] = scores[engine] = {"error": str(exc)}
            continue
        with runner:
            errors[engine] = report.output_error(expected, runner.run_all(inputs))
            if val_samples is not None and runner.is_heatmap_model:
                scores[engine] = report.accuracy(runner, val_samples, config)
    return {"output_error": errors, "accuracy": scores}


def _settings(job: QuantizeJob) -> dict:
    from dataclasses import asdict

    return asdict(job.tflite) if job.backend == "tflite" else asdict(job.onnx)
