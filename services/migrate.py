"""Apply the services' Alembic migrations (their own chain and version table; see services/auth_schema.py)."""

from __future__ import annotations

from pathlib import Path

from ledger.migrate import MigrationChain

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version_services"
SERVICES_CHAIN = MigrationChain(MIGRATIONS_DIR, VERSION_TABLE)
upgrade = SERVICES_CHAIN.upgrade
current_revision = SERVICES_CHAIN.current_revision
