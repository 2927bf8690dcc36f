"""`kogi indexer run` and `kogi reconcile`: mirror a chain into the ledger, and check it.

Thin: parse options, build Database/LedgerStore/RpcClient, call indexer.follower or
indexer.reconcile, print. Registered in api/cli.py.
"""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import typer

from api.cli_errors import fail

indexer_app = typer.Typer(no_args_is_help=True)

EXIT_DIFFERENCES = 1
EXIT_REORG_TOO_DEEP = 3
EXIT_LEASE_LOST = 4
PROGRESS_EVERY_S = 5.0
ONCE_MAX_FAILURES = 5
"""--once gives up after this many RPC errors in a row; the long-running mode retries forever."""


def _database_url(database_url: str | None) -> str:
    from ledger.config import LedgerSettings

    return database_url or LedgerSettings().database_url


def _manifest(manifest: Path | None, chain_id: int) -> dict[str, Any]:
    from contracts.manifest import ManifestError, read_manifest

    try:
        return read_manifest(manifest if manifest is not None else chain_id)
    except ManifestError as exc:
        fail(str(exc))


@indexer_app.command("alerts")
def alerts(
    show_all: bool = typer.Option(False, "--all", help="Acknowledged alerts too (default: open ones only)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
    ack: int | None = typer.Option(None, "--ack", metavar="ID", help="Acknowledge the alert with this id."),
    by: str | None = typer.Option(None, "--by", metavar="NAME", help="Who acknowledges (required with --ack)."),
    chain_id: int | None = typer.Option(None, "--chain-id", help="Only this chain's alerts."),
    database_url: str | None = typer.Option(None, "--database-url", envvar="KOGI_DATABASE_URL",
                                            help="SQLAlchemy URL (default: the embedded SQLite file)."),
) -> None:
    """List the indexer's alerts (e.g. a reorg deeper than the window), or acknowledge one with --ack."""
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from indexer.alerts import AlertError, acknowledge, list_alerts
    from ledger import Database

    if ack is None and by is not None:
        fail("--by goes with --ack ID")
    if ack is not None and not by:
        fail("--ack needs --by NAME (who handled the alert)")
    database = Database(_database_url(database_url))
    try:
        if ack is not None:
            assert by is not None
            try:
                done = acknowledge(database, ack, by)
            except (AlertError, ValueError) as exc:
                fail(str(exc))
            typer.echo(json.dumps(done.to_json(), sort_keys=True) if as_json
                       else f"alert {done.id} ({done.kind}, chain {done.chain_id}) acknowledged by {done.acknowledged_by}")
            return
        found = list_alerts(database, chain_id=chain_id, include_acknowledged=show_all)
    except SQLAlchemyError as exc:
        fail(f"cannot read the alerts ({type(exc).__name__}); is the database migrated (`kogi db upgrade`)?")
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps([alert.to_json() for alert in found], sort_keys=True, indent=2))
        return
    if not found:
        typer.echo("no alerts" if show_all else "no open alerts")
        return
    for alert in found:
        state = "open" if alert.open else f"acknowledged by {alert.acknowledged_by}"
        typer.echo(f"#{alert.id} {alert.created_at.isoformat(timespec='seconds')} chain {alert.chain_id} "
                   f"{alert.severity} {alert.kind} [{state}]: {alert.message}")


