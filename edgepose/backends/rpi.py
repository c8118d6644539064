"""The ``rpi`` target: a Raspberry Pi or any Linux board reached with the user's own ssh.

``deploy`` copies the agent and the model into the board's work folder with scp (and, with ``setup``,
creates a venv there with numpy and the runtime); ``open_link`` starts the agent over ssh and speaks the
protocol through that pipe. Everything goes through the ``ssh``/``scp`` programs, so the user's
``~/.ssh/config``, keys and agent apply as they do in a terminal; ``ssh_config`` adds ``-F FILE``.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgepose.backends import Connection, Request
from edgepose.backends.host import AGENT, AGENT_FILES, agent_command
from edgepose.bench.harness import Target
from edgepose.bench.links import ProcessLink
from edgepose.boards import Board
from edgepose.convert.metadata import sidecar_path
from edgepose.errors import BoardError, DeviceError

RUNTIME_PACKAGES = {"litert": "ai-edge-litert", "onnxruntime": "onnxruntime"}
# Never wait for a password or a host-key question that nobody can answer.
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=15")


@dataclass
class Remote:
    destination: str  # user@host, or a Host alias of the ssh config
    board: Board
    ssh_config: Path | None = None

    def __post_init__(self) -> None:
        if self.destination.startswith("-") or not self.destination.strip():
            raise BoardError(
                f"--ssh '{self.destination}': give user@host or a Host of your ssh config (ssh would read a "
                "value starting with '-' as one of its own options)"
            )

    @property
    def workdir(self) -> str:
        return self.board.linux.workdir

    def ssh(self, *command: str) -> list[str]:
        return ["ssh", *self._options(), "-T", self.destination, *command]

    def scp(self, *files: Path) -> list[str]:
        # scp's remote path is expanded by the remote shell: ~ works, a space would not (quote it).
        target = f"{self.destination}:{_remote_path(self.workdir)}/"
        return ["scp", *self._options(), "-q", *[str(f) for f in files], target]

    def _options(self) -> list[str]:
        return [*SSH_OPTIONS, *(["-F", str(self.ssh_config)] if self.ssh_config else [])]

    def python(self) -> str:
        """The venv's Python when ``deploy --setup`` made one, else the board's own."""
        venv = f"{_remote_path(self.workdir)}/venv/bin/python"
        return f"$( [ -x {venv} ] && echo {venv} || echo {shlex.quote(self.board.linux.python)} )"


def deploy(remote: Remote, model: Path, setup: bool = False, runtime: str = "litert") -> list[str]:
    """Copy the agent (with the protocol module it imports) and the model (and its sidecar) to the board;
    returns what was copied."""
    files = [*AGENT_FILES, Path(model)]
    sidecar = sidecar_path(model)
    if sidecar.is_file():
        files.append(sidecar)
    _run(remote, remote.ssh(f"mkdir -p {_remote_path(remote.workdir)}"), "create the work folder")
    _run(remote, remote.scp(*files), "copy the agent and the model")
    if setup:
        venv = f"{_remote_path(remote.workdir)}/venv"
        packages = f"numpy {RUNTIME_PACKAGES[runtime]}"
        script = (
            f"{shlex.quote(remote.board.linux.python)} -m venv {venv} && "
            f"{venv}/bin/python -m pip install --quiet --upgrade pip {packages}"
        )
        _run(remote, remote.ssh(script), f"set up a venv with {packages}", timeout=1800)
    return [f.name for f in files]


def open_link(remote: Remote, model: Path, runtime: str | None, threads: int) -> ProcessLink:
    """Start the deployed agent over ssh; its stdin/stdout become the link. Every word of the command is
    quoted for the remote shell (board names, runtimes and file names are the user's), the paths so that
    a leading ``~/`` still expands."""
    python, agent, model_path, *arguments = agent_command(
        remote.python(), f"{remote.workdir}/{AGENT.name}", f"{remote.workdir}/{Path(model).name}",
        runtime, threads, remote.board.name,
    )  # fmt: skip
    words = [python, _remote_path(agent), _remote_path(model_path), *(shlex.quote(a) for a in arguments)]
    return ProcessLink(remote.ssh("exec " + " ".join(words)), f"{remote.destination} (ssh)")


def connect(board: Board, request: Request) -> Connection:
    if not request.ssh:
        raise BoardError(f"target '{board.name}' is a Linux board: give --ssh user@host, or --port if it serves a UART")
    remote = Remote(request.ssh, board, request.ssh_config)
    if request.deploy:
        deploy(remote, request.model, False, request.runtime or "litert")
    link = open_link(remote, request.model, request.runtime, request.threads)
    target = Target(board.name, board.backend, board.description, f"ssh {request.ssh}", request.runtime)
    return Connection(link, target)


def _remote_path(path: str) -> str:
    """A path for the remote shell: ``~/x`` stays expandable, anything else is quoted."""
    return "~/" + shlex.quote(path[2:]) if path.startswith("~/") else shlex.quote(path)


def _run(remote: Remote, command: list[str], what: str, timeout: float = 120) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise DeviceError(f"cannot {what} on {remote.destination}: {command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise DeviceError(f"cannot {what} on {remote.destination}: no answer in {timeout:.0f} s") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise DeviceError(f"cannot {what} on {remote.destination}: {said}")
