"""`kogi --help` lists every command a newcomer is told about in the README."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

COMMANDS = ["db", "ledger", "bench", "chain", "contracts", "indexer", "reconcile", "serve", "demo"]


def test_kogi_help_lists_every_command() -> None:
    result = subprocess.run([sys.executable, "-m", "api.cli", "--help"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], env={"COLUMNS": "120", "PATH": ""}, timeout=60)
    assert result.returncode == 0, result.stderr
    listed = {line.strip("│ ").split()[0] for line in result.stdout.splitlines() if line.startswith("│ ") and
              line.strip("│ ")}
    assert set(COMMANDS) <= listed, set(COMMANDS) - listed
