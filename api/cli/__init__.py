"""The `kogi` command line: one root Typer app; each command group lives in its own module here.

The modules only parse arguments, call the use case (services/, or a ledger/indexer/contracts
function when the use case is a single call) and print. Errors end with a non-zero exit and one
readable line on stderr (`api.cli.errors.fail`). `python -m api.cli` runs it (`__main__.py`).
"""

from __future__ import annotations

import typer

from api.cli import audit, bench, chain, db, demo, indexer, keys, ledger, serve

app = typer.Typer(
    name="kogi",
    help="Kogi Ledger: double-entry ledger, portfolio-token contracts and chain indexer.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db", help="Database schema (Alembic migrations).")
app.add_typer(ledger.app, name="ledger", help="Ledger maintenance: verify the hash chain, expire holds.")
app.add_typer(audit.app, name="audit", help="Audit log: verify its hash chain.")
app.add_typer(bench.app, name="bench", help="Benchmarks that print JSON and compare against a peer.")
app.add_typer(chain.chain_app, name="chain", help="Local development chain (anvil).")
app.add_typer(chain.contracts_app, name="contracts", help="Build and deploy the Solidity contracts.")
app.add_typer(indexer.indexer_app, name="indexer", help="Follow a chain into the ledger.")
app.add_typer(keys.app, name="keys", help="The platform's on-chain keys (encrypted keystore).")
app.command("reconcile")(indexer.reconcile)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)

__all__ = ["app"]
