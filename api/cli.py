"""The `kogi` command line: one root Typer app; each area registers its sub-commands.

Errors end with a non-zero exit and one readable line on stderr (see `fail`).
"""
from __future__ import annotations

import typer

from api import cli_bench, cli_chain, cli_db, cli_demo, cli_indexer, cli_ledger, cli_serve

app = typer.Typer(
    name="kogi",
    help="Kogi Ledger: double-entry ledger, portfolio-token contracts and chain indexer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_db.app, name="db", help="Database schema (Alembic migrations).")
app.add_typer(cli_ledger.app, name="ledger", help="Ledger maintenance: verify the hash chain, expire holds.")
app.add_typer(cli_bench.app, name="bench", help="Benchmarks that print JSON and compare against a peer.")
app.add_typer(cli_chain.chain_app, name="chain", help="Local development chain (anvil).")
app.add_typer(cli_chain.contracts_app, name="contracts", help="Build and deploy the Solidity contracts.")
app.add_typer(cli_indexer.indexer_app, name="indexer", help="Follow a chain into the ledger.")
app.command("reconcile")(cli_indexer.reconcile)
app.command("demo")(cli_demo.demo)
cli_serve.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
