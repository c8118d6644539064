"""Upload throughput of the wire protocol against the link's raw byte rate, over a paced pty pair.

A ``SerialWire`` (two pseudo-terminals and a thread, paced at baud/10 bytes a second: 8N1) stands between
the benchmark client and the board agent, as a UART cable would. For each baud rate the same input is
uploaded several times with the client's WRITE window as the device announces it (4 frames for the agent)
and with a window of 1 (stop-and-wait: each frame waits for its acknowledgement), and read back once.
The issue's target: at least 85% of baud/10 at 115200 and 921600 baud. For scale, MLPerf Tiny's runner
sends the input as hex text in 31-byte commands: at most half of the link, before any acknowledgement.

    .venv/bin/python benchmarks/bench_link.py [--bytes 49152] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _record import record  # noqa: E402

from edgepose.backends.host import AGENT  # noqa: E402
from edgepose.bench.client import Client  # noqa: E402
from edgepose.bench.links import SerialLink  # noqa: E402
from edgepose.bench.linksim import SerialWire  # noqa: E402
from edgepose.wire import BLOB_INPUT  # noqa: E402


def model_with_input(path: Path, size: int) -> Path:
    """A one-layer float model whose input is ``size`` bytes (a float32 square RGB image, rounded down)."""
    import keras
    import tensorflow as tf

    side = int((size / 12) ** 0.5)
    image = keras.Input((side, side, 3))
    model = keras.Model(image, keras.layers.Conv2D(1, 1)(image))
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def measure(model: Path, baud: int, window: int | None, repeat: int) -> dict:
    with SerialWire(baud=baud) as cable:
        agent = subprocess.Popen([sys.executable, str(AGENT), str(model), "--port", cable.device_port],
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            client = Client(SerialLink(cable.host_port, baud), timeout=1.0)
            with client.link:
                info = client.hello()
                if window:
                    client.window = window
                data = os.urandom(info["inputs"][0]["bytes"])
                client.write_input(0, data)  # once untimed: the frame size settles, the round trip is measured
                started = time.perf_counter()
                for _ in range(repeat):
                    client.write_input(0, data)
                upload_s = (time.perf_counter() - started) / repeat
                started = time.perf_counter()
                assert client.read_blob(BLOB_INPUT, 0) == data
                download_s = time.perf_counter() - started
        finally:
            agent.terminate()
            agent.wait()
    raw = baud / 10
    return {
        "baud": baud,
        "window": client.window,
        "bytes": len(data),
        "upload_bytes_per_s": round(len(data) / upload_s, 1),
        "upload_share_of_raw": round(len(data) / upload_s / raw, 4),
        "readback_share_of_raw": round(len(data) / download_s / raw, 4),
        "retries": client.retried,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=49152, help="input size (the tiny model's 128x128x3 int8)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    model = model_with_input(Path(tempfile.mkdtemp(prefix="bench-link-")) / "input.tflite", args.bytes)
    rows = []
    for baud in (115200, 921600):
        for window in (None, 1):
            row = measure(model, baud, window, args.repeat if baud > 115200 else 1)
            rows.append(row)
            share, back = row["upload_share_of_raw"], row["readback_share_of_raw"]
            print(f"{baud:7d} baud  window {row['window']}  upload {row['upload_bytes_per_s']:9.1f} B/s "
                  f"= {share:.1%} of baud/10   read back {back:.1%}   retries {row['retries']}")  # fmt: skip
    record("bench_link", {"rows": rows, "target_share": 0.85})


if __name__ == "__main__":
    main()
