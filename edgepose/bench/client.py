"""The host side of the wire protocol: one request, one reply, retried until it gets through.

Every try of a request carries a new sequence number, and a reply to any try of the request in hand is
taken (they all ask the same); replies to earlier requests are stale and ignored. INFER is the exception:
it is retried under its first number, which the device answers from its cache instead of running twice.
So a link that corrupts or drops bytes costs time, never correctness.

Two budgets end the retrying: ``timeout`` seconds in which nothing at all came back (the device is gone,
or was never there), and ``retries`` failed tries in a row while the device does answer (a link too bad
for even the smallest frame to cross).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgepose.bench.links import Link
from edgepose.errors import DeviceError
from edgepose.wire import (
    BLOB_INFO,
    BLOB_INPUT,
    BLOB_OUTPUT,
    BLOB_PROFILE,
    BLOB_TIMINGS,
    DATA,
    DATA_LAYOUT,
    E_DAMAGED,
    ERROR,
    ERROR_LAYOUT,
    FRAME_OVERHEAD,
    HELLO,
    HELLO_OK,
    HELLO_OK_LAYOUT,
    INFER,
    INFER_LAYOUT,
    INFERRED,
    INFERRED_LAYOUT,
    MAX_PAYLOAD,
    NAMES,
    PROTOCOL_VERSION,
    READ,
    READ_LAYOUT,
    RESET,
    RESET_OK,
    STARTED,
    TIMING,
    WRITE,
    WRITE_LAYOUT,
    WRITTEN,
    WRITTEN_LAYOUT,
    Frame,
    FrameParser,
    ProtocolError,
    VersionMismatch,
    describe_error,
    unpack,
)

MIN_CHUNK = 48  # smallest frame payload tried on a noisy link: a 1%-per-byte error rate still lets most through
MIN_WAIT = 0.05  # s: the shortest a silence is waited out; a reply later than that still counts (any try)
FIRST_WAIT = 1.0  # s: how long a try waits before any round trip is measured (then: a few round trips)
RETRIES = 48  # failed tries in a row of one exchange: at 1.5% damaged bytes half the smallest frames fail


def _fields(layout, frame: Frame, tail: bool = False) -> tuple:
    try:
        return unpack(layout, frame, tail)
    except ProtocolError as error:
        raise DeviceError(str(error)) from None


@dataclass
class InferResult:
    runs: int
    timer_hz: int
    ticks: np.ndarray  # (runs,) uint64: each timed run's duration in timer ticks

    @property
    def microseconds(self) -> np.ndarray:
        return self.ticks.astype(np.float64) * 1e6 / self.timer_hz


class Client:
    """Requests and replies over a link, with retries; the frame size adapts to the link's health."""

    def __init__(self, link: Link, timeout: float = 10.0, retries: int = RETRIES) -> None:
        self.link = link
        self.timeout = timeout  # s of silence that mean the device is gone; INFER waits while it computes
        self.retries = retries
        self._heard = time.monotonic()  # when bytes last came from the device
        self.parser = FrameParser()
        self.seq = 0
        self.retried = 0  # requests sent again: a measure of the link's health, reported
        self.max_payload = MAX_PAYLOAD
        self.window = 1  # WRITE frames in flight, as the device allows
        self.chunk = MAX_PAYLOAD  # payload bytes per READ/WRITE frame now: halved on a failure, regrown after
        self._successes = 0
        self._latency: float | None = None  # smoothed time a reply takes beyond its bytes' transfer time
        self._jitter = 0.0  # smoothed deviation of that time: a loaded host answers late now and then

    # ----------------------------------------------------------------------------------- messages

    def hello(self) -> dict:
        reply = self.request(HELLO, b"", HELLO_OK)
        self.max_payload, info_size, window = _fields(HELLO_OK_LAYOUT, reply)
        smallest = max(WRITE_LAYOUT.size, DATA_LAYOUT.size) + 1  # a READ reply or a WRITE must carry a byte
        if self.max_payload < smallest:
            raise DeviceError(
                f"{self.link.name}: HELLO says frames carry at most {self.max_payload} payload bytes, fewer than "
                f"the {smallest} a READ or WRITE needs; the device's firmware is faulty"
            )
        self.window = max(1, window)
        self.max_payload = self.chunk = min(self.max_payload, MAX_PAYLOAD)
        return self._json(self.read_blob(BLOB_INFO, size_hint=info_size), "INFO")

    def info(self) -> dict:
        return self._json(self.read_blob(BLOB_INFO), "INFO")

    def profile(self) -> list:
        return self._json(self.read_blob(BLOB_PROFILE), "PROFILE")

    def write_input(self, index: int, data: bytes) -> None:
        """Upload one input, keeping up to ``window`` frames in flight (so the link never idles waiting for an
        acknowledgement). The device acknowledges with the count of bytes it holds contiguously; a frame
        past a gap is not kept, so on a loss, a NAK or a short count the upload goes back to that count."""
        acked, sent, failures, silences = 0, 0, 0, 0
        flight: dict[int, int] = {}  # seq -> end offset of the frame, oldest first
        began = time.monotonic()
        while acked < len(data):
            while len(flight) < self.window and sent < len(data):
                part = data[sent : sent + self.chunk - WRITE_LAYOUT.size]
                self.seq = (self.seq + 1) & 0xFFFF
                self.link.write(
                    Frame(WRITE, self.seq, WRITE_LAYOUT.pack(BLOB_INPUT, index, sent, len(data)) + part).encode()
                )
                sent += len(part)
                flight[self.seq] = sent
            started = time.monotonic()
            wait = self._first_wait() * (1.5 ** min(silences, 4))  # a slow device gets more time
            reply = self._await(
                wait + self._transfer_seconds(len(flight) * (self.chunk + 2 * FRAME_OVERHEAD)), set(flight)
            )
            if reply is not None and reply.type == WRITTEN:
                (received,) = _fields(WRITTEN_LAYOUT, reply)
                acked = max(acked, min(received, len(data)))
                if flight.get(reply.seq) is not None and len(flight) == 1 and failures == 0:
                    self._measured(time.monotonic() - started - self._transfer_seconds(self.chunk + 2 * FRAME_OVERHEAD))
                done = flight.pop(reply.seq)
                for seq in [s for s in flight if flight[s] <= done]:  # earlier frames: covered by this count
                    del flight[seq]
                if received >= done:
                    self._succeeded()
                    failures = 0
                    continue
            elif reply is not None and not self._is_nak(reply):
                self._raise_for(reply, WRITE, WRITTEN)
            failures += 1
            silences = silences + 1 if self._heard < started else 0
            self.retried += 1
            self._give_up_after(failures, began, f"no acknowledgement from {self.link.name} for input {index}")
            self._failed()
            flight.clear()  # their late replies carry sequence numbers no longer awaited: ignored
            sent = acked

    def infer(self, warmup: int, runs: int, timeout: float, profile: bool = False) -> InferResult:
        reply = self.request(INFER, INFER_LAYOUT.pack(warmup, runs, int(profile)), INFERRED, long_timeout=timeout)
        done, timer_hz, *_ = _fields(INFERRED_LAYOUT, reply)
        if timer_hz == 0:
            raise DeviceError(f"{self.link.name}: INFERRED gives a timer of 0 Hz; the device cannot time its runs")
        timings = self.read_blob(BLOB_TIMINGS)
        if len(timings) % TIMING.size:
            raise DeviceError(
                f"{self.link.name}: a TIMINGS blob of {len(timings)} bytes is not a whole number of "
                f"{TIMING.size}-byte timings"
            )
        ticks = np.frombuffer(timings, dtype="<u8").copy()
        if len(ticks) != done:
            raise DeviceError(f"{self.link.name}: {done} runs reported but {len(ticks)} timings read back")
        return InferResult(done, timer_hz, ticks)

    def read_output(self, index: int) -> bytes:
        return self.read_blob(BLOB_OUTPUT, index)

    def reset(self) -> None:
        """Drop the device's input and results (and stop an INFER in progress: the device polls for RESET
        between runs). Waits the full timeout: a device in the middle of a run answers late."""
        self._latency = None
        self.request(RESET, b"", RESET_OK)

    def read_blob(self, blob: int, index: int = 0, size_hint: int | None = None) -> bytes:
        parts, offset, total = [], 0, size_hint
        while total is None or offset < total:

            def ask(at: int = offset) -> bytes:
                return READ_LAYOUT.pack(blob, index, at, self.chunk - DATA_LAYOUT.size)

            at, total, data = _fields(DATA_LAYOUT, self.request(READ, ask, DATA), tail=True)
            if at != offset or (not data and offset < total):
                raise DeviceError(f"{self.link.name}: asked for bytes from {offset}, got {len(data)} from {at}")
            parts.append(data)
            offset += len(data)
        return b"".join(parts)

    # ----------------------------------------------------------------------------------- one exchange

    def request(
        self, kind: int, payload: bytes | Callable[[], bytes], expect: int, long_timeout: float | None = None
    ) -> Frame:
        """Send one request and return its reply, retrying on silence, a damaged reply or a NAK; the device's
        ERROR is a DeviceError. Each try of an idempotent request (everything but INFER) is a new request
        with the current frame size, and the reply to any of its tries is taken; INFER is retried under
        its first sequence number, so it never runs twice (the device answers a repeat from its cache)."""
        wait = self._first_wait()
        tries: set[int] = set()
        began = time.monotonic()
        for attempt in itertools.count():
            if attempt == 0 or kind != INFER:
                self.seq = (self.seq + 1) & 0xFFFF
                encoded = Frame(kind, self.seq, payload() if callable(payload) else payload).encode()
                tries.add(self.seq)
            if attempt:
                self.retried += 1
            transfer = self._transfer_seconds(len(encoded) + FRAME_OVERHEAD + self.chunk)
            sent = heard = time.monotonic()
            self.link.write(encoded)
            reply = self._await(wait + transfer, tries, long_timeout)
            if reply is not None and not self._is_nak(reply):
                if attempt == 0 and kind != INFER:  # an unambiguous round trip (Karn); INFER computes first
                    self._measured(time.monotonic() - sent - transfer)
                self._succeeded()
                return self._raise_for(reply, kind, expect)
            self._failed()
            if reply is None and self._heard < heard:  # not a byte came back: a slow device gets more time
                wait = min(wait * 1.5, self.timeout)
            # a device in the middle of a long INFER may drop the repeats it gets: silent, not gone
            budget = self.timeout + (long_timeout or 0.0)
            self._give_up_after(attempt + 1, began, f"no reply from {self.link.name} to {NAMES[kind]}", budget)
        raise AssertionError("unreachable")

    def _give_up_after(self, failures: int, began: float, what: str, budget: float | None = None) -> None:
        """Raise once the device has been silent for ``budget`` s (the timeout), or ``retries`` tries in a row
        failed."""
        budget = budget or self.timeout
        silent = time.monotonic() - max(began, self._heard)
        if silent >= budget:
            raise DeviceError(
                f"{what}: nothing came back in {budget:g} s ({failures} tries); is the agent or firmware "
                "running, and is the baud rate right?"
            )
        if failures > self.retries:
            raise DeviceError(
                f"{what} after {failures} tries: the device answers but nothing gets through intact; check the "
                "cable, the baud rate and the line's noise"
            )

    def _raise_for(self, reply: Frame, kind: int, expect: int) -> Frame:
        if reply.type == ERROR:
            try:
                reason = describe_error(reply)
            except ProtocolError as error:
                reason = str(error)
            raise DeviceError(f"{self.link.name} refused {NAMES[kind]}: {reason}")
        if reply.type != expect:
            raise DeviceError(f"{self.link.name}: {NAMES.get(reply.type, reply.type)} in reply to {NAMES[kind]}")
        return reply

    @staticmethod
    def _is_nak(reply: Frame) -> bool:
        return reply.type == ERROR and reply.payload[: ERROR_LAYOUT.size] == ERROR_LAYOUT.pack(E_DAMAGED)

    def _await(self, wait: float, awaited: set[int], long_timeout: float | None = None) -> Frame | None:
        """The reply to one of the awaited sequence numbers; None on silence, or as soon as a damaged frame
        shows that a reply is not coming through intact (no point waiting out the timeout)."""
        deadline = time.monotonic() + wait
        damaged = self.parser.bad_frames
        # bytes that came and made no frame were a reply that lost bytes on the way: once the line is idle
        # this long, ask again rather than wait out the deadline (a long INFER's reply included)
        idle_limit = max(MIN_WAIT, self._transfer_seconds(2 * FRAME_OVERHEAD + self.chunk))
        unframed = False  # bytes arrived since the last whole frame
        while (left := deadline - time.monotonic()) > 0:
            data = self.link.read(min(left, idle_limit if unframed else 0.5))
            if data:
                self._heard, unframed = time.monotonic(), True
            elif unframed and time.monotonic() - self._heard > idle_limit:
                return None
            frames = self.parser.feed(data)
            if frames and not self.parser.pending:
                unframed = False
            self.parser.damaged.clear()  # the device is not NAKed: a damaged reply is simply asked for again
            for frame in frames:
                if frame.version != PROTOCOL_VERSION:
                    raise DeviceError(f"{self.link.name}: {VersionMismatch(frame.version)}")
                if frame.seq not in awaited:
                    continue  # the reply to an earlier try of an earlier request
                if frame.type == STARTED and long_timeout is not None:
                    deadline = time.monotonic() + long_timeout  # the device is computing: wait for it
                    continue
                return frame
            if self.parser.bad_frames != damaged:  # a reply came damaged: ask again now (INFER: from the cache)
                return None
        return None

    def _first_wait(self) -> float:
        """How long silence means loss: once round trips are measured, four smoothed ones plus four of their
        deviations (the deviation term is TCP's, RFC 6298), so a lost frame on a noisy link costs a fraction
        of a second, not the whole timeout, and a link whose replies come late now and then gets the slack
        it needs; ``FIRST_WAIT`` (at most the timeout) until then."""
        if self._latency is None:
            return min(self.timeout, FIRST_WAIT)
        return min(self.timeout, max(MIN_WAIT, 4 * self._latency + 4 * self._jitter))

    def _measured(self, latency: float) -> None:
        latency = max(latency, 0.0)
        if self._latency is None:
            self._latency, self._jitter = latency, latency / 2
        else:
            self._jitter = 0.75 * self._jitter + 0.25 * abs(self._latency - latency)
            self._latency = 0.875 * self._latency + 0.125 * latency

    def _failed(self) -> None:
        self.chunk = min(self.max_payload, max(MIN_CHUNK, self.chunk // 2))
        self._successes = 0

    def _succeeded(self) -> None:
        self._successes += 1
        if self._successes >= 8 and self.chunk < self.max_payload:
            self.chunk = min(self.max_payload, self.chunk * 2)
            self._successes = 0

    def _transfer_seconds(self, size: int) -> float:
        return 0.0 if not self.link.baud else size * 10 / self.link.baud  # 8N1: ten bits a byte

    def _json(self, data: bytes, what: str):
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DeviceError(f"{self.link.name}: malformed {what} ({error})") from None
