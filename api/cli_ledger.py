"""`kogi ledger …`: maintenance commands over the journal."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from api.cli_errors import fail

app = typer.Typer(no_args_is_help=True)

DATABASE_URL = typer.Option(None, "--database-url", envvar="KOGI_DATABASE_URL",
                            help="SQLAlchemy URL (default: the embedded SQLite file).")
LEDGER = typer.Option(None, "--ledger", help="Ledger code (default: KOGI_DEFAULT_LEDGER, 'main').")


@contextmanager
def open_store(database_url: str | None) -> Iterator["LedgerStore"]:
    from sqlalchemy.exc import SQLAlchemyError

    from ledger.config import LedgerSettings
    from ledger.database import Database
    from ledger.errors import LedgerError
    from ledger.store import LedgerStore

    database = Database(database_url or LedgerSettings().database_url)
    try:
        yield LedgerStore(database)
    except LedgerError as exc:
        fail(exc.detail)
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    finally:
        database.dispose()


def _ledger_code(ledger: str | None) -> str:
    from ledger.config import LedgerSettings

    return ledger or LedgerSettings().default_ledger


@app.command("verify")
def verify(database_url: str = DATABASE_URL, ledger: str = LEDGER,
           as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Recompute the hash chain and balances; exit 1 naming the first entry that does not match."""
    with open_store(database_url) as store:
        report = store.verify(_ledger_code(ledger))
    if as_json:
        typer.echo(json.dumps({
            "ledger": report.ledger, "ok": report.ok, "entries_checked": report.entries_checked,
            "first_bad_sequence": report.first_bad_sequence, "first_bad_entry_id": report.first_bad_entry_id,
            "reason": report.reason, "balance_mismatches": list(report.balance_mismatches),
        }))
    if report.ok:
        if not as_json:
            typer.echo(f"ledger {report.ledger}: {report.entries_checked} entries verified, hash chain and balances intact")
        return
    if report.first_bad_sequence is not None:
        fail(f"ledger {report.ledger}: entry {report.first_bad_entry_id} (sequence {report.first_bad_sequence}) "
             f"fails verification: {report.reason}")
    fail(f"ledger {report.ledger}: {report.reason}: " + "; ".join(report.balance_mismatches))


@app.command("expire-holds")
def expire_holds(database_url: str = DATABASE_URL, ledger: str = LEDGER) -> None:
    """Release every pending hold whose expiry has passed."""
    with open_store(database_url) as store:
        total = 0
        while True:
            expired = store.expire_holds(_ledger_code(ledger))
            total += expired
            if expired == 0:
                break
    typer.echo(f"expired {total} holds")


if False:  # pragma: no cover - typing only
    from ledger.store import LedgerStore
