#!/usr/bin/env python3
"""The edgepose board agent: loads one model and serves the edgepose wire protocol (docs/protocol.md).

One self-contained file, so that it can be copied onto a Linux board (Raspberry Pi, any aarch64/armv7
board) that has numpy and one runtime — ai-edge-litert (or tflite-runtime) for .tflite, onnxruntime for
.onnx — and nothing else: no TensorFlow, no edgepose. It speaks over its stdin/stdout (the host target,
ssh) or over a serial device (a UART, a USB gadget):

    python3 agent.py MODEL.tflite --stdio
    python3 agent.py MODEL.tflite --port /dev/ttyGS0 --baud 921600

The protocol's framing and message layouts live in ``wire.py`` (standard library only), which travels
beside this file: the host side imports the same module, so there is one Python implementation. Keep the
agent standard library plus numpy, and importable without either runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import select
import sys
import time
from collections.abc import Callable

if __package__:  # imported as edgepose.agent (the host side, the tests)
    from edgepose import wire
else:  # run as a script on a board, with wire.py beside it
    import wire  # type: ignore[no-redef]

# ------------------------------------------------------------------------------------------------ transport


class FdLink:
    """Bytes over file descriptors: stdin/stdout, or a tty opened raw at a baud rate."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd, self.write_fd = read_fd, write_fd

    @classmethod
    def stdio(cls) -> FdLink:
        # Keep the protocol's stdout to ourselves: anything a runtime prints goes to stderr instead.
        out = os.dup(1)
        os.dup2(2, 1)
        return cls(0, out)

    @classmethod
    def tty(cls, path: str, baud: int) -> FdLink:
        import termios
        import tty

        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        speed = getattr(termios, f"B{baud}", None)
        if speed is not None:
            attributes = termios.tcgetattr(fd)
            attributes[4] = attributes[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
        return cls(fd, fd)

    def read(self, timeout: float | None) -> bytes:
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if not ready:
            return b""
        data = os.read(self.read_fd, 65536)
        if not data:
            raise EOFError
        return data

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]


# ------------------------------------------------------------------------------------------------ runtimes


class Model:
    """A loaded model with raw-tensor I/O: bytes in the model's own input dtype in, bytes out."""

    runtime = ""
    version = ""

    def __init__(self, path: str, threads: int) -> None:
        self.path, self.threads = path, threads
        self.inputs: list[dict] = []
        self.outputs: list[dict] = []

    def set_input(self, index: int, data: bytes) -> None:
        raise NotImplementedError

    def invoke(self) -> None:
        raise NotImplementedError

    def output(self, index: int) -> bytes:
        raise NotImplementedError


def _spec(name: str, dtype, shape, scale: float = 0.0, zero_point: int = 0) -> dict:
    import numpy as np

    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    return {"name": name, "dtype": dtype.name, "shape": [int(d) for d in shape], "bytes": size,
            "scale": float(scale), "zero_point": int(zero_point)}  # fmt: skip


class LiteRTModel(Model):
    def __init__(self, path: str, threads: int) -> None:
        super().__init__(path, threads)
        try:
            from ai_edge_litert.interpreter import Interpreter

            self.runtime = "litert"
            self.version = _package_version("ai-edge-litert")
        except ImportError:
            from tflite_runtime.interpreter import Interpreter  # the older standalone wheel on some boards

            self.runtime = "tflite-runtime"
            self.version = _package_version("tflite-runtime")
        self.interpreter = Interpreter(model_path=path, num_threads=threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()
        self._out = self.interpreter.get_output_details()
        self.inputs = [_spec(d["name"], d["dtype"], d["shape"], *d["quantization"]) for d in self._in]
        self.outputs = [_spec(d["name"], d["dtype"], d["shape"], *d["quantization"]) for d in self._out]

    def set_input(self, index: int, data: bytes) -> None:
        import numpy as np

        spec, detail = self.inputs[index], self._in[index]
        array = np.frombuffer(data, dtype=spec["dtype"]).reshape(spec["shape"])
        self.interpreter.set_tensor(detail["index"], array)

    def invoke(self) -> None:
        self.interpreter.invoke()

    def output(self, index: int) -> bytes:
        return self.interpreter.get_tensor(self._out[index]["index"]).tobytes()


class OnnxModel(Model):
    _DTYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
               "tensor(float16)": "float16", "tensor(int32)": "int32", "tensor(int64)": "int64"}  # fmt: skip

    def __init__(self, path: str, threads: int) -> None:
        super().__init__(path, threads)
        import onnxruntime as ort

        self.runtime, self.version = "onnxruntime", ort.__version__
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.inputs = [self._spec(i) for i in self.session.get_inputs()]
        self.outputs = [self._spec(o) for o in self.session.get_outputs()]
        self._feed: dict = {}
        self._results: list = []

    def _spec(self, arg) -> dict:
        if arg.type not in self._DTYPES:
            raise ValueError(f"{arg.name}: tensor type {arg.type} is not supported by the agent")
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]  # a symbolic batch is one image
        return _spec(arg.name, self._DTYPES[arg.type], shape)

    def set_input(self, index: int, data: bytes) -> None:
        import numpy as np

        spec = self.inputs[index]
        self._feed[spec["name"]] = np.frombuffer(data, dtype=spec["dtype"]).reshape(spec["shape"])

    def invoke(self) -> None:
        self._results = self.session.run(None, self._feed)

    def output(self, index: int) -> bytes:
        import numpy as np

        return np.ascontiguousarray(self._results[index], dtype=self.outputs[index]["dtype"]).tobytes()


