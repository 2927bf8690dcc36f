"""Engines and transactions for both backends.

SQLite (embedded default) follows a single-writer discipline so the threads and
processes of the embedded stack never see "database is locked":
- WAL journal: readers never block the writer and vice versa;
- writers open their transaction with BEGIN IMMEDIATE, so the write lock is taken
  up front (no deferred-lock upgrade deadlock) and waiters queue on busy_timeout;
- inside one process, writers also queue on a lock before touching SQLite at all.
PostgreSQL writers run at READ COMMITTED with row locks taken in a fixed order
(see ledger.posting); transient conflicts are retried by `run_write`.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.limits import WRITE_RETRY_LIMIT

T = TypeVar("T")

_POSTGRES_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available

_INSERT_BY_DIALECT: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_ignore(table: Table, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """`INSERT … ON CONFLICT DO NOTHING` into `table` for the dialect named (`conn.dialect.name`).

    The one spelling of "create it unless it exists" (accounts and balance rows opened on first
    use, indexer blocks and checkpoints, anchors): a concurrent writer inserting the same key
    is then not an error, and the row is read back afterwards.
    """
    return _INSERT_BY_DIALECT[dialect](table).on_conflict_do_nothing()


class Database:
    """A write engine and a read engine over one database (the same engine on PostgreSQL)."""

    def __init__(self, url: str, *, pool_size: int = 10, busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._writer_lock = threading.RLock()
        if self.is_sqlite:
            _ensure_sqlite_dir(url)
            self.write_engine = _sqlite_engine(url, busy_timeout_s, immediate=True)
            self.read_engine = _sqlite_engine(url, busy_timeout_s, immediate=False)
        else:
            self.write_engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800)
            self.read_engine = self.write_engine

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def insert_ignore(self, table: Table) -> postgresql.Insert | sqlite.Insert:
        """`INSERT … ON CONFLICT DO NOTHING` into `table` on this database (see `insert_ignore`)."""
        return insert_ignore(table, self.dialect)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (committed on success, rolled back on any error)."""
        if self.is_sqlite:
            with self._writer_lock, self.write_engine.begin() as conn:
                yield conn
        else:
            with self.write_engine.begin() as conn:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.read_engine.connect() as conn:
            yield conn

    def run_write(self, work: Callable[[Connection], T], *, retry_on_integrity: bool = False) -> T:
        """Run `work` in a write transaction, retrying transient conflicts.

        Retrying is safe because every ledger write is idempotent: a retry either finds
        its own earlier effect (by idempotency key) or applies it for the first time.
        `retry_on_integrity` also retries unique violations caused by a concurrent writer
        inserting the same key (the retry then sees it).
        """
        attempt = 0
        while True:
            try:
                with self.write() as conn:
                    return work(conn)
            except (DBAPIError, psycopg.Error) as exc:
                attempt += 1
                if attempt >= WRITE_RETRY_LIMIT or not _is_retryable(exc, retry_on_integrity):
                    raise
                time.sleep(min(0.2, 0.002 * 2 ** min(attempt, 7)) * random.random())

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _is_retryable(exc: Exception, retry_on_integrity: bool) -> bool:
    """Deadlock/serialization/lock-timeout always; unique violations when asked (a concurrent
    writer inserted the same key: the retry finds it). Raw psycopg errors come from
    ledger.backends.postgres."""
    sqlstate = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
    if sqlstate in _POSTGRES_RETRYABLE_SQLSTATES:
        return True
    is_unique_violation = sqlstate == "23505" or (
        isinstance(exc, IntegrityError) and sqlstate is None  # SQLite, or ledger.posting.RetryChecked
    )
    if retry_on_integrity and is_unique_violation:
        return True
    return "database is locked" in str(exc)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[1] if "///" in url else ""
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_engine(url: str, busy_timeout_s: float, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
