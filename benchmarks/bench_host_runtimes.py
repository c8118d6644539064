"""The same float and int8 models in LiteRT and ONNX Runtime, measured through the board agent (the
``host`` target: a subprocess speaking the wire protocol over stdio) and in-process, and the agent's
overhead against in-process timing (target: <= 2%).

Both sides time the engine's inference call alone with ``perf_counter_ns``, one thread, each in a fresh
Python process that imports only numpy and the runtime (a process that has imported TensorFlow runs the
same engine measurably differently): in-process, a loop around the runtime's own call; through the agent,
the full benchmark over the wire protocol. They alternate, three rounds each, so that drift on this shared
machine falls on both; the overhead is the ratio of the mean p50s, minus one.

    .venv/bin/python benchmarks/bench_host_runtimes.py [--models tiny,mobilenetv2_heatmaps] [--runs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _record import record  # noqa: E402
from bench_host_latency import artifacts  # noqa: E402

from edgepose.backends import host  # noqa: E402
from edgepose.bench.artifact import numeric_kind  # noqa: E402
from edgepose.bench.client import Client  # noqa: E402
from edgepose.bench.harness import Settings, Target, benchmark  # noqa: E402

IN_PROCESS = """
import json, sys, time
import numpy as np
path, warmup, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
if path.endswith(".tflite"):
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=path, num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    info = np.iinfo(detail["dtype"]) if np.dtype(detail["dtype"]).kind in "iu" else None
    sample = (rng.integers(info.min, info.max, detail["shape"], endpoint=True) if info else
              rng.uniform(-1, 1, detail["shape"])).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], sample)
    call = interpreter.invoke
else:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    arg = session.get_inputs()[0]
    feed = {arg.name: rng.uniform(-1, 1, [d if isinstance(d, int) else 1 for d in arg.shape]).astype(np.float32)}
    call = lambda: session.run(None, feed)
for _ in range(warmup):
    call()
times = []
for _ in range(runs):
    start = time.perf_counter_ns()
    call()
    times.append(time.perf_counter_ns() - start)
print(json.dumps({"p50_ms": float(np.median(times)) / 1e6}))
"""


def in_process(path: Path, warmup: int, runs: int) -> float:
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(path), str(warmup), str(runs)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])["p50_ms"]


def through_agent(path: Path, warmup: int, runs: int) -> dict:
    client = Client(host.open_link(path, None, threads=1))
    with client.link:
        report = benchmark(client, path, Target("host", "host"), Settings(warmup=warmup, runs=runs))
    assert report["output_check"]["passed"], report["output_check"]
    return {"p50_ms": report["latency"]["p50"] / 1e3, "runtime": report["runtime"]["name"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,mobilenetv2_heatmaps")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-runtimes-"))
    rows = []
    for name in args.models.split(","):
        for path in artifacts(name, scratch):
            kind = numeric_kind(path)
            if kind not in ("float32", "int8"):
                continue  # fp16 and dynamic-range variants: see bench_host_latency
            inproc, agent = [], []
            for _ in range(3):
                inproc.append(in_process(path, args.warmup, args.runs))
                measured = through_agent(path, args.warmup, args.runs)
                agent.append(measured["p50_ms"])
            row = {
                "model": name, "artifact": path.name, "kind": kind, "runtime": measured["runtime"],
                "in_process_p50_ms": round(statistics.fmean(inproc), 4),
                "agent_p50_ms": round(statistics.fmean(agent), 4),
            }  # fmt: skip
            row["agent_overhead"] = round(row["agent_p50_ms"] / row["in_process_p50_ms"] - 1, 4)
            rows.append(row)
            print(f"{name:22s} {path.name:34s} {kind:8s} {row['runtime']:12s} "
                  f"in-process {row['in_process_p50_ms']:8.3f} ms  agent {row['agent_p50_ms']:8.3f} ms  "
                  f"overhead {row['agent_overhead']:+.2%}")  # fmt: skip
    record("bench_host_runtimes", {"warmup": args.warmup, "runs": args.runs, "threads": 1, "rows": rows})


if __name__ == "__main__":
    main()
