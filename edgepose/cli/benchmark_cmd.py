"""``edgepose benchmark MODEL --target NAME`` and ``edgepose deploy MODEL --target NAME --ssh user@host``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from edgepose import console
from edgepose.cli.common import CONFIG_OPTION, OVERRIDES_ARGUMENT, resolve_config

TARGET_OPTION = typer.Option("host", "--target", "-t", help="Board name (see `edgepose targets list`).")
SSH_OPTION = typer.Option(None, "--ssh", help="user@host (or an ssh config Host) of a Linux board.")
SSH_CONFIG_OPTION = typer.Option(None, "--ssh-config", help="An ssh config file (ssh -F), besides ~/.ssh/config.")
RUNTIME_OPTION = typer.Option(None, "--runtime", help="litert or onnxruntime (default: by the model file).")


def benchmark(
    model: Path = typer.Argument(..., help="The .tflite or .onnx artifact to measure."),
    overrides: list[str] | None = OVERRIDES_ARGUMENT,
    target: str = TARGET_OPTION,
    port: str | None = typer.Option(
        None, "--port", "-p", help="Serial device or pyserial URL (socket://, rfc2217://)."
    ),
    ssh: str | None = SSH_OPTION,
    ssh_config: Path | None = SSH_CONFIG_OPTION,
    runtime: str | None = RUNTIME_OPTION,
    threads: int | None = typer.Option(None, "--threads", min=1, help="Runtime threads (default: benchmark.threads)."),
    warmup: int | None = typer.Option(None, "--warmup", min=0, help="Untimed runs first (default 10)."),
    runs: int | None = typer.Option(None, "--runs", "-n", min=1, help="Timed runs (default 100)."),
    min_time: float | None = typer.Option(None, "--min-time", min=0.0, help="Keep timing at least this many s."),
    baud: int | None = typer.Option(None, "--baud", help="Serial baud rate (default 921600)."),
    timeout: float | None = typer.Option(
        None, "--timeout", help="Seconds a silent device is waited for (default: benchmark.timeout_s, 10)."
    ),
    tolerance: float | None = typer.Option(
        None, "--tolerance", help="Output check: max abs difference allowed (default: exact for int8, 1e-4 float)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Report JSON (default reports/<model>-<target>-<time>.json).", dir_okay=False
    ),
    profile: bool = typer.Option(False, "--profile", help="Per-layer ticks, where the device can tell (MCUs)."),
    kernels: str = typer.Option(
        "auto", "--kernels", "-k", help="Emulated boards: the generated C's kernels (auto, portable, dsp, mve)."
    ),
    device: str | None = typer.Option(None, "--device", help="Android: the adb serial (default: the one attached)."),
    benchmark_model: str | None = typer.Option(
        None,
        "--benchmark-model",
        help="Android: TensorFlow Lite's benchmark_model, a file here or a path on the phone.",
    ),
    delegate: str = typer.Option("xnnpack", "--delegate", help="Android: cpu, xnnpack, gpu or nnapi."),
    config: Path | None = CONFIG_OPTION,
) -> None:
    """Measure latency, memory and outputs of MODEL on a target, and write one report JSON."""
    from edgepose.backends import Request, connect
    from edgepose.bench.artifact import artifact_format
    from edgepose.bench.client import Client
    from edgepose.bench.harness import Settings
    from edgepose.bench.harness import benchmark as run_benchmark
    from edgepose.boards import find_board

    experiment = resolve_config(config, overrides)
    settings = experiment.benchmark
    artifact_format(model)  # a clear error before anything is started
    board = find_board(target)
    if board.backend == "android":
        from edgepose.backends.android import PhoneRun

        run = PhoneRun(
            model, device, benchmark_model, delegate, threads or settings.threads,
            settings.warmup if warmup is None else warmup, runs or settings.runs, profile,
            settings.min_time_s if min_time is None else min_time,
        )  # fmt: skip
        _finish(_phone_report(board, run), experiment, out, model, target)
        return
    request = Request(
        model, runtime, threads or settings.threads, baud or settings.baud, port, ssh, ssh_config,
        kernels=None if kernels == "auto" else kernels,
    )  # fmt: skip
    with console.err.status(f"connecting to {target}" + (" (compiling and booting)" if board.qemu else "")):
        connection = connect(board, request)
    client = Client(connection.link, timeout=timeout or settings.timeout_s)
    measure = Settings(
        warmup=settings.warmup if warmup is None else warmup,
        runs=runs or settings.runs,
        min_time_s=settings.min_time_s if min_time is None else min_time,
        timeout_s=timeout or settings.timeout_s,
        tolerance=tolerance if tolerance is not None else settings.output_tolerance,
        profile=profile,
    )
    with client.link:
        try:
            with console.err.status(f"benchmarking {model.name} on {target} through {client.link.name}") as status:
                report = run_benchmark(client, model, connection.target, measure, progress=status.update)
        except KeyboardInterrupt:
            _leave_known_state(client)
            raise
    _finish(report, experiment, out, model, target)


def _phone_report(board, run) -> dict:
    from edgepose.backends import android

    if run.model.suffix.lower() != ".tflite":
        from edgepose.errors import ModelError

        raise ModelError(f"{run.model}: phones run .tflite files through benchmark_model")
    with console.err.status(f"benchmarking {run.model.name} on {board.name} over adb") as status:
        return android.benchmark(board, run, progress=status.update)


def _finish(report: dict, experiment, out: Path | None, model: Path, target: str) -> None:
    """Write the report (whole or not at all), track it, print it."""
    from edgepose.bench.report import default_path, write_report
    from edgepose.tracking import track_report

    path = out or default_path(model.stem, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_report(report, path)
    track_report(experiment, report, path)
    show_report(report)
    console.out.print(f"report: {path}", soft_wrap=True)
    if report["output_check"]["passed"] is False:
        console.warn("the outputs read back from the device differ from the host reference (see output check)")


def _leave_known_state(client) -> None:
    """Ctrl-C: tell the device to drop its input and results, so the next run starts clean."""
    client.retries = 2
    with contextlib.suppress(Exception):  # best effort on the way out; the interruption is what matters
        client.reset()


def deploy(
    model: Path = typer.Argument(..., help="The .tflite or .onnx artifact to copy to the board."),
    target: str = TARGET_OPTION,
    ssh: str = typer.Option(..., "--ssh", help="user@host (or an ssh config Host) of the board."),
    ssh_config: Path | None = SSH_CONFIG_OPTION,
    setup: bool = typer.Option(False, "--setup", help="Create a venv on the board with numpy and the runtime."),
    runtime: str = typer.Option("litert", "--runtime", help="Runtime --setup installs: litert or onnxruntime."),
) -> None:
    """Copy the model and the board agent to a Linux board over ssh (scp), optionally setting up its runtime."""
    from edgepose.backends import rpi
    from edgepose.bench.artifact import artifact_format
    from edgepose.boards import find_board
    from edgepose.errors import BoardError

    artifact_format(model)
    board = find_board(target)
    if board.backend != "rpi":
        raise BoardError(f"target '{target}' is a {board.backend} board; deploy is for Linux boards (rpi)")
    remote = rpi.Remote(ssh, board, ssh_config)
    with console.err.status(f"copying to {ssh}:{board.linux.workdir}"):
        copied = rpi.deploy(remote, model, setup, runtime)
    console.out.print(f"deployed {', '.join(copied)} to {ssh}:{board.linux.workdir}", soft_wrap=True)


def show_report(report: dict) -> None:
    from edgepose.bench.compare import output_verdict
    from edgepose.bench.stats import format_value

    latency, model, runtime = report["latency"], report["model"], report["runtime"]
    unit = latency["unit"]
    emulated = (report.get("timer") or {}).get("emulated")
    sha = f", sha256 {model['sha256'][:12]}" if model.get("sha256") else ""
    rows = [
        ("model", f"{model['name']} ({model.get('format')}, {model.get('kind') or '?'}){sha}"),
        ("target", f"{report['target']['name']} via {report['target'].get('link')}"),
        ("runtime", _runtime_text(runtime)),
        ("runs", f"{report['settings']['runs']} after {report['settings']['warmup']} warmup"),
        *([("counted in", f"instructions of an emulated core ({emulated}): not board time")] if emulated else []),
        *_latency_rows(latency),
        *([("throughput", f"{latency['throughput_ips']} inferences/s")] if unit == "us" else []),
        ("first inference", format_value(report.get("first_inference"), unit)),
        *([("load", f"{report.get('load_ms')} ms")] if unit == "us" else []),
        *_memory_rows(report.get("memory") or {}),
        *_clock_rows(report),
        ("output check", output_verdict(report)),
    ]
    console.out.print(console.table(None, ("", ""), rows))
    layers = report.get("profile") or []
    if layers and "ticks" in layers[0]:
        show_profile(layers, unit, report)
    elif layers:
        show_op_profile(layers)


def _runtime_text(runtime: dict) -> str:
    tool = f"({runtime['tool']}, {runtime.get('delegate')})" if runtime.get("tool") else ""
    parts = (runtime.get("name"), runtime.get("version"), tool, f"threads={runtime.get('threads')}")
    return " ".join(str(part) for part in parts if part)


def _latency_rows(latency: dict) -> list[tuple[str, str]]:
    """The statistics the report has, in order; a p50 that is the tool's average says so."""
    from edgepose.bench.stats import format_value

    unit, rows = latency["unit"], []
    for key in ("min", "p5", "p10", "p50", "p90", "p95", "p99", "max", "mean", "std"):
        if latency.get(key) is not None:
            name = "p50 (the tool's average)" if key == "p50" and latency.get("p50_is_mean") else key
            rows.append((name, format_value(latency[key], unit)))
    return rows


