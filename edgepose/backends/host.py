"""The ``host`` target: the board agent as a local subprocess, talking over its stdin/stdout.

It runs the very file that is copied to Linux boards, with this Python, so the host is measured the same
way as a Raspberry Pi and serves as the reference the other targets are compared against.
"""

from __future__ import annotations

import sys
from pathlib import Path

from edgepose import agent, wire
from edgepose.backends import Connection, Request
from edgepose.bench.harness import Target
from edgepose.bench.links import ProcessLink
from edgepose.boards import Board

AGENT = Path(agent.__file__)
AGENT_FILES = (AGENT, Path(wire.__file__))  # the agent runs as a script with the protocol module beside it


def agent_command(python: str, agent_path: str, model: str, runtime: str | None, threads: int, board: str) -> list:
    command = [python, agent_path, model, "--stdio", "--threads", str(threads), "--board", board]
    return command + (["--runtime", runtime] if runtime else [])


def open_link(model: Path, runtime: str | None, threads: int, board: str = "host") -> ProcessLink:
    command = agent_command(sys.executable, str(AGENT), str(Path(model).resolve()), runtime, threads, board)
    return ProcessLink(command, f"the host agent ({Path(model).name})")


def connect(board: Board, request: Request) -> Connection:
    link = open_link(request.model, request.runtime, request.threads)
    return Connection(link, Target(board.name, board.backend, board.description, reference_runtime=request.runtime))
