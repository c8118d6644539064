"""``edgepose pipeline``: the services chained as the STM32 model zoo's chain modes do —
train → export → quantize → evaluate (float and int8) → benchmark on every configured target → compare,
or the steps of the config's ``operation_mode`` (``chain_tqeb``, ``prediction``, ``deployment``...).

Each step reads named artifacts (``model``, ``float_tflite``, ``int8``, ``reports``) and writes its own
into ``<run>/<step>/``. ``pipeline.json`` records, per step, the sha256 of what it read and of the config
sections it depends on; ``--resume`` skips a step whose record matches and whose outputs still exist.
One failing target does not lose the others: the benchmark step records it as failed, with the reason,
and the chain goes on.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgepose.atomic import write_json, write_text
from edgepose.config import Config
from edgepose.errors import ConfigError, EdgeposeError
from edgepose.hashing import sha256_path

STATE = "pipeline.json"
LOG = "pipeline.log"
ACCURACY_KEYS = ("AP", "AP50", "AP75", "AR", "mean_oks", "mean_error_px")  # with pck@T: evaluate/accuracy.json


@dataclass
class Context:
    config: Config
    root: Path
    artifacts: dict[str, object]  # name -> Path, or list of Paths for "reports"
    log: Callable[[str], None]
    failures: list[dict] = field(default_factory=list)

    def path(self, name: str) -> Path:
        value = self.artifacts.get(name)
        if value is None:
            raise ConfigError(f"this step needs '{name}', which no earlier step made: run the step that makes it")
        return Path(value)


@dataclass
class Step:
    name: str
    reads: tuple[str, ...]  # artifacts
    sections: tuple[str, ...]  # config sections its result depends on
    run: Callable[[Context, Path], tuple[dict, str]]  # -> (artifacts written, one-line summary)


@dataclass
class Outcome:
    name: str
    status: str  # done, skipped, failed
    seconds: float
    summary: str


# ---------------------------------------------------------------------------------------------- steps


def _train(ctx: Context, out: Path) -> tuple[dict, str]:
    from edgepose.runs import Run
    from edgepose.train.trainer import summary, train

    run = Run.create("train", out=out, config=ctx.config)
    with run:
        result = train(ctx.config, run)
    return {"model": out / "best.keras"}, summary(result)


def _export(ctx: Context, out: Path) -> tuple[dict, str]:
    from edgepose.convert.export import export_model

    exported = export_model(ctx.path("model"), "tflite", out)
    return {"float_tflite": exported.path}, f"{exported.path.name} ({exported.path.stat().st_size:,} B)"


def _quantize(ctx: Context, out: Path) -> tuple[dict, str]:
    from edgepose.convert.metadata import Normalization
    from edgepose.data.sources import load_splits
    from edgepose.quantize import calibration
    from edgepose.quantize.ptq import QuantizeJob, quantize
    from edgepose.quantize.report import metrics
    from edgepose.runs import Run
    from edgepose.runtime import open_runner

    config, q = ctx.config, ctx.config.quantization
    normalization = Normalization.from_config(config)
    with open_runner(ctx.path("model")) as runner:  # the model's own size: the config may leave it to the zoo default
        size = tuple(runner.input_shape[:2])
    run = Run.create("quantize", out=out, config=config)
    synthetic = config.dataset.format == "synthetic" and config.dataset.training_path is None
    source = "synthetic" if synthetic else config.dataset.training_path
    seed = config.general.global_seed or 0
    calib = (
        Path(q.calibration)
        if q.calibration
        else calibration.build_set(
            source, out / "calibration", q.calibration_size, "stratified", seed, normalization, size, config
        )
    )

    def job(folder: Path, backend: str) -> QuantizeJob:
        return QuantizeJob.from_config(ctx.path("model"), folder, calib, normalization, config, backend=backend)

    val = load_splits(config.dataset).val
    with run:
        report = quantize(job(out, "tflite"), config, val)
        made = {"int8": next(out / a["file"] for a in report["artifacts"] if a["role"] == "int8")}
        if any((t.runtime or config.benchmark.runtime) == "onnxruntime" for t in config.targets):
            onnx = quantize(job(out / "onnx", "onnx"), config)
            made["int8_onnx"] = next(out / "onnx" / a["file"] for a in onnx["artifacts"] if a["role"] == "int8")
        run.outputs.extend([*made.values(), out / "quant_report.json"])
        run.log_metrics(metrics(report))
    drop = (report.get("accuracy") or {}).get("litert", {}).get("drop", {})
    names = ", ".join(p.name for p in made.values())
    return made, f"{names}; mean OKS change {drop.get('mean_oks_points', 'n/a')} points"


def _evaluate(ctx: Context, out: Path) -> tuple[dict, str]:
    from edgepose.data.sources import load_splits
    from edgepose.evaluate.evaluation import evaluate
    from edgepose.runs import Run
    from edgepose.runtime import open_runner

    samples = load_splits(ctx.config.dataset).val
    scores = {}
    for role, name in _evaluated(ctx):
        run = Run.create("evaluate", out=out / role, config=ctx.config)
        with run, open_runner(ctx.path(name)) as runner:
            scores[role] = evaluate(runner, samples, ctx.config, run)
    table = {
        role: {key: value for key, value in s.items() if key in ACCURACY_KEYS or key.startswith("pck@")}
        for role, s in scores.items()
    }
    write_json(out / "accuracy.json", table)
    text = ", ".join(f"{role} OKS {t['mean_oks']:.3f} AP {t['AP']:.3f}" for role, t in table.items())
    return {"accuracy": out / "accuracy.json"}, text


def _evaluated(ctx: Context) -> list[tuple[str, str]]:
    """(role, artifact) of each model there is to score: the float one (Keras, else its .tflite) and the int8."""
    chosen = []
    for role, names in (("float", ("model", "float_tflite")), ("int8", ("int8",))):
        name = next((n for n in names if ctx.artifacts.get(n)), None)
        if name:
            chosen.append((role, name))
    if not chosen:
        raise ConfigError("nothing to evaluate: train a model, or give one with general.model_path or --model")
    return chosen


def _predict(ctx: Context, out: Path) -> tuple[dict, str]:
    from edgepose.predict import predict_files
    from edgepose.runs import Run

    config = ctx.config.model_copy(deep=True)  # predict sets the keypoint count from the model
    inputs = config.prediction.test_files_path
    if inputs is None:
        raise ConfigError("the prediction step needs prediction.test_files_path: images, videos or a folder")
    name = next((n for n in ("model", "int8", "float_tflite") if ctx.artifacts.get(n)), "model")
    run = Run.create("predict", out=out, config=config)
    with run:
        outcome = predict_files(ctx.path(name), [inputs], config, run)
    for problem in outcome.problems:
        ctx.log(f"predict: {problem}")
    bad = f", {len(outcome.problems)} unreadable" if outcome.problems else ""
    return {"predictions": out / "predictions.json"}, f"{outcome.frames} frames predicted{bad}: {out}"


def _each_target(ctx: Context, verb: str, label, one: Callable) -> list:
    """``one(entry, label)`` for every ``targets`` entry; one board's trouble must not lose the others':
    it is recorded as a failure, with the reason, and the rest go on."""
    done = []
    for entry in ctx.config.targets:
        name = label(entry)
        try:
            done.append(one(entry, name))
            ctx.log(f"{verb} {name}: done")
        except (EdgeposeError, OSError) as error:
            ctx.failures.append({"target": name, "reason": str(error)})
            ctx.log(f"{verb} {name}: FAILED: {error}")
    if not done:
        raise EdgeposeError(f"no target could be {verb}ed: " + "; ".join(f["reason"] for f in ctx.failures))
    return done


def _failed(ctx: Context) -> str:
    return f", {len(ctx.failures)} failed" if ctx.failures else ""


def _deploy(ctx: Context, out: Path) -> tuple[dict, str]:
    deployed = _each_target(
        ctx, "deploy", lambda entry: entry.board, lambda entry, name: _deploy_one(ctx, entry, out / name)
    )
    return {"deployed": out}, "; ".join(deployed) + _failed(ctx)


def _deploy_one(ctx: Context, entry, folder: Path) -> str:
    """MCU boards: the firmware, flashed when the entry names a method; Linux boards: the model copied over
    ssh; the host runs models where they are."""
    from edgepose.boards import find_board

    board = find_board(entry.board)
    if board.is_mcu:
        from edgepose.backends import flash as flashing
        from edgepose.codegen.compile import compile_for_board

        memory = entry.memory
        report = compile_for_board(
            ctx.path("int8"),
            board.name,
            folder,
            True,
            max_recompute=memory.max_recompute,
            split_arena=memory.split_arena,
        )
        elf = Path(report["firmware"]["elf"])
        if entry.flash is None:
            return f"{board.name}: firmware {elf.name} built ({report['arena_bytes']:,} B arena)"
        flashing.flash(entry.flash, board, elf, entry.gdb, entry.port)
        return f"{board.name}: flashed with {entry.flash}"
    if board.backend == "android":
        from edgepose.backends import android

        return android.deploy(board, ctx.path("int8"), entry.device)
    if board.backend == "rpi":
        from edgepose.backends import rpi

        if not entry.ssh:
            raise ConfigError(f"target '{board.name}' needs ssh: user@host in the targets section to deploy")
        model = ctx.path("int8_onnx" if entry.runtime == "onnxruntime" else "int8")
        copied = rpi.deploy(rpi.Remote(entry.ssh, board, None), model, False, entry.runtime or "litert")
        return f"{board.name}: {', '.join(copied)} copied to {entry.ssh}"
    return f"{board.name}: runs models in place, nothing to copy"


def _benchmark(ctx: Context, out: Path) -> tuple[dict, str]:
    reports = _each_target(
        ctx,
        "benchmark",
        _target_label,
        lambda entry, name: _benchmark_one(ctx, entry, out / f"{name}.json"),
    )
    return {"reports": reports}, f"{len(reports)} target(s) measured{_failed(ctx)}"


def _target_label(entry) -> str:
    """A name per targets entry: the board, with the runtime asked for, and a phone's delegate."""
    from edgepose.boards import find_board

    label = entry.board + (f"-{entry.runtime}" if entry.runtime else "")
    return label + (f"-{entry.delegate}" if find_board(entry.board).backend == "android" else "")