def _memory_rows(memory: dict) -> list[tuple[str, str]]:
    """Sizes as sizes; an MCU firmware's placement as which region holds each part."""
    rows = [(key, console.human_bytes(value)) for key, value in memory.items() if isinstance(value, int) and value]
    placement = memory.get("placement") or {}
    if placement:
        parts = (f"{part.replace('_', ' ')} in {region}" for part, region in placement.items())
        rows.append(("placement", ", ".join(parts)))
    return rows


def _clock_rows(report: dict) -> list[tuple[str, str]]:
    """A firmware's clock and timer as it found them: a board short of its planned clock, or timing with
    SysTick because its DWT does not count, says so beside the numbers it produced."""
    info = report.get("device_info") or {}
    clock, timer = info.get("clock"), info.get("timer") or {}
    rows = []
    if clock:
        text = f"{clock['hz'] / 1e6:g} MHz"
        if clock.get("planned_hz") and clock["planned_hz"] != clock["hz"]:
            text += f" (planned {clock['planned_hz'] / 1e6:g} MHz)"
        rows.append(("clock", text + (f": {clock['note']}" if clock.get("note") else "")))
    if clock and timer.get("source"):
        text = f"{timer['source']} at {timer['hz'] / 1e6:g} MHz" + (f": {timer['note']}" if timer.get("note") else "")
        rows.append(("timer", text))
    ticks = report.get("samples_ticks") or []
    if timer.get("source") == "dwt" and ticks:
        rows.append(("cycles", f"{round(sum(ticks) / len(ticks)):,} (mean, DWT cycle counter)"))
    return rows


