"""Shared test helpers.

Tests that need a system toolchain call ``need_tool``: it fails (never skips) when the tool is missing,
because ``make test`` installs every toolchain the suite uses, so a missing one is a setup defect.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).parent / "edgepose"


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make test` installs it (as root), or apt-get install it")
    return path


@pytest.fixture
def edgepose(tmp_path: Path):
    """Run the installed ``edgepose`` console script in a subprocess (cwd: a fresh temporary folder)."""
    if not CLI.exists():
        pytest.fail(f"the console script {CLI} is missing: install edgepose into this environment first")

    def run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        merged = {**os.environ, **(env or {})}
        return subprocess.run(
            [str(CLI), *args], cwd=cwd or tmp_path, env=merged, capture_output=True, text=True, timeout=300
        )

    return run
