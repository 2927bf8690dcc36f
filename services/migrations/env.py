"""Alembic environment of the services: their own version table (the ledger's and indexer's chains stay apart)."""

from __future__ import annotations

from alembic import context

from services.auth_schema import ServicesBase

VERSION_TABLE = "alembic_version_services"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=ServicesBase.metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
