"""One benchmark, the same on every target: hello → upload the input → one timed first run → warmup and
timed runs → read back the outputs and the timings → check the outputs against a host reference.

The target only decides how the link is opened (``edgepose.backends``); everything measured goes through
``Client``, so what a report means does not depend on where it came from.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgepose.bench import artifact
from edgepose.bench.client import Client
from edgepose.bench.report import new_report
from edgepose.bench.stats import format_value, latency_stats, rounded
from edgepose.errors import DeviceError
from edgepose.hashing import sha256_path


@dataclass
class Settings:
    warmup: int = 10
    runs: int = 100
    min_time_s: float = 0.0
    timeout_s: float = 10.0
    tolerance: float | None = None  # None: identical integer outputs, 1e-4 for float ones
    seed: int = 0
    profile: bool = False


@dataclass
class Target:
    """Where the benchmark ran, as the report names it."""

    name: str
    backend: str
    description: str = ""
    link: str = ""
    reference_runtime: str | None = None  # the runtime the host reference uses; None: by the file's content


def benchmark(client: Client, model: Path, target: Target, settings: Settings, progress=None) -> dict:
    """Measure ``model`` on the device behind ``client``; returns the report (nothing written)."""
    model = Path(model)
    info = client.hello()
    client.retried = 0  # count the link's health from here: HELLOs unanswered while a device boots are not
    _same_model(info, model, client.link.name)
    inputs = artifact.random_inputs(info["inputs"], settings.seed)

    started = time.perf_counter()
    for index, data in enumerate(inputs):
        client.write_input(index, data)
    upload_s = time.perf_counter() - started
    uploaded = sum(len(d) for d in inputs)

    began = time.perf_counter()
    first = client.infer(0, 1, settings.timeout_s)
    # what the INFER is waited for: the device's own time, or the wall time of the run for an emulated
    # board (whose clock follows instructions, not seconds), whichever is longer
    estimate_s = max(float(first.microseconds[0]) / 1e6, time.perf_counter() - began, 1e-6)
    device_s = max(float(first.microseconds[0]) / 1e6, 1e-9)
    runs = max(settings.runs, math.ceil(settings.min_time_s / device_s))
    budget = settings.timeout_s + 3 * estimate_s * (settings.warmup + runs)
    unit, per_tick = measure_unit(info, result_hz=first.timer_hz)
    if progress:
        each = format_value(rounded(first.ticks[0] * per_tick, unit), unit)
        progress(f"{runs} timed runs after {settings.warmup} warmup, about {each} each")
    result = client.infer(settings.warmup, runs, budget, settings.profile)
    outputs = [client.read_output(i) for i in range(len(info["outputs"]))]
    after = client.info()

    reference = artifact.reference_outputs(model, target.reference_runtime or info["runtime"]["name"], inputs)
    check = artifact.compare_outputs(outputs, reference, info["outputs"], settings.tolerance)
    samples = result.ticks.astype(np.float64) * per_tick
    return new_report(
        model=artifact.model_section(model),
        target={
            "name": target.name,
            "backend": target.backend,
            "description": target.description,
            "link": target.link or client.link.name,
            "board": info.get("board"),
            "cpu": info.get("cpu"),
        },  # fmt: skip
        runtime=info.get("runtime", {}),
        settings={"warmup": settings.warmup, "runs": runs, "min_time_s": settings.min_time_s, "seed": settings.seed},
        timer=info.get("timer", {}) | {"hz": result.timer_hz},
        latency=latency_stats(samples, unit),
        first_inference=rounded(first.ticks[0] * per_tick, unit),
        load_ms=info.get("load_ms"),
        memory=after.get("memory", {}),
        link={
            "upload_bytes": uploaded,
            "upload_bytes_per_s": round(uploaded / upload_s, 1) if upload_s > 0 else None,
            "retries": client.retried,
            "bad_frames": client.parser.bad_frames,
            "baud": client.link.baud,
        },
        output_check=check,
        samples=[rounded(s, unit) for s in samples],
        samples_ticks=[int(t) for t in result.ticks],
        profile=client.profile() if settings.profile else None,
        device_info=after,
    )


def measure_unit(info: dict, result_hz: int) -> tuple[str, float]:
    """What the device's timer counts, and how much of it one tick is: microseconds, or instructions for
    an emulated board, whose INFO gives the instructions its emulated clock runs a second."""
    per_second = (info.get("timer") or {}).get("instructions_per_s")
    if per_second:
        return "instructions", float(per_second) / result_hz
    return "us", 1e6 / result_hz


def _same_model(info: dict, model: Path, port: str) -> None:
    reported = (info.get("model") or {}).get("sha256")
    if reported and reported != sha256_path(model):
        raise DeviceError(
            f"{port} runs {info['model'].get('name', 'another model')} (sha256 {reported[:12]}…), not {model}; "
            "deploy or flash this model first"
        )
