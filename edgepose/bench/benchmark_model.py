"""TensorFlow Lite's ``benchmark_model`` tool: its output read, and made into a benchmark report.

Phones are measured with the tool TensorFlow ships for it rather than an agent of ours: it is what mobile
teams already run, it drives every delegate (XNNPACK, GPU, NNAPI), and its numbers are the ones they quote.
What it prints (``tensorflow/lite/tools/benchmark/benchmark_model.cc`` and ``stats_calculator.h``), each line
with or without a ``INFO:`` prefix as its versions log them:

- its parameters, one per line: ``Num threads: [4]``, ``Use gpu: [1]``, ``Graph: [/data/local/tmp/m.tflite]``;
- for the warmup runs and then for the timed ones, ``count=50 first=.. curr=.. min=.. max=.. avg=.. std=..``,
  with `` p5=.. median=.. p95=..`` where it keeps percentiles; ``count=1 curr=..`` when every run took the
  same time, ``count=0`` when there was none;
- ``Inference timings in us: Init: .., First inference: .., Warmup (avg): .., Inference (avg): ..`` (older
  versions: ``Average inference timings in us: Warmup: .., Init: .., Inference: ..``);
- ``Memory footprint delta from the start of the tool (MB): init=.. overall=..`` and ``Overall peak memory
  footprint (MB) via periodic monitoring: ..``;
- with ``--enable_op_profiling``, tables per phase (``Profiling Info for Benchmark Initialization``,
  ``Operator-wise Profiling Info for Regular Benchmark Runs``): ``Run Order``, ``Top by Computation Time``
  and ``Summary by node type``, tab-separated, times in ms (a ``[start]`` column in older versions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from edgepose.bench.report import new_report
from edgepose.errors import DataError

_PREFIX = re.compile(r"^(?:INFO|WARN|WARNING|ERROR|VERBOSE): ")
_NUMBER = r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|nan|inf)"
_PAIR = re.compile(rf"(\w+)=({_NUMBER})")
_PARAM = re.compile(r"^(?P<key>[A-Za-z#][^:\[\]]*): \[(?P<value>.*)\]$")
_TIMINGS = re.compile(r"inference timings in us: (?P<pairs>.*)$", re.IGNORECASE)
_TIMING = re.compile(rf"(?P<key>[A-Za-z][A-Za-z ()]*?): (?P<value>{_NUMBER})")
_FOOTPRINT = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): init=({_NUMBER}) overall=({_NUMBER})"
)
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})")
_MODEL_SIZE = re.compile(rf"The input model file size \(MB\): ({_NUMBER})")
_OP_ROW = re.compile(
    rf"^\s*(?P<type>\S.*?)\s+(?:(?P<start>{_NUMBER})\s+)?(?P<first>{_NUMBER})\s+(?P<avg>{_NUMBER})\s+"
    rf"(?P<percent>{_NUMBER})%\s+(?P<cdf>{_NUMBER})%\s+(?P<mem>{_NUMBER})\s+(?P<called>\d+)\s+\[(?P<name>.*)\](?::(?P<node>\d+))?\s*$"
)
_TYPE_ROW = re.compile(
    rf"^\s*(?P<type>\S.*?)\s+(?P<count>\d+)\s+(?P<avg>{_NUMBER})\s+(?P<percent>{_NUMBER})%\s+"
    rf"(?P<cdf>{_NUMBER})%\s+(?P<mem>{_NUMBER})\s+(?P<called>\d+)\s*$"
)
_TABLE = re.compile(r"^=+ (?P<title>.+?) =+$")
DELEGATE_PARAMS = {"Use gpu": "gpu", "Use NNAPI": "nnapi", "Use xnnpack": "xnnpack", "Use Hexagon": "hexagon"}


@dataclass
class RunStats:
    """One ``count=..`` line: the runs of one phase, in µs."""

    count: int
    first: float | None = None
    curr: float | None = None
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    std: float | None = None
    p5: float | None = None
    median: float | None = None
    p95: float | None = None


@dataclass
class BenchmarkModelLog:
    """What one ``benchmark_model`` run printed."""

    params: dict[str, str] = field(default_factory=dict)
    warmup: RunStats | None = None
    inference: RunStats | None = None
    timings_us: dict[str, float] = field(default_factory=dict)  # "Init", "First inference", "Warmup (avg)", ...
    memory_mb: dict[str, float] = field(default_factory=dict)  # init, overall, peak
    model_size_mb: float | None = None
    delegation: list[str] = field(default_factory=list)  # what it said about delegates, in order
    ops: list[dict] = field(default_factory=list)  # Run Order of the timed runs
    op_types: list[dict] = field(default_factory=list)  # Summary by node type of the timed runs
    init_ops: list[dict] = field(default_factory=list)  # Run Order of the initialization, where profiled
    errors: list[str] = field(default_factory=list)

    @property
    def delegate(self) -> str:
        """``gpu``, ``nnapi``, ``xnnpack``, ``hexagon`` (the ones asked for, joined by ``+``) or ``cpu``."""
        asked = [name for key, name in DELEGATE_PARAMS.items() if self.params.get(key) in ("1", "true")]
        return "+".join(asked) or "cpu"

    @property
    def threads(self) -> int | None:
        value = self.params.get("Num threads") or self.params.get("#threads used for CPU inference")
        return int(value) if value and value.lstrip("-").isdigit() and int(value) > 0 else None


def parse(text: str, source: str = "benchmark_model output") -> BenchmarkModelLog:
    """Read what ``benchmark_model`` printed; a text without its timings is an error naming ``source``."""
    log = BenchmarkModelLog()
    stats: list[RunStats] = []
    phase, table = "regular", None
    for raw in text.splitlines():
        line = _PREFIX.sub("", raw.rstrip())
        if raw.startswith("ERROR: ") or line.startswith("Error: "):
            log.errors.append(line)
        if "Profiling Info for Benchmark Initialization" in line:
            phase, table = "init", None
        elif "Profiling Info for Regular Benchmark Runs" in line:
            phase, table = "regular", None
        if heading := _TABLE.match(line.strip()):
            table = heading["title"]
            continue
        if table and _table_row(log, phase, table, raw):
            continue
        if line.startswith("count="):
            stats.append(_run_stats(line))
        elif match := _PARAM.match(line):
            log.params.setdefault(match["key"], match["value"])
        elif match := _TIMINGS.search(line):
            log.timings_us.update(_timings(match["pairs"]))
        elif match := _FOOTPRINT.search(line):
            log.memory_mb.update(init=float(match[1]), overall=float(match[2]))
        elif match := _PEAK.search(line):
            log.memory_mb["peak"] = float(match[1])
        elif match := _MODEL_SIZE.search(line):
            log.model_size_mb = float(match[1])
        elif "delegate" in line.lower() and not table:
            log.delegation.append(line.strip())
    if not log.timings_us and len(stats) < 2:
        reason = f": {log.errors[0]}" if log.errors else ""
        raise DataError(
            f"{source}: no benchmark_model timings (no 'Inference timings in us' line){reason}; give the full "
            "output of a run that finished"
        )
    if len(stats) >= 2:  # the warmup phase's line, then the timed runs'
        log.warmup, log.inference = stats[-2], stats[-1]
    elif stats:
        log.inference = stats[-1]
    return log


def _run_stats(line: str) -> RunStats:
    values = {key: float(value) for key, value in _PAIR.findall(line)}
    stats = RunStats(count=int(values.pop("count", 0)))
    for key, value in values.items():
        if hasattr(stats, key):
            setattr(stats, key, value)
    if stats.count and stats.min is None and stats.curr is not None:  # every run the same: "count=5 curr=.."
        stats.first = stats.min = stats.max = stats.avg = stats.median = stats.curr
        stats.std = 0.0
    return stats


def _timings(pairs: str) -> dict[str, float]:
    found = {m["key"].strip(): float(m["value"]) for m in _TIMING.finditer(pairs)}
    if "Warmup" in found and "Warmup (avg)" not in found:  # older tools: "Warmup: .., Init: .., Inference: .."
        found["Warmup (avg)"] = found.pop("Warmup")
        if "Inference" in found:
            found["Inference (avg)"] = found.pop("Inference")
    return found


def _table_row(log: BenchmarkModelLog, phase: str, table: str, raw: str) -> bool:
    """A row of an op-profiling table, kept where it is one: Run Order and Summary by node type."""
    if table == "Run Order" and (row := _OP_ROW.match(raw)):
        op = {
            "type": row["type"].strip(), "name": row["name"],
            "start_ms": float(row["start"]) if row["start"] else None, "first_ms": float(row["first"]),
            "avg_ms": float(row["avg"]), "percent": float(row["percent"]), "mem_kb": float(row["mem"]),
            "times_called": int(row["called"]),
        }  # fmt: skip
        (log.init_ops if phase == "init" else log.ops).append(op)
        return True
    if table == "Summary by node type" and (row := _TYPE_ROW.match(raw)):
        if phase == "regular":
            log.op_types.append({
                "type": row["type"].strip(), "count": int(row["count"]), "avg_ms": float(row["avg"]),
                "percent": float(row["percent"]), "times_called": int(row["called"]),
            })  # fmt: skip
        return True
    return table in ("Run Order", "Top by Computation Time", "Summary by node type") and bool(_OP_ROW.match(raw))


def report_from_log(
    log: BenchmarkModelLog, target: dict, model: Path | None = None, settings: dict | None = None
) -> dict:
    """The common report for one ``benchmark_model`` run on ``target`` (its name, backend, description,
    link, and what is known of the device). ``model``: the ``.tflite`` that was measured, when it is here;
    else the report names the graph the tool loaded."""
    inference = log.inference
    if inference is None or not inference.count:
        raise DataError("benchmark_model made no timed run (count=0): give it --num_runs of at least 1")
    return new_report(
        model=_model(log, model),
        target=target,
        runtime={"name": "litert", "tool": "benchmark_model", "delegate": log.delegate, "threads": log.threads},
        settings={
            "warmup": log.warmup.count if log.warmup else None,
            "runs": inference.count,
            "min_time_s": None,
            "seed": None,  # benchmark_model's own random inputs
            **(settings or {}),
        },
        timer={"source": "benchmark_model (NowMicros)", "hz": 1_000_000, "resolution_ns": 1000},
        latency=_latency(inference),
        first_inference=log.timings_us.get("First inference", log.warmup.first if log.warmup else None),
        warmup=_latency(log.warmup) if log.warmup and log.warmup.count else None,
        load_ms=_ms(log.timings_us.get("Init")),
        memory=_memory(log),
        output_check={"passed": None, "reason": "benchmark_model runs random inputs and returns no outputs"},
        samples=[],
        profile=[
            {
                "name": op["name"],
                "type": op["type"],
                "avg_ms": op["avg_ms"],
                "first_ms": op["first_ms"],
                "percent": op["percent"],
            }
            for op in log.ops
        ]
        or None,  # fmt: skip
        op_types=log.op_types or None,
        delegation=log.delegation,
        device_info={"benchmark_model": log.params},
    )


def _model(log: BenchmarkModelLog, model: Path | None) -> dict:
    if model is not None:
        from edgepose.bench.artifact import model_section

        return model_section(model)
    graph = log.params.get("Graph", "")
    size = round(log.model_size_mb * 1e6) if log.model_size_mb else None
    return {"path": graph, "name": graph.rsplit("/", 1)[-1] or "unknown", "sha256": None, "bytes": size,
            "format": "tflite", "kind": None}  # fmt: skip


def _latency(stats: RunStats) -> dict:
    """In the report's terms: µs; ``p50`` is the median where the tool kept percentiles, else its average
    (``p50_is_mean``: the tool printed no median)."""
    latency = {"unit": "us", "runs": stats.count, "min": stats.min, "max": stats.max, "mean": stats.avg}
    latency["std"] = stats.std
    if stats.median is not None:
        latency.update(p5=stats.p5, p50=stats.median, p95=stats.p95)
    else:
        latency.update(p50=stats.avg, p50_is_mean=True)
    if stats.avg:
        latency["throughput_ips"] = round(1e6 / stats.avg, 2)
    return {key: value for key, value in latency.items() if value is not None}


def _memory(log: BenchmarkModelLog) -> dict:
    mb = 1 << 20
    memory = {}
    if "peak" in log.memory_mb and log.memory_mb["peak"] > 0:
        memory["peak_footprint_bytes"] = round(log.memory_mb["peak"] * mb)
    if "overall" in log.memory_mb:
        memory["footprint_delta_bytes"] = round(log.memory_mb["overall"] * mb)
        memory["init_footprint_delta_bytes"] = round(log.memory_mb["init"] * mb)
    return memory


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 3)
