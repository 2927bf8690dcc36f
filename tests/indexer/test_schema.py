"""The indexer's migrations: own version table, independent of the ledger's chain, both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from sqlalchemy import inspect

from indexer import migrate as indexer_migrate
from ledger import Database
from ledger.migrate import current_revision as ledger_revision

REPO = Path(__file__).resolve().parents[2]
INDEXER_TABLES = {"indexer_cursors", "indexer_blocks", "indexer_block_entries", "indexer_contracts", "indexer_leases"}


def test_kogi_db_upgrade_applies_both_chains_and_the_indexer_downgrades_alone(database_url: str) -> None:
    env = {**os.environ, "KOGI_DATABASE_URL": database_url}
    for _ in range(2):  # idempotent
        result = subprocess.run(
            [sys.executable, "-m", "api.cli", "db", "upgrade"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "revision 0001" in result.stdout and "indexer schema at revision i0003" in result.stdout

    database = Database(database_url)
    try:
        tables = set(inspect(database.write_engine).get_table_names())
        assert INDEXER_TABLES | {"alembic_version", "alembic_version_indexer", "journal_entries"} <= tables
        assert indexer_migrate.current_revision(database.write_engine) == "i0003"
        assert ledger_revision(database.write_engine) == "0001"

        config = indexer_migrate.alembic_config(database.write_engine)
        with database.write_engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        tables = set(inspect(database.write_engine).get_table_names())
        assert not tables & INDEXER_TABLES
        assert ledger_revision(database.write_engine) == "0001" and "journal_entries" in tables
        indexer_migrate.upgrade(database.write_engine)
        assert INDEXER_TABLES <= set(inspect(database.write_engine).get_table_names())
    finally:
        database.dispose()
