"""`kogi indexer …` and `kogi reconcile`: mirror a chain into the ledger, and check it.

Thin: parse options, build Database/LedgerStore/RpcClient, call services.indexing (the follow
loop), indexer.reconcile, indexer.anchors or indexer.alerts, print. Registered in api/cli/__init__.py.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from api.cli.chain import manifest_or_fail
from api.cli.errors import fail

if TYPE_CHECKING:
    from indexer.progress import BackfillProgress, Snapshot
    from indexer.reconcile import ReconcileReport
    from indexer.status import StepResult

indexer_app = typer.Typer(no_args_is_help=True)

EXIT_DIFFERENCES = 1
EXIT_REORG_TOO_DEEP = 3
EXIT_LEASE_LOST = 4
PROGRESS_EVERY_S = 5.0


def _database_url(database_url: str | None) -> str:
    from ledger.config import LedgerSettings

    return database_url or LedgerSettings().database_url


@indexer_app.command("alerts")
def alerts(
    show_all: bool = typer.Option(False, "--all", help="Acknowledged alerts too (default: open ones only)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON array on stdout."),
    ack: int | None = typer.Option(None, "--ack", metavar="ID", help="Acknowledge the alert with this id."),
    by: str | None = typer.Option(None, "--by", metavar="NAME", help="Who acknowledges (required with --ack)."),
    chain_id: int | None = typer.Option(None, "--chain-id", help="Only this chain's alerts."),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
    ),
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
            typer.echo(
                json.dumps(done.to_json(), sort_keys=True)
                if as_json
                else f"alert {done.id} ({done.kind}, chain {done.chain_id}) acknowledged by {done.acknowledged_by}"
            )
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
        typer.echo(
            f"#{alert.id} {alert.created_at.isoformat(timespec='seconds')} chain {alert.chain_id} "
            f"{alert.severity} {alert.kind} [{state}]: {alert.message}"
        )


@indexer_app.command("run")
def run(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of the chain (any provider)."),
    manifest: Path | None = typer.Option(None, help="Deployment manifest (default .kogi/deployments/<chain id>.json)."),
    confirmations: int | None = typer.Option(
        None, min=0, help="Reorg window / finality depth in blocks (default per chain: anvil 5, mainnet 64, …)."
    ),
    once: bool = typer.Option(False, "--once", help="Catch up with the head, then exit."),
    ledger: str = typer.Option("main", help="Ledger to post into."),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
    ),
    max_blocks_per_step: int = typer.Option(10_000, min=1, max=100_000, help="Blocks per step (bounds memory)."),
    owner: str | None = typer.Option(
        None,
        help="Lease owner name. Default: unique per process (a restart waits for the old lease to expire); "
        "pass the old name to resume at once when the old process is known to be gone.",
    ),
    lease_ttl_s: float = typer.Option(30.0, min=0.1, help="Seconds before a silent follower's chain is taken over."),
    reader_process: bool = typer.Option(
        True,
        "--reader-process/--no-reader-process",
        help="Read and digest the next block range in a second process while posting (uses a second core).",
    ),
) -> None:
    """Follow the chain into the ledger (posting provisionally, undoing reorgs inside the window).

    Backfill progress: a bar on stderr when it is a terminal, until caught up; otherwise (and once
    caught up) a line every few seconds with the lag and blocks/s."""
    from indexer.follower import Follower
    from indexer.rpc import RpcClient
    from ledger import Database
    from ledger.chart import platform_store
    from services.indexing import backfill_progress, follow

    rpc = RpcClient(rpc_url)
    database = Database(_database_url(database_url))
    stopping = {"now": False}
    follower: Follower | None = None
    report: _RunReport | None = None

    def stop(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    try:
        with _run_errors(rpc_url):
            chain_id = rpc.chain_id()
            store = platform_store(database)
            follower = Follower(
                store,
                rpc,
                manifest_or_fail(manifest, chain_id),
                ledger=ledger,
                confirmations=confirmations,
                max_blocks_per_step=max_blocks_per_step,
                owner=owner,
                lease_ttl_s=lease_ttl_s,
                reader_process=reader_process,
            )
            follower.bootstrap()
            typer.echo(f"indexing chain {chain_id} into ledger {ledger!r} (confirmations {follower.confirmations})")
            progress = backfill_progress(follower, rpc)
            report = _RunReport(chain_id, progress, once=once)
            follow(
                follower, rpc, progress, report, once=once, lease_ttl_s=lease_ttl_s, stopping=lambda: stopping["now"]
            )
    finally:
        if report is not None:
            report.close()
        if follower is not None:
            follower.close()
        rpc.close()
        database.dispose()


@contextmanager
def _run_errors(rpc_url: str) -> Iterator[None]:
    """`kogi indexer run`'s endings: a reorg deeper than the window and a lost lease have their own exit
    codes, an RPC error is one line, Ctrl-C stops quietly."""
    import httpx

    from indexer.reorg import ReorgTooDeep
    from indexer.rpc import RpcError
    from indexer.state import LeaseLost

    try:
        yield
    except ReorgTooDeep as exc:
        fail(str(exc), EXIT_REORG_TOO_DEEP)
    except LeaseLost as exc:
        fail(str(exc), EXIT_LEASE_LOST)
    except (RpcError, httpx.HTTPError) as exc:
        fail(f"RPC error at {rpc_url}: {exc}")
    except KeyboardInterrupt:
        typer.echo("stopped")


class _RunReport:
    """How `kogi indexer run` shows services.indexing.follow: a bar on a terminal until caught up, else
    (and after) a progress line every PROGRESS_EVERY_S; warnings on stderr, throttled alike."""

    def __init__(self, chain_id: int, progress: BackfillProgress, *, once: bool) -> None:
        import sys

        from indexer.progress import RichBar, terminal_bar_available

        self.chain_id, self.progress, self.once = chain_id, progress, once
        self.bar: RichBar | None = None
        if terminal_bar_available(sys.stderr) and not progress.snapshot().caught_up:
            self.bar = RichBar(chain_id)
        self.last_report = 0.0

    def _due(self) -> bool:
        """A throttled line may be printed now (and the clock restarts)."""
        now = time.monotonic()
        if now - self.last_report < PROGRESS_EVERY_S:
            return False
        self.last_report = now
        return True

    def retrying(self, failures: int, error: BaseException) -> None:
        typer.echo(f"kogi: warning: RPC error (attempt {failures}), retrying: {error}", err=True)

    def reorged(self, result: StepResult) -> None:
        typer.echo(f"reorg of depth {result.reorg_depth}: rewound to block {result.to_block}")

    def backing_off(self, reason: str) -> None:
        if self._due():
            typer.echo(f"kogi: warning: {reason}", err=True)

    def standing_by(self) -> None:
        if self._due():
            typer.echo(f"standby: another indexer holds chain {self.chain_id}")

    def progressed(self, result: StepResult, snapshot: Snapshot) -> None:
        now = time.monotonic()
        if self.bar is not None:
            self.bar.show(snapshot)
            if snapshot.caught_up and not result.reorg_depth:  # backfill done: log lines from now on
                self.bar.close()
                self.bar = None
                typer.echo(self.progress.line())
                self.last_report = now
        elif now - self.last_report >= PROGRESS_EVERY_S or (self.once and snapshot.caught_up):
            typer.echo(self.progress.line())
            self.last_report = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def reconcile(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of the chain (its state at --block is read)."),
    block: int | None = typer.Option(
        None,
        min=0,
        help="Block to compare at, inside the indexed range (default: the indexed block). Blocks older "
        "than the node's recent state need an archive node.",
    ),
    chain: int | None = typer.Option(
        None,
        "--chain",
        "--chain-id",
        min=1,
        help="Chain to reconcile when the database mirrors several (default: the RPC's chain); the RPC must serve it.",
    ),
    ledger: str = typer.Option("main", help="Ledger holding the mirror."),
    as_json: bool = typer.Option(False, "--json", help="The report as one JSON object on stdout."),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
    ),
) -> None:
    """Compare every mirrored balance with the chain at a block; print the table; exit 1 on any difference."""
    import httpx

    from indexer.reconcile import ReconcileError
    from indexer.reconcile import reconcile as run_reconcile
    from indexer.rpc import RpcClient, RpcError
    from ledger import Database
    from ledger.chart import platform_store

    rpc = RpcClient(rpc_url)
    database = Database(_database_url(database_url))
    try:
        chain_id = chain if chain is not None else rpc.chain_id()
        store = platform_store(database)
        report = run_reconcile(store, rpc, chain_id=chain_id, ledger=ledger, block=block)
    except ReconcileError as exc:
        fail(str(exc))
    except (RpcError, httpx.HTTPError) as exc:
        fail(f"RPC error at {rpc_url}: {exc}")
    finally:
        rpc.close()
        database.dispose()
    if as_json:
        _print_reconcile_json(report)
    else:
        _print_reconcile_table(report)
    _fail_on_differences(report, as_json)


def _print_reconcile_json(report: ReconcileReport) -> None:
    import json

    typer.echo(
        json.dumps(
            {
                "chain_id": report.chain_id,
                "block": report.block,
                "compared": len(report.rows),
                "differences": len(report.differences),
                "rows": [
                    {
                        "account": r.account,
                        "asset": r.asset,
                        "ledger": str(r.ledger_units),
                        "chain": str(r.chain_units),
                        "diff": str(r.diff_units),
                    }
                    for r in report.rows
                ],
                "configuration_compared": len(report.config),
                "configuration_differences": [
                    {"contract": c.contract, "kind": c.kind, "item": c.item, "ledger": c.indexed, "chain": c.chain}
                    for c in report.config_differences
                ],
            },
            sort_keys=True,
            indent=2,
        )
    )


def _print_reconcile_table(report: ReconcileReport) -> None:
    header = ("account", "asset", "ledger", "chain", "diff")
    rows = [(r.account, r.asset, str(r.ledger_units), str(r.chain_units), str(r.diff_units)) for r in report.rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    typer.echo(
        f"chain {report.chain_id} at block {report.block}: {len(report.rows)} balances and "
        f"{len(report.config)} contract configuration items compared"
    )
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip())


def _fail_on_differences(report: ReconcileReport, as_json: bool) -> None:
    """Exit EXIT_DIFFERENCES naming the first five differences (balances, then contract configuration
    registered vs the chain, indexer/reconcile.py); else the all-clear line."""
    differences = report.differences
    configuration = report.config_differences
    if configuration and not as_json:
        typer.echo(f"{len(configuration)} of {len(report.config)} contract configuration items differ:")
        for c in configuration:
            typer.echo(f"  {c.kind} {c.contract} {c.item}: indexed {c.indexed}, chain {c.chain}")
    if differences or configuration:
        named = "; ".join(
            [f"{r.account} {r.asset} diff {r.diff_units}" for r in differences[:5]]
            + [
                f"{c.kind} {c.contract} {c.item} indexed {c.indexed} chain {c.chain}"
                for c in configuration[: max(0, 5 - len(differences))]
            ]
        )
        total = len(differences) + len(configuration)
        more = f" (and {total - 5} more)" if total > 5 else ""
        fail(f"{total} difference(s) at block {report.block}: {named}{more}", EXIT_DIFFERENCES)
    if not as_json:
        typer.echo(f"0 differences at block {report.block}")


@indexer_app.command("anchors")
def anchors(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of the chain (its chain id selects the anchors)."),
    ledger: str = typer.Option("main", help="Ledger whose anchors are checked."),
    database_url: str | None = typer.Option(
        None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
) -> None:
    """List the indexed LedgerAnchored ranges with their check against the journal (verified / mismatch /
    ledger-behind); exit 1 on any mismatch."""
    import json

    import httpx
    from sqlalchemy.exc import SQLAlchemyError

    from indexer.anchors import MISMATCH, verify_anchors
    from indexer.rpc import RpcClient, RpcError
    from ledger import Database
    from ledger.chart import platform_store
    from ledger.errors import LedgerError

    rpc = RpcClient(rpc_url)
    database = Database(_database_url(database_url))
    try:
        chain_id = rpc.chain_id()
        checks = verify_anchors(platform_store(database), database, chain_id, ledger)
    except (RpcError, httpx.HTTPError) as exc:
        fail(f"RPC error at {rpc_url}: {exc}")
    except LedgerError as exc:
        fail(exc.detail)
    except SQLAlchemyError as exc:  # e.g. the indexer tables are not migrated (`kogi db upgrade`)
        fail(f"database error: {(str(exc).splitlines() or [type(exc).__name__])[0]}")
    finally:
        rpc.close()
        database.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "anchor_index": c.anchor.anchor_index,
                        "contract": c.anchor.contract,
                        "ledger_key": c.anchor.ledger_key,
                        "from_sequence": c.anchor.from_sequence,
                        "to_sequence": c.anchor.to_sequence,
                        "merkle_root": c.anchor.merkle_root,
                        "block_number": c.anchor.block_number,
                        "tx_hash": c.anchor.tx_hash,
                        "status": c.status,
                        "computed_root": c.computed_root,
                        "detail": c.detail,
                    }
                    for c in checks
                ],
                indent=2,
            )
        )
    else:
        typer.echo(f"chain {chain_id}, ledger {ledger}: {len(checks)} anchor(s)")
        for c in checks:
            typer.echo(
                f"  #{c.anchor.anchor_index} sequences {c.anchor.from_sequence}..{c.anchor.to_sequence} "
                f"block {c.anchor.block_number} root {c.anchor.merkle_root}: {c.status}"
                + (f" ({c.detail})" if c.detail and c.status != MISMATCH else "")
            )
    mismatches = [c for c in checks if c.status == MISMATCH]
    if mismatches:
        named = "; ".join(
            f"#{c.anchor.anchor_index} ({c.anchor.from_sequence}..{c.anchor.to_sequence})" for c in mismatches[:5]
        )
        more = f" (and {len(mismatches) - 5} more)" if len(mismatches) > 5 else ""
        fail(
            f"{len(mismatches)} anchor(s) do not match the journal of ledger {ledger}: {named}{more}", EXIT_DIFFERENCES
        )
