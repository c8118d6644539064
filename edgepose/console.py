"""Terminal output: one rich console for results (stdout) and one for progress and warnings (stderr).

Tables and progress bars go through rich; error lines do not (see ``edgepose.cli.main``) so that an
error is always exactly one line, whatever the terminal width.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

from rich.console import Console
from rich.table import Table

# Piped or captured output gets a wide page instead of rich's 80 columns, so tables stay readable in logs.
_PIPE_WIDTH = 150
out = Console(highlight=False, width=None if sys.stdout.isatty() else _PIPE_WIDTH)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else _PIPE_WIDTH)


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if cell is None else str(cell) for cell in row))
    return grid


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {message}", markup=True, soft_wrap=True)


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" or count == int(count) else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count} GiB"


def human_hz(hz: int | None) -> str:
    if not hz:
        return "-"
    return f"{hz / 1e9:g} GHz" if hz >= 1e9 else f"{hz / 1e6:g} MHz"


@contextmanager
def chain_progress(steps: list[str]):
    """One rich display for the whole chain: a line per step with its state and time."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err) as bar:
        tasks = {name: bar.add_task(f"{name}: waiting", total=1, start=False) for name in steps}

        def on_step(name: str, status: str) -> None:
            if status == "start":
                bar.start_task(tasks[name])
                bar.update(tasks[name], description=f"{name}: running")
            else:
                bar.update(tasks[name], description=f"{name}: {status}", completed=1)
                bar.stop_task(tasks[name])

        yield on_step


@contextmanager
def progress_bar(total: int, label: str):
    """A transient progress bar on stderr; yields ``advance(what)``, to call as each item starts."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)
        started = [False]

        def advance(what: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=f"{label}: {what}")

        yield advance