def _benchmark_one(ctx: Context, entry, path: Path) -> Path:
    """Measure the model the entry's runtime runs on its board (a phone through benchmark_model, any other
    board through its link), then write and track the report."""
    from edgepose.bench.report import write_report
    from edgepose.boards import find_board
    from edgepose.tracking import track_report

    board = find_board(entry.board)
    runtime = entry.runtime or ctx.config.benchmark.runtime
    onnx = runtime == "onnxruntime" and not board.is_mcu and board.backend != "android"
    wanted = "int8_onnx" if onnx else "int8"
    # a float model is measured as it is when no int8 one was made (the benchmarking mode on a float .tflite)
    model = ctx.path(wanted if ctx.artifacts.get(wanted) or not ctx.artifacts.get("float_tflite") else "float_tflite")
    if board.backend == "android":
        report = _phone_report(ctx, entry, board, model)
    else:
        report = _link_report(ctx, entry, board, model, runtime, path.parent / "build")
    write_report(report, path)
    track_report(ctx.config, report, path)
    return path


def _link_report(ctx: Context, entry, board, model: Path, runtime: str, build: Path) -> dict:
    from edgepose.backends import Request, connect
    from edgepose.bench.client import Client
    from edgepose.bench.harness import Settings, benchmark

    settings = ctx.config.benchmark
    if board.backend in ("rpi", "stm32") and not (entry.ssh or entry.port):
        raise ConfigError(f"target '{entry.board}' ({board.backend}) needs ssh: or port: in the targets section")
    request = Request(
        model, None if board.is_mcu else runtime, entry.threads or settings.threads, settings.baud, entry.port,
        entry.ssh, build_dir=build, deploy=True, max_recompute=entry.memory.max_recompute,
        split_arena=entry.memory.split_arena,
    )  # fmt: skip
    connection = connect(board, request)
    measure = Settings(
        settings.warmup, settings.runs, settings.min_time_s, settings.timeout_s, settings.output_tolerance
    )
    with connection.link:
        return benchmark(Client(connection.link, timeout=settings.timeout_s), model, connection.target, measure)


