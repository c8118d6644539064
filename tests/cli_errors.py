"""How a refused command looks to the user: exit code 2 and one last line ``error: ...`` that names what is
wrong, without a traceback."""

from __future__ import annotations


def refused(done, *needles: str) -> str:
    """The error line of ``done`` (a finished ``edgepose`` process), checked to contain every needle."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), line
    for needle in needles:
        assert needle in line, line
    return line
