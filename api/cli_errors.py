"""One readable line on stderr and a non-zero exit: the CLI's only error style."""
from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, exit_code: int = 1) -> NoReturn:
    typer.echo(f"kogi: error: {message}", err=True)
    raise typer.Exit(exit_code)