def _phone_report(ctx: Context, entry, board, model: Path) -> dict:
    """A phone: the .tflite through benchmark_model over adb."""
    from edgepose.backends import android

    settings = ctx.config.benchmark
    run = android.PhoneRun(
        model, entry.device, entry.benchmark_model, entry.delegate, entry.threads or settings.threads,
        settings.warmup, settings.runs, min_time_s=settings.min_time_s,
    )  # fmt: skip
    return android.benchmark(board, run)


def _compare(ctx: Context, out: Path) -> tuple[dict, str]:
    from edgepose.bench.compare import compare, write_html, write_png
    from edgepose.bench.report import load_report

    reports = [load_report(Path(p)) for p in ctx.artifacts.get("reports") or []]
    if not reports:
        raise ConfigError("nothing to compare: the benchmark step wrote no report")
    rows = compare(reports)
    write_png(reports, out / "latency.png")
    write_html(reports, rows, out / "compare.html")
    return {"compare": out / "compare.html"}, f"{len(reports)} report(s) side by side: {out / 'compare.html'}"


STEPS = (
    Step("train", (), ("dataset", "preprocessing", "data_augmentation", "model", "training"), _train),
    Step("export", ("model",), (), _export),
    Step("quantize", ("model",), ("dataset", "preprocessing", "quantization", "targets"), _quantize),
    Step("evaluate", ("model", "float_tflite", "int8"), ("dataset", "preprocessing", "evaluation"), _evaluate),
    Step("predict", ("model", "int8", "float_tflite"), ("prediction", "evaluation", "dataset"), _predict),
    Step("benchmark", ("int8", "int8_onnx", "float_tflite"), ("targets", "benchmark"), _benchmark),
    Step("compare", ("reports",), (), _compare),
    Step("deploy", ("int8", "int8_onnx"), ("targets",), _deploy),
)
STEP_NAMES = tuple(s.name for s in STEPS)
DEFAULT_STEPS = ("train", "export", "quantize", "evaluate", "benchmark", "compare")

