"""Byte links to a device: anything pyserial opens, or a subprocess's stdin/stdout (the local agent, ssh).

A link only moves bytes: ``write`` sends them all, ``read`` returns what arrived within a timeout (possibly
nothing) and raises ``DeviceError`` when the other side is gone. Framing, retries and timeouts belong to
``edgepose.bench.client``.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
from collections import deque

from edgepose.errors import DeviceError

ST_LINK_VID = 0x0483  # STMicroelectronics: the ST-LINK virtual COM port of Nucleo and Discovery boards


class Link:
    name = ""
    baud: int | None = None  # the wire's bit rate where there is one; None for pipes and sockets

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SerialLink(Link):
    """pyserial: a device path, ``socket://host:port``, ``rfc2217://host:port``, ``loop://``."""

    def __init__(self, url: str, baud: int) -> None:
        import serial

        self.name = url
        try:
            self._port = serial.serial_for_url(url, baudrate=baud, timeout=0, write_timeout=30, exclusive=None)
        except (serial.SerialException, ValueError) as error:
            raise DeviceError(f"cannot open {url}: {error}; check --port and that nothing else holds it") from None
        self.baud = baud if not url.startswith(("socket://", "loop://")) else None

    def write(self, data: bytes) -> None:
        import serial

        try:
            self._port.write(data)
            self._port.flush()
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"{self.name}: write failed ({error}); was the device unplugged?") from None

    def read(self, timeout: float) -> bytes:
        import serial

        try:
            self._port.timeout = timeout
            first = self._port.read(1)
            return first + self._port.read(self._port.in_waiting) if first else b""
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"{self.name}: the device went away ({error})") from None

    def close(self) -> None:
        self._port.close()


class ProcessLink(Link):
    """A subprocess's stdin/stdout: the agent on this machine, or on a board through ``ssh``.
    Its stderr is kept (the last lines) so that a crash can be reported with the agent's own words."""

    def __init__(self, command: list[str], name: str) -> None:
        self.name = name
        try:
            self._process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
            )
        except OSError as error:
            raise DeviceError(f"cannot start {command[0]} for {name}: {error}") from None
        self._stderr: deque[str] = deque(maxlen=20)
        self._out, self._err = self._process.stdout.fileno(), self._process.stderr.fileno()
        os.set_blocking(self._err, False)

    def write(self, data: bytes) -> None:
        try:
            self._process.stdin.write(data)
        except (BrokenPipeError, OSError):
            raise DeviceError(self._gone()) from None

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self._out, self._err], [], [], timeout)
        if self._err in ready:
            self._drain_stderr()
        if self._out not in ready:
            return b""
        data = os.read(self._out, 65536)
        if not data:
            raise DeviceError(self._gone())
        return data

    def stderr_tail(self) -> str:
        self._drain_stderr()
        return "\n".join(self._stderr)

    def _drain_stderr(self) -> None:
        try:
            chunk = os.read(self._err, 65536)
        except (BlockingIOError, OSError):
            return
        self._stderr.extend(line for line in chunk.decode("utf-8", "replace").splitlines() if line.strip())

    def _gone(self) -> str:
        try:
            code = self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        said = self.stderr_tail().splitlines()
        last = f": {said[-1]}" if said else ""
        return f"{self.name} closed the link (exit code {code}){last}"

    def close(self) -> None:
        for stream in (self._process.stdin, self._process.stdout, self._process.stderr):
            with contextlib.suppress(OSError):
                stream.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def find_st_link() -> str:
    """The ST-LINK virtual COM port, for when ``--port`` is omitted: exactly one must be plugged in."""
    from serial.tools import list_ports

    ports = [p.device for p in list_ports.comports() if p.vid == ST_LINK_VID]
    if not ports:
        raise DeviceError("no ST-LINK virtual COM port (USB VID 0x0483) found; plug the board in or give --port")
    if len(ports) > 1:
        raise DeviceError(f"several ST-LINK ports found ({', '.join(ports)}); choose one with --port")
    return ports[0]


def open_serial(port: str | None, baud: int) -> SerialLink:
    return SerialLink(port or find_st_link(), baud)
