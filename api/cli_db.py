"""Placeholder module wired into api/cli.py; filled in by the ledger work."""
from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
