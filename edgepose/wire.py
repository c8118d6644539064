"""The edgepose wire protocol v1 (docs/protocol.md): framing, CRCs, message types and payload layouts.

Standard library only, so that it travels with the board agent: ``edgepose deploy`` copies this file beside
``agent.py`` onto a board, and the host side (``edgepose.bench.client``) imports the same module. The C side
of the firmware (``targets/firmware/wire.c``, ``bench_main.c``) mirrors these constants; a test holds the two
to each other.
"""

from __future__ import annotations

import binascii
import struct
import zlib
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

# What a device takes in one INFER. The firmware keeps every timed run's ticks in RAM, so it takes fewer
# (``MCU_MAX_TIMED_RUNS``); both bound the warmup so that a mistyped count cannot hold a device for hours.
MAX_WARMUP_RUNS = 1000
MAX_TIMED_RUNS = 1_000_000
MCU_MAX_TIMED_RUNS = 256


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, not reflected): the header check. ``crc_hqx`` is the
    standard library's C implementation of exactly this polynomial, seeded with the init value."""
    return binascii.crc_hqx(data, 0xFFFF)


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

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buffer)

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
