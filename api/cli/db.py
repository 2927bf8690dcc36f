"""`kogi db …`: the schema is created and changed only by Alembic migrations."""

from __future__ import annotations

import typer

from api.cli.errors import database_or_fail, fail

app = typer.Typer(no_args_is_help=True)


@app.command("upgrade")
def upgrade(
    database_url: str = typer.Option(
        None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
    ),
    revision: str = typer.Option("head", help="Target revision."),
) -> None:
    """Apply migrations up to REVISION (idempotent)."""
    from sqlalchemy.exc import SQLAlchemyError

    from indexer import migrate as indexer_migrate
    from ledger.config import LedgerSettings
    from ledger.migrate import current_revision
    from ledger.migrate import upgrade as run_upgrade
    from services import migrate as services_migrate

    url = database_url or LedgerSettings().database_url
    database = database_or_fail(url)
    try:
        run_upgrade(database.write_engine, revision)
        typer.echo(f"database at revision {current_revision(database.write_engine)}")
        # The indexer's tables have their own Alembic chain (version table alembic_version_indexer);
        # REVISION names a ledger revision, so the indexer always goes to its head.
        indexer_migrate.upgrade(database.write_engine)
        typer.echo(f"indexer schema at revision {indexer_migrate.current_revision(database.write_engine)}")
        services_migrate.upgrade(database.write_engine)  # sign-in nonces and sessions (services/auth_schema.py)
        typer.echo(f"services schema at revision {services_migrate.current_revision(database.write_engine)}")
    except SQLAlchemyError as exc:
        fail(f"migration failed: {str(exc).splitlines()[0]}")
    finally:
        database.dispose()
