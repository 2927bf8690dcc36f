"""`kogi chain …` and `kogi contracts …`: the local chain and the Solidity build/deploy."""
from __future__ import annotations

import typer

from api.cli_errors import fail

chain_app = typer.Typer(no_args_is_help=True)
contracts_app = typer.Typer(no_args_is_help=True)


@contracts_app.command("build")
def build(force: bool = typer.Option(False, help="Recompile every source.")) -> None:
    """Compile contracts/src with Hardhat 3 and solc-js (offline)."""
    from contracts.artifacts import build_contracts

    try:
        typer.echo(build_contracts(force=force) or "contracts up to date")
    except (RuntimeError, FileNotFoundError) as exc:
        fail(str(exc))
