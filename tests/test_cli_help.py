"""`kogi --help` lists every command a newcomer is told about in the README."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

COMMANDS = ["db", "ledger", "bench", "chain", "contracts", "indexer", "reconcile", "serve", "demo"]


def test_kogi_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={"COLUMNS": "120", "PATH": ""},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    listed = {
        line.strip("│ ").split()[0] for line in result.stdout.splitlines() if line.startswith("│ ") and line.strip("│ ")
    }
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed


def test_make_run_passes_host_and_port_to_kogi_serve() -> None:
    """`make run PORT=… HOST=…` changes where the API listens (dry run: nothing is installed or started)."""
    root = Path(__file__).resolve().parents[1]
    env = {key: value for key, value in os.environ.items() if key not in ("PORT", "HOST", "MAKEFLAGS")}
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    custom = subprocess.run(
        [make, "-n", "run", "PORT=9123", "HOST=0.0.0.0"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )
    assert custom.returncode == 0, custom.stderr
    assert ".venv/bin/kogi serve --host 0.0.0.0 --port 9123" in custom.stdout.splitlines()
    default = subprocess.run([make, "-n", "run"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert ".venv/bin/kogi serve --host 127.0.0.1 --port 8000" in default.stdout.splitlines()


def test_kogi_chain_help_lists_the_recovery_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api.cli", "chain", "--help"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={"COLUMNS": "120", "PATH": ""},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    listed = {
        line.strip("│ ").split()[0] for line in result.stdout.splitlines() if line.startswith("│ ") and line.strip("│ ")
    }
    assert {"up", "recover"} <= listed, listed