def show_profile(layers: list[dict], unit: str, report: dict) -> None:
    """The per-layer profile, costliest first, with each layer's share of the inference."""
    from edgepose.bench.harness import measure_unit

    _, per_tick = measure_unit({"timer": report["timer"]}, report["timer"]["hz"])
    total = sum(layer["ticks"] for layer in layers) or 1
    ranked = sorted(layers, key=lambda layer: -layer["ticks"])
    digits = 0 if unit == "instructions" else 1
    rows = [
        (layer["name"], f"{layer['ticks'] * per_tick:,.{digits}f}", f"{100 * layer['ticks'] / total:.1f}%")
        for layer in ranked[:15]
    ]
    label = "instructions" if unit == "instructions" else "µs"
    console.out.print(console.table(f"layers by cost ({len(layers)} in all)", ("layer", label, "share"), rows))


def show_op_profile(ops: list[dict]) -> None:
    """A phone's op profile (benchmark_model's Run Order): costliest first, in ms."""
    ranked = sorted(ops, key=lambda op: -op["avg_ms"])
    rows = [(op["name"], op["type"], f"{op['avg_ms']:.3f}", f"{op['percent']:.1f}%") for op in ranked[:15]]
    console.out.print(console.table(f"ops by cost ({len(ops)} in all)", ("op", "type", "avg ms", "share"), rows))
