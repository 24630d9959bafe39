"""The ``steerbounds`` CLI as a real process (``python -m steerbounds``) with one torch
thread, run from the repository root unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def steerbounds_argv(*args: str) -> list[str]:
    """The command line of ``steerbounds ARGS`` under this interpreter."""
    return [sys.executable, "-m", "steerbounds", *args]


def cli_env() -> dict[str, str]:
    """This environment with one OpenMP thread and unbuffered output."""
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")


def run_steerbounds(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``steerbounds ARGS`` to its end; its stdout and stderr are captured as text."""
    return subprocess.run(
        steerbounds_argv(*args), capture_output=True, text=True, env=cli_env(), cwd=cwd, timeout=timeout
    )
