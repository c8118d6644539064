"""Watching a process the test started (an agent, an emulator) through /proc: it is in the middle of its
work once it has used a given amount of CPU time, whatever the machine's load; it serves a TCP port once the
kernel lists that port as listening (seen without connecting, which a one-client server would take as its
client)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def wait_until_computing(pid: int, seconds: float) -> None:
    """Until the process has used ``seconds`` of CPU time in all: it is in the middle of its work."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if cpu_seconds(pid) >= seconds:
            return
        time.sleep(0.1)
    raise AssertionError(f"process {pid} never got busy")


def listening(port: int) -> bool:
    """Whether some process listens on TCP ``port`` of 127.0.0.1 or any address (IPv4)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A" and int(local.split(":")[1], 16) == port:  # 0A: TCP_LISTEN
            return True
    return False


def wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if listening(port):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port}")
