"""STM32 boards on a desk: the benchmark firmware, flashed beforehand (``edgepose flash``), speaks over the
board's UART — the ST-LINK's virtual COM port, found by its USB vendor ID when no port is given."""

from __future__ import annotations

from edgepose.backends import REFERENCE_RUNTIME, Connection, Request
from edgepose.bench.harness import Target
from edgepose.bench.links import open_serial
from edgepose.boards import Board


def connect(board: Board, request: Request) -> Connection:
    reference = request.runtime or REFERENCE_RUNTIME
    target = Target(board.name, board.backend, board.description, reference_runtime=reference)
    return Connection(open_serial(request.port, request.baud), target)
