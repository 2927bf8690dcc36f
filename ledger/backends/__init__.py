"""The ledger's dialect-specific operations, chosen once per database (`backend_for`).

Nothing outside this package branches on the dialect: the rest of the ledger is one code path
over SQLAlchemy Core and asks its backend (ledger.backends.base.Backend) for the rest.
"""

from __future__ import annotations

from ledger.backends.base import Backend, BeforeSeal, PendingWrite, Sealed
from ledger.backends.postgres import PostgresBackend
from ledger.backends.sqlite import SqliteBackend
from ledger.database import Database

_BACKENDS: dict[str, Backend] = {"postgresql": PostgresBackend(), "sqlite": SqliteBackend()}

__all__ = ["Backend", "BeforeSeal", "PendingWrite", "Sealed", "backend_for"]


def backend_for(database: Database) -> Backend:
    """The backend of `database`'s dialect (backends are stateless: one instance each)."""
    try:
        return _BACKENDS[database.dialect]
    except KeyError:
        raise ValueError(f"the ledger runs on PostgreSQL or SQLite, not {database.dialect}") from None