def _package_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # noqa: BLE001 - a version is information, never a reason to fail
        return "unknown"


def load_model(path: str, runtime: str | None, threads: int) -> Model:
    with open(path, "rb") as file:
        head = file.read(8)
    if runtime is None:
        runtime = "litert" if head[4:8] == b"TFL3" else "onnxruntime"
    return LiteRTModel(path, threads) if runtime == "litert" else OnnxModel(path, threads)


# ------------------------------------------------------------------------------------------------ the agent


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _peak_rss_bytes() -> int | None:
    """This process's peak resident memory. On Linux from VmHWM: ``ru_maxrss`` survives ``execve``, so an
    agent started by a large process (the edgepose CLI with TensorFlow loaded) would report its parent's."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB
    except (ImportError, OSError):
        return None


class Agent:
    """Serves one model: every request gets exactly one reply, and a repeated request (same sequence number
    and type: the host retrying after a lost reply) gets the same reply again without being executed twice."""

    def __init__(self, model: Model, load_seconds: float, board: str = "") -> None:
        self.model = model
        self.load_seconds = load_seconds
        self.board = board or platform.node()
        with open(model.path, "rb") as file:
            self.sha256 = hashlib.sha256(file.read()).hexdigest()
        self.first_inference_us: float | None = None
        self.inputs = [bytearray(spec["bytes"]) for spec in model.inputs]
        self.received = [0] * len(model.inputs)
        self.outputs: list[bytes] = []
        self.timings = b""
        self._info_bytes = b""
        self._last: tuple[int, int, bytes] | None = None  # (seq, type, encoded reply)
        # Asked between runs of a long INFER (about every 50 ms, outside the timed region): True when a
        # RESET has arrived, so that a host interrupted with Ctrl-C finds the agent idle and cleared.
        self.reset_requested: Callable[[], bool] = lambda: False

    def info(self) -> dict:
        timer_resolution = time.get_clock_info("perf_counter").resolution
        return {
            "protocol": wire.PROTOCOL_VERSION,
            "target": "linux",
            "board": self.board,
            "cpu": {"model": _cpu_model(), "arch": platform.machine(), "cores": os.cpu_count(), "clock_hz": None},
            "timer": {"hz": 1_000_000_000, "resolution_ns": timer_resolution * 1e9, "source": "perf_counter_ns"},
            "model": {
                "name": os.path.basename(self.model.path),
                "sha256": self.sha256,
                "bytes": os.path.getsize(self.model.path),
            },  # fmt: skip
            "runtime": {"name": self.model.runtime, "version": self.model.version, "threads": self.model.threads},
            "inputs": self.model.inputs,
            "outputs": self.model.outputs,
            "memory": {"peak_rss_bytes": _peak_rss_bytes()},
            "load_ms": round(self.load_seconds * 1e3, 3),
            "first_inference_us": self.first_inference_us,
            "python": platform.python_version(),
        }

    def handle(self, frame: wire.Frame) -> bytes:
        """The encoded reply to one request."""
        if frame.version != wire.PROTOCOL_VERSION:
            return wire.error_frame(
                frame.seq, wire.E_VERSION, f"agent speaks protocol v{wire.PROTOCOL_VERSION}"
            ).encode()
        if self._last and self._last[:2] == (frame.seq, frame.type) and frame.type != wire.HELLO:
            return self._last[2]
        try:
            reply = self._dispatch(frame)
        except wire.ProtocolError as error:
            reply = wire.error_frame(frame.seq, wire.E_BAD_REQUEST, str(error))
        encoded = reply.encode()
        self._last = (frame.seq, frame.type, encoded)
        return encoded

    def _dispatch(self, frame: wire.Frame) -> wire.Frame:
        seq = frame.seq
        if frame.type == wire.HELLO:
            self._info_bytes = json.dumps(self.info(), separators=(",", ":")).encode()
            return wire.Frame(
                wire.HELLO_OK, seq, wire.HELLO_OK_LAYOUT.pack(wire.MAX_PAYLOAD, len(self._info_bytes), wire.WINDOW)
            )
        if frame.type == wire.READ:
            return self._read(seq, *wire.unpack(wire.READ_LAYOUT, frame))
        if frame.type == wire.WRITE:
            return self._write(seq, *wire.unpack(wire.WRITE_LAYOUT, frame, tail=True))
        if frame.type == wire.INFER:
            return self._infer(seq, *wire.unpack(wire.INFER_LAYOUT, frame))
        if frame.type == wire.RESET:
            self.received = [0] * len(self.inputs)
            self.outputs, self.timings = [], b""
            return wire.Frame(wire.RESET_OK, seq)
        return wire.error_frame(seq, wire.E_UNKNOWN_TYPE, f"message type {frame.type:#04x}")

    def _blob(self, blob: int, index: int) -> bytes | None:
        if blob == wire.BLOB_INFO:
            self._info_bytes = json.dumps(self.info(), separators=(",", ":")).encode()
            return self._info_bytes
        if blob == wire.BLOB_OUTPUT and index < len(self.outputs):
            return self.outputs[index]
        if blob == wire.BLOB_INPUT and index < len(self.inputs):
            return bytes(self.inputs[index][: self.received[index]])  # read back: what the device holds
        if blob == wire.BLOB_TIMINGS:
            return self.timings
        if blob == wire.BLOB_PROFILE:
            return b"[]"  # per-layer timing is not exposed by the Python runtimes
        return None

    def _read(self, seq: int, blob: int, index: int, offset: int, length: int) -> wire.Frame:
        # INFO is re-read in chunks: keep the snapshot HELLO made unless the read starts again at 0.
        data = self._info_bytes if blob == wire.BLOB_INFO and offset > 0 else self._blob(blob, index)
        if data is None:
            return wire.error_frame(
                seq, wire.E_BAD_BLOB, f"blob {blob} index {index} (run INFER before reading outputs)"
            )
        if offset > len(data):
            return wire.error_frame(seq, wire.E_RANGE, f"offset {offset} > {len(data)} bytes")
        length = min(length, wire.MAX_PAYLOAD - wire.DATA_LAYOUT.size)
        return wire.Frame(wire.DATA, seq, wire.DATA_LAYOUT.pack(offset, len(data)) + data[offset : offset + length])

    def _write(self, seq: int, blob: int, index: int, offset: int, total: int, data: bytes) -> wire.Frame:
        if blob != wire.BLOB_INPUT or index >= len(self.inputs):
            return wire.error_frame(seq, wire.E_BAD_BLOB, f"blob {blob} index {index} cannot be written")
        buffer = self.inputs[index]
        if total != len(buffer):
            return wire.error_frame(seq, wire.E_TOO_LARGE, f"input {index} is {len(buffer)} bytes, not {total}")
        if offset + len(data) > total:
            return wire.error_frame(seq, wire.E_RANGE, f"bytes {offset}..{offset + len(data)} of {total}")
        # Offset 0 starts the upload again. Bytes past a gap (an earlier frame was lost) are not kept: the
        # count in the reply tells the host where to resume, as in go-back-N.
        if offset == 0:
            self.received[index] = 0
        if offset <= self.received[index]:
            buffer[offset : offset + len(data)] = data
            self.received[index] = max(self.received[index], offset + len(data))
        return wire.Frame(wire.WRITTEN, seq, wire.WRITTEN_LAYOUT.pack(self.received[index]))

    def _infer(self, seq: int, warmup: int, runs: int, profile: int) -> wire.Frame:
        missing = [i for i, (got, buf) in enumerate(zip(self.received, self.inputs, strict=True)) if got < len(buf)]
        if missing:
            return wire.error_frame(seq, wire.E_NOT_READY, f"input {missing[0]} has {self.received[missing[0]]} bytes")
        if not 1 <= runs <= wire.MAX_TIMED_RUNS:
            return wire.error_frame(seq, wire.E_BAD_REQUEST, f"INFER needs 1 to {wire.MAX_TIMED_RUNS} timed runs")
        if warmup > wire.MAX_WARMUP_RUNS:
            return wire.error_frame(seq, wire.E_BAD_REQUEST, f"INFER takes at most {wire.MAX_WARMUP_RUNS} warmup runs")
        try:
            for index, data in enumerate(self.inputs):
                self.model.set_input(index, bytes(data))
            ticks = []
            polled = time.perf_counter_ns()
            for run in range(warmup + runs):
                if time.perf_counter_ns() - polled > 50_000_000:
                    if self.reset_requested():
                        return wire.error_frame(seq, wire.E_ABORTED, f"RESET after {len(ticks)} of {runs} timed runs")
                    polled = time.perf_counter_ns()
                start = time.perf_counter_ns()
                self.model.invoke()
                elapsed = time.perf_counter_ns() - start
                if self.first_inference_us is None:
                    self.first_inference_us = elapsed / 1e3
                if run >= warmup:
                    ticks.append(elapsed)
            self.outputs = [self.model.output(i) for i in range(len(self.model.outputs))]
        except Exception as error:  # noqa: BLE001 - the runtime's failure goes back to the host as a reply
            return wire.error_frame(seq, wire.E_RUNTIME, f"{type(error).__name__}: {error}")
        self.timings = b"".join(wire.TIMING.pack(t) for t in ticks)
        return wire.Frame(
            wire.INFERRED, seq, wire.INFERRED_LAYOUT.pack(runs, 1_000_000_000, min(ticks), max(ticks), sum(ticks))
        )


def serve(agent: Agent, link: FdLink) -> None:
    """Answer requests until the link closes. wire.INFER is acknowledged with wire.STARTED before it runs, so the host
    can tell a lost request (retry soon) from a long inference (wait)."""
    parser = wire.FrameParser()
    pending: list[wire.Frame] = []  # requests that arrived while an INFER ran

    def reset_requested() -> bool:
        with contextlib.suppress(EOFError):
            pending.extend(parser.feed(link.read(0)))
        return any(frame.type == wire.RESET for frame in pending)

    agent.reset_requested = reset_requested
    while True:
        try:
            data = b"" if pending else link.read(None)
        except EOFError:
            return
        frames, pending[:] = pending + parser.feed(data), []
        for kind, seq in parser.damaged:
            if kind < 0x80:  # a request: ask for it again now rather than let the host time out
                link.write(wire.error_frame(seq, wire.E_DAMAGED, wire.NAMES.get(kind, "request")).encode())
        parser.damaged.clear()
        for frame in frames:
            if frame.type == wire.INFER and frame.version == wire.PROTOCOL_VERSION:
                link.write(wire.Frame(wire.STARTED, frame.seq).encode())
            link.write(agent.handle(frame))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve one model over the edgepose wire protocol.")
    parser.add_argument("model", help=".tflite or .onnx file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stdio", action="store_true", help="speak over stdin/stdout")
    where.add_argument("--port", help="speak over this serial device, e.g. /dev/ttyGS0")
    parser.add_argument("--baud", type=int, default=921600)
    parser.add_argument("--runtime", choices=("litert", "onnxruntime"), help="default: by the file's content")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--board", default="", help="the board's name, reported in INFO")
    args = parser.parse_args(argv)
    link = FdLink.stdio() if args.stdio else FdLink.tty(args.port, args.baud)
    start = time.perf_counter()
    try:
        model = load_model(args.model, args.runtime, args.threads)
    except Exception as error:  # noqa: BLE001 - one line for the host to show, not a traceback
        print(f"agent: cannot load {args.model}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    agent = Agent(model, time.perf_counter() - start, args.board)
    print(f"agent: serving {args.model} with {model.runtime} {model.version}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        serve(agent, link)
    return 0


if __name__ == "__main__":
    sys.exit(main())