# The STM32 model zoo's operation modes, as the steps they run. The zoo's chain_eqe evaluates the float model,
# quantizes, then evaluates the int8 one: here the evaluate step after quantize scores both.
OPERATION_MODES = {
    "training": ("train",),
    "evaluation": ("evaluate",),
    "quantization": ("quantize",),
    "prediction": ("predict",),
    "benchmarking": ("export", "benchmark", "compare"),
    "deployment": ("deploy",),
    "chain_tqe": ("train", "quantize", "evaluate"),
    "chain_tqeb": ("train", "quantize", "evaluate", "benchmark", "compare"),
    "chain_eqe": ("quantize", "evaluate"),
    "chain_qb": ("quantize", "benchmark", "compare"),
    "chain_eqeb": ("quantize", "evaluate", "benchmark", "compare"),
    "chain_qd": ("quantize", "deploy"),
}


def steps_for_mode(mode: str, given: dict) -> list[str]:
    """The steps of ``mode``; a step that only converts what was given (export of a .tflite) is left out."""
    steps = list(OPERATION_MODES[mode])
    if "export" in steps and "model" not in given:
        steps.remove("export")  # a .tflite or .onnx was given: it is benchmarked as it is
    return steps


def given_artifacts(path: Path) -> dict[str, Path]:
    """What a brought model is to the steps: a Keras ``model``, a ``float_tflite``, or an ``int8`` file."""
    from edgepose.bench.artifact import numeric_kind
    from edgepose.convert.modelfile import model_kind

    path = Path(path)
    kind = model_kind(path)
    if kind in ("keras", "h5"):
        return {"model": path}
    if kind not in ("tflite", "onnx"):
        raise ConfigError(f"{path}: a {kind or 'unknown'} file; the pipeline starts from .keras, .h5, .tflite or .onnx")
    quantized = numeric_kind(path) in ("int8", "int16x8")
    if kind == "onnx":
        return {"int8_onnx" if quantized else "float_onnx": path}
    return {"int8" if quantized else "float_tflite": path}


# ---------------------------------------------------------------------------------------------- driver


def parse_steps(text: str | None) -> list[str]:
    if not text:
        return list(DEFAULT_STEPS)
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STEP_NAMES]
    if unknown:
        raise ConfigError(f"--steps: unknown step(s) {', '.join(unknown)}; the steps are {', '.join(STEP_NAMES)}")
    return [s for s in STEP_NAMES if s in chosen]  # always in chain order


