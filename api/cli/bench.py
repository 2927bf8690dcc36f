"""`kogi bench …`: benchmarks are commands that print JSON and compare against a peer."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.errors import fail

app = typer.Typer(no_args_is_help=True)


@app.command("ledger")
def ledger_bench(
    database_url: str = typer.Option(
        ...,
        "--database-url",
        envvar="KOGI_BENCH_DATABASE_URL",
        help="PostgreSQL server to run on (fresh databases are created on it).",
    ),
    pgledger: Path = typer.Option(None, "--pgledger", help="Path to a pgledger checkout (the peer)."),
    accounts: int = typer.Option(10_000, min=20),
    hot_accounts: int = typer.Option(10, min=1),
    hot_share: float = typer.Option(0.5, min=0.0, max=1.0),
    transfers: int = typer.Option(200_000, min=1),
    clients: int = typer.Option(4, min=1, max=64),
    batch_size: int = typer.Option(1_000, min=1, max=10_000),
    as_json: bool = typer.Option(True, "--json/--no-json", help="Print the JSON report (default)."),
) -> None:
    """Kogi (one entry per transaction, and batched) vs pgledger on the same PostgreSQL."""
    from ledger.bench import Workload, run_ledger_bench

    if hot_accounts >= accounts:
        fail("--hot-accounts must be smaller than --accounts")
    workload = Workload(
        accounts=accounts,
        hot_accounts=hot_accounts,
        hot_share=hot_share,
        transfers=transfers,
        clients=clients,
        batch_size=batch_size,
    )
    try:
        report = run_ledger_bench(database_url, workload, pgledger)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc))
    typer.echo(json.dumps(report, indent=2 if not as_json else None))


@app.command("gas")
def gas_bench(as_json: bool = typer.Option(True, "--json/--no-json", help="Print the JSON report (default).")) -> None:
    """Gas of the Kogi contracts vs a plain OpenZeppelin ERC-20 on a fresh anvil."""
    from contracts.gasbench import run_gas_bench

    typer.echo(json.dumps(run_gas_bench(), indent=None if as_json else 2))


@app.command("indexer")
def indexer_bench(
    events: int = typer.Option(100_000, min=1, help="Token Transfer events to generate."),
    blocks: int = typer.Option(1_000, min=1, help="Blocks to spread them over (one fan-out transaction each)."),
    dense: bool = typer.Option(False, "--dense", help="Ten times denser: the events over blocks/10 blocks."),
    ponder: bool = typer.Option(True, "--ponder/--no-ponder", help="Also run Ponder 0.16.10 (npm) on the same chain."),
    require_ponder: bool = typer.Option(
        False, "--require-ponder", help="Exit 1 if Ponder could not be installed or run."
    ),
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        envvar="KOGI_BENCH_DATABASE_URL",
        help="PostgreSQL server for Kogi and Ponder (fresh databases); default: SQLite for Kogi, PGlite for Ponder.",
    ),
    timeout_s: float = typer.Option(3_600.0, "--timeout-s", min=1.0, help="Give up on a contender after this long."),
    as_json: bool = typer.Option(True, "--json/--no-json", help="Print the JSON report (default)."),
) -> None:
    """Kogi's indexer vs Ponder: N token Transfers on one anvil chain, empty database to the head."""
    from indexer.bench import Workload, run_indexer_bench

    workload = Workload(events=events, blocks=max(1, blocks // 10) if dense else blocks)
    try:
        report = run_indexer_bench(workload, database_url=database_url, ponder=ponder, timeout_s=timeout_s)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(json.dumps(report, indent=None if as_json else 2))
    if "error" in report["kogi"]:
        raise typer.Exit(1)
    if require_ponder and "error" in report["ponder"]:
        raise typer.Exit(1)