@indexer_app.command("run")
def run(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of the chain (any provider)."),
    manifest: Path | None = typer.Option(None, help="Deployment manifest (default .kogi/deployments/<chain id>.json)."),
    confirmations: int | None = typer.Option(
        None, min=0, help="Reorg window / finality depth in blocks (default per chain: anvil 5, mainnet 64, …)."),
    once: bool = typer.Option(False, "--once", help="Catch up with the head, then exit."),
    ledger: str = typer.Option("main", help="Ledger to post into."),
    database_url: str | None = typer.Option(None, "--database-url", envvar="KOGI_DATABASE_URL",
                                            help="SQLAlchemy URL (default: the embedded SQLite file)."),
    max_blocks_per_step: int = typer.Option(10_000, min=1, max=100_000, help="Blocks per step (bounds memory)."),
    owner: str | None = typer.Option(
        None, help="Lease owner name. Default: unique per process (a restart waits for the old lease to expire); "
                   "pass the old name to resume at once when the old process is known to be gone."),
    lease_ttl_s: float = typer.Option(30.0, min=0.1, help="Seconds before a silent follower's chain is taken over."),
) -> None:
    """Follow the chain into the ledger (posting provisionally, undoing reorgs inside the window).

    Backfill progress: a bar on stderr when it is a terminal, until caught up; otherwise (and once
    caught up) a line every few seconds with the lag and blocks/s."""
    import sys

    import httpx

    from indexer.follower import MAX_BACKOFF_S, TRANSIENT_ERRORS, Follower, ReorgTooDeep
    from indexer.progress import BackfillProgress, RichBar, terminal_bar_available
    from indexer.state import LeaseLost
    from indexer.rpc import RpcClient, RpcError
    from ledger import Database, LedgerStore

    rpc = RpcClient(rpc_url)
    database = Database(_database_url(database_url))
    stopping = {"now": False}
    follower: Follower | None = None
    bar: RichBar | None = None

    def stop(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    try:
        chain_id = rpc.chain_id()
        follower = Follower(LedgerStore(database), rpc, _manifest(manifest, chain_id), ledger=ledger,
                            confirmations=confirmations, max_blocks_per_step=max_blocks_per_step,
                            owner=owner, lease_ttl_s=lease_ttl_s)
        follower.bootstrap()
        typer.echo(f"indexing chain {chain_id} into ledger {ledger!r} (confirmations {follower.confirmations})")
        start = follower.state.cursor()
        progress = BackfillProgress(start.last_block if start else 0, rpc.head())
        if terminal_bar_available(sys.stderr) and not progress.snapshot().caught_up:
            bar = RichBar(chain_id)
        last_report, failures = 0.0, 0
        while not stopping["now"]:
            try:
                result = follower.step()
            except TRANSIENT_ERRORS as exc:
                failures += 1
                if once and failures >= ONCE_MAX_FAILURES:
                    raise
                typer.echo(f"kogi: warning: RPC error (attempt {failures}), retrying: {exc}", err=True)
                time.sleep(min(MAX_BACKOFF_S, 0.5 * 2**min(failures, 6)))
                continue
            failures = 0
            cursor = follower.state.cursor()
            snapshot = progress.update(result, cursor.last_block if cursor else 0, rpc.head())
            now = time.monotonic()
            if result.reorg_depth:
                typer.echo(f"reorg of depth {result.reorg_depth}: rewound to block {result.to_block}")
            if result.standby:
                if now - last_report >= PROGRESS_EVERY_S:
                    typer.echo(f"standby: another indexer holds chain {chain_id}")
                    last_report = now
                time.sleep(0.5)
                continue
            if bar is not None:
                bar.show(snapshot)
                if snapshot.caught_up and not result.reorg_depth:  # backfill done: log lines from now on
                    bar.close()
                    bar = None
                    typer.echo(progress.line())
                    last_report = now
            elif now - last_report >= PROGRESS_EVERY_S or (once and snapshot.caught_up):
                typer.echo(progress.line())
                last_report = now
            if snapshot.caught_up and not result.reorg_depth:
                if once:
                    break
                time.sleep(0.5)
    except ReorgTooDeep as exc:
        fail(str(exc), EXIT_REORG_TOO_DEEP)
    except LeaseLost as exc:
        fail(str(exc), EXIT_LEASE_LOST)
    except (RpcError, httpx.HTTPError) as exc:
        fail(f"RPC error at {rpc_url}: {exc}")
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        if bar is not None:
            bar.close()
        if follower is not None:
            follower.close()
        rpc.close()
        database.dispose()


def reconcile(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of the chain."),
    block: int | None = typer.Option(None, min=0, help="Block to compare at (default: the indexed block)."),
    ledger: str = typer.Option("main", help="Ledger holding the mirror."),
    database_url: str | None = typer.Option(None, "--database-url", envvar="KOGI_DATABASE_URL",
                                            help="SQLAlchemy URL (default: the embedded SQLite file)."),
) -> None:
    """Compare every mirrored balance with the chain; print the table; exit 1 on any difference."""
    import httpx

    from indexer.reconcile import NotIndexed, reconcile as run_reconcile
    from indexer.rpc import RpcClient, RpcError
    from ledger import Database, LedgerStore

    rpc = RpcClient(rpc_url)
    database = Database(_database_url(database_url))
    try:
        report = run_reconcile(LedgerStore(database), rpc, chain_id=rpc.chain_id(), ledger=ledger, block=block)
    except NotIndexed as exc:
        fail(str(exc))
    except (RpcError, httpx.HTTPError) as exc:
        fail(f"RPC error at {rpc_url}: {exc}")
    finally:
        rpc.close()
        database.dispose()
    header = ("account", "asset", "ledger", "chain", "diff")
    rows = [(r.account, r.asset, str(r.ledger_units), str(r.chain_units), str(r.diff_units)) for r in report.rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    typer.echo(f"chain {report.chain_id} at block {report.block}: {len(report.rows)} balances compared")
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    differences = report.differences
    if differences:
        named = "; ".join(f"{r.account} {r.asset} diff {r.diff_units}" for r in differences[:5])
        more = f" (and {len(differences) - 5} more)" if len(differences) > 5 else ""
        fail(f"{len(differences)} difference(s): {named}{more}", EXIT_DIFFERENCES)
    typer.echo("0 differences")
