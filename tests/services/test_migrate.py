"""The services' migrations: their own Alembic chain and version table, applied by `kogi db upgrade`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect

from ledger.database import Database
from services import migrate

REPO = Path(__file__).resolve().parents[2]
AUTH_TABLES = {
    "auth_nonces",
    "auth_sessions",
    "auth_refresh_tokens",
    "api_keys",
    "audit_log",
    "audit_head",
    "alembic_version_services",
}


def test_kogi_db_upgrade_applies_the_services_chain(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/kogi.db"
    for _ in range(2):  # idempotent
        result = subprocess.run(
            [sys.executable, "-m", "api.cli", "db", "upgrade"],
            capture_output=True,
            text=True,
            env={**os.environ, "KOGI_DATABASE_URL": url},
            cwd=REPO,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "services schema at revision s0003" in result.stdout
    database = Database(url)
    try:
        assert AUTH_TABLES | {"alembic_version", "alembic_version_indexer"} <= set(
            inspect(database.write_engine).get_table_names()
        )
        assert migrate.current_revision(database.write_engine) == "s0003"
    finally:
        database.dispose()


def test_the_services_schema_matches_its_models(database: Database) -> None:
    """The migration creates exactly the columns the typed models declare (on both backends)."""
    from services.auth_schema import ServicesBase

    inspector = inspect(database.write_engine)
    for table in ServicesBase.metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
