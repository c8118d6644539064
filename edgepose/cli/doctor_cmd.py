"""``edgepose doctor``."""

from __future__ import annotations

import json

import typer

from edgepose import console
from edgepose.doctor import run_checks

_MARK = {"ok": "[green]ok[/]", "missing": "[red]missing[/]", "too old": "[red]too old[/]"}


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """Check the Python packages and system toolchains, with what each one enables.

    Exits with 1 only when a required piece (Python or a Python package) is missing or too old;
    missing toolchains only disable the parts of edgepose that need them.
    """
    checks = run_checks()
    if as_json:
        print(json.dumps([c.as_dict() for c in checks], indent=2))
    else:
        rows = []
        for check in checks:
            status = _MARK[check.status] if check.required or check.status == "ok" else "[yellow]not found[/]"
            rows.append((check.name, check.version or "-", check.wanted or "", status, check.enables))
        console.out.print(
            console.table("edgepose doctor", ("component", "version", "needs", "status", "enables"), rows)
        )
        for check in checks:
            if check.status != "ok":
                console.out.print(f"  {check.name}: {check.install}", soft_wrap=True)
    failed = [c.name for c in checks if c.failed]
    if failed:
        console.err.print(f"doctor: required pieces missing or too old: {', '.join(failed)}", soft_wrap=True)
        raise typer.Exit(1)
