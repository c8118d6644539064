#!/usr/bin/env python3
"""The edgepose board agent: loads one model and serves the edgepose wire protocol (docs/protocol.md).

One self-contained file, so that it can be copied onto a Linux board (Raspberry Pi, any aarch64/armv7
board) that has numpy and one runtime — ai-edge-litert (or tflite-runtime) for .tflite, onnxruntime for
.onnx — and nothing else: no TensorFlow, no edgepose. It speaks over its stdin/stdout (the host target,
ssh) or over a serial device (a UART, a USB gadget):

    python3 agent.py MODEL.tflite --stdio
    python3 agent.py MODEL.tflite --port /dev/ttyGS0 --baud 921600

This file is also where edgepose keeps the protocol's framing and message layouts (the host side imports
them from here): one Python implementation, which the agent must carry with it. Keep it standard library
plus numpy, and keep it importable without either runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import select
import struct
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

PROTOCOL_VERSION = 1
SYNC = b"\xa5\x5e"
HEADER = struct.Struct("<2sBBHHH")  # sync, version, type, seq, length, header CRC-16
TRAILER = struct.Struct("<I")  # CRC-32 of version..payload
MAX_PAYLOAD = 1024  # bytes: one frame fits a small MCU's receive buffer
WINDOW = 4  # WRITE frames the agent takes in flight: the host need not wait for each acknowledgement
FRAME_OVERHEAD = HEADER.size + TRAILER.size


class ProtocolError(Exception):
    """Anything wrong on the wire: a malformed message, a version mismatch, an ERROR reply."""


class VersionMismatch(ProtocolError):
    def __init__(self, theirs: int) -> None:
        super().__init__(
            f"the other side speaks edgepose protocol v{theirs}, this side v{PROTOCOL_VERSION}; "
            "update the agent or firmware and edgepose to the same release"
        )
        self.theirs = theirs


# ------------------------------------------------------------------------------------------------ types

HELLO, READ, WRITE, INFER, RESET = 0x01, 0x02, 0x03, 0x04, 0x05
HELLO_OK, DATA, WRITTEN, INFERRED, RESET_OK, STARTED = 0x81, 0x82, 0x83, 0x84, 0x85, 0x86
ERROR = 0xEE
NAMES = {
    HELLO: "HELLO", READ: "READ", WRITE: "WRITE", INFER: "INFER", RESET: "RESET", HELLO_OK: "HELLO_OK",
    DATA: "DATA", WRITTEN: "WRITTEN", INFERRED: "INFERRED", RESET_OK: "RESET_OK", STARTED: "STARTED",
    ERROR: "ERROR",
}  # fmt: skip

# Blobs a READ or WRITE addresses.
BLOB_INFO, BLOB_INPUT, BLOB_OUTPUT, BLOB_TIMINGS, BLOB_PROFILE = 0, 1, 2, 3, 4

# ERROR codes.
E_BAD_REQUEST, E_VERSION, E_UNKNOWN_TYPE, E_BAD_BLOB, E_RANGE, E_NOT_READY, E_RUNTIME, E_TOO_LARGE = range(1, 9)
E_DAMAGED = 9  # a NAK: the frame with this sequence number arrived with a bad CRC-32; send it again
E_ABORTED = 10  # INFER stopped by a RESET that arrived while it ran
ERROR_NAMES = {
    E_BAD_REQUEST: "bad request", E_VERSION: "protocol version", E_UNKNOWN_TYPE: "unknown message type",
    E_BAD_BLOB: "no such blob", E_RANGE: "offset out of range", E_NOT_READY: "input not complete",
    E_RUNTIME: "inference failed", E_TOO_LARGE: "too large", E_DAMAGED: "damaged frame", E_ABORTED: "aborted",
}  # fmt: skip

# Payload layouts, little-endian.
HELLO_OK_LAYOUT = struct.Struct("<HIB")  # max payload, INFO size, WRITE window (frames)
READ_LAYOUT = struct.Struct("<BBIH")  # blob, index, offset, length
DATA_LAYOUT = struct.Struct("<II")  # offset, total; then the bytes
WRITE_LAYOUT = struct.Struct("<BBII")  # blob, index, offset, total; then the bytes
WRITTEN_LAYOUT = struct.Struct("<I")  # bytes of the blob received so far (offset + length)
INFER_LAYOUT = struct.Struct("<IIB")  # warmup runs, timed runs, per-layer profile (0/1)
INFERRED_LAYOUT = struct.Struct("<IQQQQ")  # runs, timer Hz, min, max, sum of ticks
ERROR_LAYOUT = struct.Struct("<H")  # code; then a UTF-8 message
TIMING = struct.Struct("<Q")  # one run's ticks, in the TIMINGS blob


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): the header check."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def crc32(data: bytes) -> int:
    """CRC-32 as zlib, Ethernet and the STM32 CRC unit (reflected) compute it: the frame check."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    def encode(self) -> bytes:
        if len(self.payload) > MAX_PAYLOAD:
            raise ProtocolError(
                f"{NAMES.get(self.type, self.type)} payload of {len(self.payload)} bytes > {MAX_PAYLOAD}"
            )
        fields = struct.pack("<BBHH", self.version, self.type, self.seq & 0xFFFF, len(self.payload))
        header = SYNC + fields + struct.pack("<H", crc16(fields))
        return header + self.payload + TRAILER.pack(crc32(header[2:] + self.payload))

    def __repr__(self) -> str:
        return f"Frame({NAMES.get(self.type, hex(self.type))}, seq={self.seq}, {len(self.payload)} bytes)"


