"""`kogi audit …`: the audit log's maintenance commands (verify the hash chain)."""

from __future__ import annotations

import json

import typer

from api.cli.errors import database_or_fail, fail

app = typer.Typer(no_args_is_help=True)

DATABASE_URL = typer.Option(
    None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
)


@app.command("verify")
def verify(
    database_url: str = DATABASE_URL,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first record that does not match."""
    from sqlalchemy.exc import SQLAlchemyError

    from ledger.config import LedgerSettings
    from services.audit import AuditLog

    database = database_or_fail(database_url or LedgerSettings().database_url)
    try:
        report = AuditLog(database).verify()
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps(report.__dict__))
    if report.ok:
        if not as_json:
            typer.echo(f"audit log: {report.records_checked} records verified, hash chain intact")
        return
    record = f" ({report.first_bad_record_id})" if report.first_bad_record_id else ""
    fail(f"audit log: record {report.first_bad_sequence}{record} fails verification: {report.reason}")