def run_pipeline(
    config: Config,
    root: Path,
    steps: Sequence[str] = DEFAULT_STEPS,
    resume: bool = False,
    given: dict | None = None,
    on_step: Callable[[str, str], None] | None = None,
) -> list[Outcome]:
    """Run ``steps`` in ``root``; ``given`` supplies artifacts made elsewhere (``--model``)."""
    root.mkdir(parents=True, exist_ok=True)
    state = _load_state(root) if resume else {"steps": {}}
    artifacts: dict[str, object] = {}
    for record in state["steps"].values():  # what finished steps made is available to later ones
        artifacts.update(_decode(record.get("outputs", {}), root))
    artifacts.update({k: Path(v) for k, v in (given or {}).items()})
    log_file = (root / LOG).open("a")

    def log(message: str) -> None:
        log_file.write(f"{time.strftime('%H:%M:%S')} {message}\n")
        log_file.flush()

    outcomes = []
    try:
        for step in (s for s in STEPS if s.name in steps):
            if on_step:
                on_step(step.name, "start")
            ctx = Context(config, root, artifacts, log)
            outcome = _run_step(step, ctx, state, resume)
            outcomes.append(outcome)
            log(f"{step.name}: {outcome.status} in {outcome.seconds:.1f} s: {outcome.summary}")
            if on_step:
                on_step(step.name, outcome.status)
            if outcome.status == "failed":
                break
    finally:
        log_file.close()
        write_json(root / "summary.json", {"steps": [o.__dict__ for o in outcomes]})
    return outcomes


def _run_step(step: Step, ctx: Context, state: dict, resume: bool) -> Outcome:
    key = _input_key(step, ctx)
    record = state["steps"].get(step.name)
    if resume and record and record.get("key") == key and _outputs_exist(_decode(record.get("outputs", {}), ctx.root)):
        ctx.artifacts.update(_decode(record["outputs"], ctx.root))
        return Outcome(step.name, "skipped", 0.0, "inputs unchanged since the last run")
    out = ctx.root / step.name
    if out.exists():
        shutil.rmtree(out)  # a step's folder is its own: a rerun starts clean
    started = time.perf_counter()
    try:
        outputs, summary = step.run(ctx, out)
    except EdgeposeError as error:
        state["steps"].pop(step.name, None)
        _save_state(ctx.root, state)
        ctx.log(traceback.format_exc())
        return Outcome(step.name, "failed", time.perf_counter() - started, str(error))
    ctx.artifacts.update(outputs)
    state["steps"][step.name] = {
        "key": key,
        "outputs": _encode(outputs, ctx.root),
        "failures": ctx.failures,
        "seconds": round(time.perf_counter() - started, 2),
    }
    _save_state(ctx.root, state)
    return Outcome(step.name, "done", time.perf_counter() - started, summary)


def _input_key(step: Step, ctx: Context) -> str:
    """sha256 over the step's input artifacts and the config sections its result depends on."""
    digest = hashlib.sha256(step.name.encode())
    for name in step.reads:
        value = ctx.artifacts.get(name)
        for path in value if isinstance(value, list) else [value] if value else []:
            digest.update(sha256_path(Path(path)).encode())
    dumped = ctx.config.model_dump(mode="json")
    for section in step.sections:
        digest.update(json.dumps(dumped.get(section), sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _encode(outputs: dict, root: Path) -> dict:
    """Paths inside the run directory are kept relative to it, so a moved run directory still resumes."""

    def one(path) -> str:
        path = Path(path)
        return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)

    return {k: [one(p) for p in v] if isinstance(v, list) else one(v) for k, v in outputs.items()}


def _decode(outputs: dict, root: Path) -> dict:
    return {k: [root / p for p in v] if isinstance(v, list) else root / v for k, v in outputs.items()}


def _outputs_exist(outputs: dict) -> bool:  # decoded
    paths = [p for v in outputs.values() for p in (v if isinstance(v, list) else [v])]
    return all(Path(p).exists() for p in paths)


def _load_state(root: Path) -> dict:
    try:
        return json.loads((root / STATE).read_text())
    except (OSError, ValueError):
        return {"steps": {}}


def _save_state(root: Path, state: dict) -> None:
    write_text(root / STATE, json.dumps(state, indent=2))


def failures(root: Path) -> list[dict]:
    """The targets that failed in the last benchmark step, with their reasons."""
    return _load_state(root)["steps"].get("benchmark", {}).get("failures", [])
