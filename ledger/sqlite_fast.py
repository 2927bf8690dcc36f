"""SQLite write path: the batch's inserts as plain DB-API `executemany` with tuples.

SQLAlchemy's executemany builds and type-processes a parameter dict per row; for a batch of
thousands of entries that costs about as much as SQLite's own work. Semantics equal the
generic statements (same columns, amounts as decimal TEXT as `ledger.amounts.AmountUnits`
stores them on SQLite); errors are re-raised as SQLAlchemy's, so `Database.run_write`
retries them exactly as before (a unique violation sends a batch down the checked path).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

INSERT_ENTRIES_SQL = (
    "INSERT INTO journal_entries (id, ledger_id, idempotency_key, kind, effective_at_us, external_ref, "
    "reverses_entry_id, metadata_json, body_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_POSTINGS_SQL = (
    "INSERT INTO postings (entry_id, leg_index, ledger_id, account_id, asset_id, side, amount_units, "
    "debits_after_units, credits_after_units) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_SEALS_SQL = "INSERT INTO entry_seals (ledger_id, sequence, entry_id, recorded_at_us, hash) VALUES (?, ?, ?, ?, ?)"


def _executemany(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    try:
        raw.executemany(sql, rows)
    except sqlite3.IntegrityError as error:
        raise sa_exc.IntegrityError(sql, None, error) from error
    except sqlite3.OperationalError as error:
        raise sa_exc.OperationalError(sql, None, error) from error


def insert_entries(conn: Connection, entry_rows: list[dict[str, Any]], posting_rows: list[dict[str, Any]]) -> None:
    _executemany(conn, INSERT_ENTRIES_SQL, [
        (r["id"], r["ledger_id"], r["idempotency_key"], r["kind"], r["effective_at_us"], r["external_ref"],
         r["reverses_entry_id"], r["metadata_json"], r["body_digest"])
        for r in entry_rows
    ])
    _executemany(conn, INSERT_POSTINGS_SQL, [
        (r["entry_id"], r["leg_index"], r["ledger_id"], r["account_id"], r["asset_id"], r["side"],
         str(r["amount_units"]), str(r["debits_after_units"]), str(r["credits_after_units"]))
        for r in posting_rows
    ])


def insert_seals(conn: Connection, seal_rows: list[tuple[int, int, str, int, str]]) -> None:
    """(ledger_id, sequence, entry_id, recorded_at_us, hash) rows."""
    _executemany(conn, INSERT_SEALS_SQL, seal_rows)