class FrameParser:
    """Turns a byte stream into frames. Feed it whatever arrived; it returns the complete frames.

    Garbage before a frame, a header whose CRC fails or whose length is impossible, and a frame whose CRC-32
    fails are skipped by sliding one byte and looking for the next sync: the parser never raises and never
    waits for more than one frame's worth of bytes. Frames of another protocol version are returned as they
    are (the header layout never changes between versions) so the caller can say so. A frame whose header
    is intact but whose body is not is remembered in ``damaged`` as (type, seq), so that it can be NAKed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.skipped_bytes = 0
        self.bad_frames = 0
        self.damaged: list[tuple[int, int]] = []

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while (frame := self._next()) is not None:
            frames.append(frame)
        return frames

    def _next(self) -> Frame | None:
        buffer = self._buffer
        while True:
            start = buffer.find(SYNC)
            if start < 0:
                keep = 1 if buffer[-1:] == SYNC[:1] else 0  # the first sync byte may be at the very end
                self._drop(len(buffer) - keep)
                return None
            self._drop(start)
            if len(buffer) < HEADER.size:
                return None
            _, version, kind, seq, length, check = HEADER.unpack_from(buffer)
            if length > MAX_PAYLOAD or crc16(bytes(buffer[2:8])) != check:
                self._drop(1)
                continue
            end = HEADER.size + length + TRAILER.size
            if len(buffer) < end:
                return None
            (crc,) = TRAILER.unpack_from(buffer, end - TRAILER.size)
            if crc32(bytes(buffer[2 : end - TRAILER.size])) != crc:
                self.bad_frames += 1
                self.damaged.append((kind, seq))
                self._drop(1)
                continue
            payload = bytes(buffer[HEADER.size : HEADER.size + length])
            del buffer[:end]
            return Frame(kind, seq, payload, version)

    def _drop(self, count: int) -> None:
        self.skipped_bytes += count
        del self._buffer[:count]


def unpack(layout: struct.Struct, frame: Frame, tail: bool = False) -> tuple:
    """A payload's fixed fields (and, with ``tail``, the bytes after them), or a ProtocolError."""
    payload = frame.payload
    if len(payload) < layout.size or (not tail and len(payload) != layout.size):
        raise ProtocolError(
            f"malformed {NAMES.get(frame.type, hex(frame.type))}: {len(payload)} payload bytes, "
            f"expected {layout.size}{' or more' if tail else ''}"
        )
    fields = layout.unpack_from(payload)
    return (*fields, payload[layout.size :]) if tail else fields


def error_frame(seq: int, code: int, message: str) -> Frame:
    text = message.encode("utf-8", "replace")[: MAX_PAYLOAD - ERROR_LAYOUT.size]
    return Frame(ERROR, seq, ERROR_LAYOUT.pack(code) + text)


