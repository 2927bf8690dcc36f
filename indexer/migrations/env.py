"""Alembic environment of the indexer: its own version table, so the ledger's chain stays independent."""

from __future__ import annotations

from alembic import context

from indexer.schema import IndexerBase

VERSION_TABLE = "alembic_version_indexer"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=IndexerBase.metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
