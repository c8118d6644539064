"""A serial wire between two pseudo-terminals: what a UART cable is, minus the cable.

``SerialWire`` opens two pty pairs and copies bytes between them in a thread: the host side opens
``host_port`` (with pyserial, like any serial device), the device side opens ``device_port`` (the agent's
``--port``). A pty has no baud rate of its own, so the wire paces each direction at ``baud / 10`` bytes a
second (8N1) when given one; and it can corrupt and drop bytes, to show that the protocol survives a bad
cable. Used by the link benchmark and the reliability tests; handy for trying a board agent without a board.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
import tty

CHUNK = 64  # bytes moved at a time: small enough that pacing stays smooth at 115200 baud
SLACK = 0.002  # s: bytes read this soon after the line went idle were queued behind the last ones


class SerialWire:
    def __init__(self, baud: int | None = None, corrupt: float = 0.0, drop: float = 0.0, seed: int = 0) -> None:
        self.baud, self.corrupt, self.drop = baud, corrupt, drop
        self._random = random.Random(seed)
        self._host_master, self._host_slave = os.openpty()
        self._device_master, self._device_slave = os.openpty()
        for fd in (self._host_slave, self._device_slave):
            tty.setraw(fd)  # no echo, no newline translation: a byte is a byte
        self.host_port = os.ttyname(self._host_slave)
        self.device_port = os.ttyname(self._device_slave)
        self.carried = self.corrupted = self.dropped = 0  # bytes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._carry, daemon=True, name="serial-wire")

    def __enter__(self) -> SerialWire:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for fd in (self._host_master, self._host_slave, self._device_master, self._device_slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _carry(self) -> None:
        route = {self._host_master: self._device_master, self._device_master: self._host_master}
        free_at = {fd: 0.0 for fd in route}  # when each direction's wire is idle again
        while not self._stop.is_set():
            ready, _, _ = select.select(list(route), [], [], 0.05)
            for source in ready:
                try:
                    data = os.read(source, CHUNK)
                except OSError:  # the other end is not open (yet, or any more): nothing to carry
                    time.sleep(0.01)
                    continue
                free_at[source] = self._pace(free_at[source], len(data))
                self._deliver(route[source], self._damage(data))

    def _pace(self, free_at: float, size: int) -> float:
        if not self.baud:
            return 0.0
        # A byte goes out no sooner than the one before it has (a UART sends back to back); the schedule is
        # kept from the previous chunk rather than from "now", so that the thread's sleep overshoot does not
        # count against the wire.
        now = time.monotonic()
        done = (free_at if now - free_at < SLACK else now) + size * 10 / self.baud
        delay = done - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return done

    def _damage(self, data: bytes) -> bytes:
        self.carried += len(data)
        if not (self.corrupt or self.drop):
            return data
        out = bytearray()
        for byte in data:
            roll = self._random.random()
            if roll < self.drop:
                self.dropped += 1
                continue
            if roll < self.drop + self.corrupt:
                byte ^= 1 << self._random.randrange(8)
                self.corrupted += 1
            out.append(byte)
        return bytes(out)

    def _deliver(self, target: int, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stop.is_set():
            try:
                view = view[os.write(target, view) :]
            except BlockingIOError:
                time.sleep(0.001)
            except OSError:
                return
