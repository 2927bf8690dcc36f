"""Apply the indexer's Alembic migrations (its own chain and version table; see indexer/schema.py)."""

from __future__ import annotations

from pathlib import Path

from ledger.migrate import MigrationChain

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_indexer"
INDEXER_CHAIN = MigrationChain(MIGRATIONS_DIR, VERSION_TABLE)
alembic_config = INDEXER_CHAIN.alembic_config
upgrade = INDEXER_CHAIN.upgrade
current_revision = INDEXER_CHAIN.current_revision