def describe_error(frame: Frame) -> str:
    code, text = unpack(ERROR_LAYOUT, frame, tail=True)
    return f"{ERROR_NAMES.get(code, f'error {code}')}: {text.decode('utf-8', 'replace')}"


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
            "protocol": PROTOCOL_VERSION,
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

    def handle(self, frame: Frame) -> bytes:
        """The encoded reply to one request."""
        if frame.version != PROTOCOL_VERSION:
            return error_frame(frame.seq, E_VERSION, f"agent speaks protocol v{PROTOCOL_VERSION}").encode()
        if self._last and self._last[:2] == (frame.seq, frame.type) and frame.type != HELLO:
            return self._last[2]
        try:
            reply = self._dispatch(frame)
        except ProtocolError as error:
            reply = error_frame(frame.seq, E_BAD_REQUEST, str(error))
        encoded = reply.encode()
        self._last = (frame.seq, frame.type, encoded)
        return encoded

    def _dispatch(self, frame: Frame) -> Frame:
        seq = frame.seq
        if frame.type == HELLO:
            self._info_bytes = json.dumps(self.info(), separators=(",", ":")).encode()
            return Frame(HELLO_OK, seq, HELLO_OK_LAYOUT.pack(MAX_PAYLOAD, len(self._info_bytes), WINDOW))
        if frame.type == READ:
            return self._read(seq, *unpack(READ_LAYOUT, frame))
        if frame.type == WRITE:
            return self._write(seq, *unpack(WRITE_LAYOUT, frame, tail=True))
        if frame.type == INFER:
            return self._infer(seq, *unpack(INFER_LAYOUT, frame))
        if frame.type == RESET:
            self.received = [0] * len(self.inputs)
            self.outputs, self.timings = [], b""
            return Frame(RESET_OK, seq)
        return error_frame(seq, E_UNKNOWN_TYPE, f"message type {frame.type:#04x}")

    def _blob(self, blob: int, index: int) -> bytes | None:
        if blob == BLOB_INFO:
            self._info_bytes = json.dumps(self.info(), separators=(",", ":")).encode()
            return self._info_bytes
        if blob == BLOB_OUTPUT and index < len(self.outputs):
            return self.outputs[index]
        if blob == BLOB_INPUT and index < len(self.inputs):
            return bytes(self.inputs[index][: self.received[index]])  # read back: what the device holds
        if blob == BLOB_TIMINGS:
            return self.timings
        if blob == BLOB_PROFILE:
            return b"[]"  # per-layer timing is not exposed by the Python runtimes
        return None

    def _read(self, seq: int, blob: int, index: int, offset: int, length: int) -> Frame:
        # INFO is re-read in chunks: keep the snapshot HELLO made unless the read starts again at 0.
        data = self._info_bytes if blob == BLOB_INFO and offset > 0 else self._blob(blob, index)
        if data is None:
            return error_frame(seq, E_BAD_BLOB, f"blob {blob} index {index} (run INFER before reading outputs)")
        if offset > len(data):
            return error_frame(seq, E_RANGE, f"offset {offset} > {len(data)} bytes")
        length = min(length, MAX_PAYLOAD - DATA_LAYOUT.size)
        return Frame(DATA, seq, DATA_LAYOUT.pack(offset, len(data)) + data[offset : offset + length])

    def _write(self, seq: int, blob: int, index: int, offset: int, total: int, data: bytes) -> Frame:
        if blob != BLOB_INPUT or index >= len(self.inputs):
            return error_frame(seq, E_BAD_BLOB, f"blob {blob} index {index} cannot be written")
        buffer = self.inputs[index]
        if total != len(buffer):
            return error_frame(seq, E_TOO_LARGE, f"input {index} is {len(buffer)} bytes, not {total}")
        if offset + len(data) > total:
            return error_frame(seq, E_RANGE, f"bytes {offset}..{offset + len(data)} of {total}")
        # Offset 0 starts the upload again. Bytes past a gap (an earlier frame was lost) are not kept: the
        # count in the reply tells the host where to resume, as in go-back-N.
        if offset == 0:
            self.received[index] = 0
        if offset <= self.received[index]:
            buffer[offset : offset + len(data)] = data
            self.received[index] = max(self.received[index], offset + len(data))
        return Frame(WRITTEN, seq, WRITTEN_LAYOUT.pack(self.received[index]))

    def _infer(self, seq: int, warmup: int, runs: int, profile: int) -> Frame:
        missing = [i for i, (got, buf) in enumerate(zip(self.received, self.inputs, strict=True)) if got < len(buf)]
        if missing:
            return error_frame(seq, E_NOT_READY, f"input {missing[0]} has {self.received[missing[0]]} bytes")
        if runs < 1:
            return error_frame(seq, E_BAD_REQUEST, "INFER needs at least one timed run")
        try:
            for index, data in enumerate(self.inputs):
                self.model.set_input(index, bytes(data))
            ticks = []
            polled = time.perf_counter_ns()
            for run in range(warmup + runs):
                if time.perf_counter_ns() - polled > 50_000_000:
                    if self.reset_requested():
                        return error_frame(seq, E_ABORTED, f"RESET after {len(ticks)} of {runs} timed runs")
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
            return error_frame(seq, E_RUNTIME, f"{type(error).__name__}: {error}")
        self.timings = b"".join(TIMING.pack(t) for t in ticks)
        return Frame(INFERRED, seq, INFERRED_LAYOUT.pack(runs, 1_000_000_000, min(ticks), max(ticks), sum(ticks)))


def serve(agent: Agent, link: FdLink) -> None:
    """Answer requests until the link closes. INFER is acknowledged with STARTED before it runs, so the host
    can tell a lost request (retry soon) from a long inference (wait)."""
    parser = FrameParser()
    pending: list[Frame] = []  # requests that arrived while an INFER ran

    def reset_requested() -> bool:
        with contextlib.suppress(EOFError):
            pending.extend(parser.feed(link.read(0)))
        return any(frame.type == RESET for frame in pending)

    agent.reset_requested = reset_requested
    while True:
        try:
            data = b"" if pending else link.read(None)
        except EOFError:
            return
        frames, pending[:] = pending + parser.feed(data), []
        for kind, seq in parser.damaged:
            if kind < 0x80:  # a request: ask for it again now rather than let the host time out
                link.write(error_frame(seq, E_DAMAGED, NAMES.get(kind, "request")).encode())
        parser.damaged.clear()
        for frame in frames:
            if frame.type == INFER and frame.version == PROTOCOL_VERSION:
                link.write(Frame(STARTED, frame.seq).encode())
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
