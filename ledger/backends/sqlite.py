"""The SQLite backend. Write path: the batch's inserts as plain DB-API `executemany` with tuples.

SQLAlchemy's executemany builds and type-processes a parameter dict per row; for a batch of
thousands of entries that costs about as much as SQLite's own work. Semantics equal the
generic statements (same columns, amounts as decimal TEXT as `ledger.amounts.AmountUnits`
stores them on SQLite); errors are re-raised as SQLAlchemy's, so `Database.run_write`
retries them exactly as before (a unique violation sends a batch down the checked path).
The seal is the Python twin of PostgreSQL's kogi_seal() (SQLite's writers are serialised by
BEGIN IMMEDIATE anyway). Postings are summed in Python: SQLite stores amounts as decimal text,
and its SUM would go through floats.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import FromClause, Select, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection

from ledger import chain
from ledger.backends.base import PendingWrite, Sealed
from ledger.balances import BalanceState, Pair, lock_balances, store_balances
from ledger.model import now_us
from ledger.schema import heads_t, postings_t

INSERT_ENTRIES_SQL = (
    "INSERT INTO journal_entries (id, ledger_id, idempotency_key, kind, effective_at_us, external_ref, "
    "reverses_entry_id, metadata_json, body_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_POSTINGS_SQL = (
    "INSERT INTO postings (entry_id, leg_index, ledger_id, account_id, asset_id, side, amount_units, "
    "debits_after_units, credits_after_units) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_SEALS_SQL = (
    "INSERT INTO entry_seals (ledger_id, sequence, entry_id, recorded_at_us, hash) VALUES (?, ?, ?, ?, ?)"
)


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
    _executemany(
        conn,
        INSERT_ENTRIES_SQL,
        [
            (
                r["id"],
                r["ledger_id"],
                r["idempotency_key"],
                r["kind"],
                r["effective_at_us"],
                r["external_ref"],
                r["reverses_entry_id"],
                r["metadata_json"],
                r["body_digest"],
            )
            for r in entry_rows
        ],
    )
    _executemany(
        conn,
        INSERT_POSTINGS_SQL,
        [
            (
                r["entry_id"],
                r["leg_index"],
                r["ledger_id"],
                r["account_id"],
                r["asset_id"],
                r["side"],
                str(r["amount_units"]),
                str(r["debits_after_units"]),
                str(r["credits_after_units"]),
            )
            for r in posting_rows
        ],
    )


def insert_seals(conn: Connection, seal_rows: list[tuple[int, int, str, int, str]]) -> None:
    """(ledger_id, sequence, entry_id, recorded_at_us, hash) rows."""
    _executemany(conn, INSERT_SEALS_SQL, seal_rows)


def seal(conn: Connection, ledger_id: int, entry_ids: list[str], digests: list[str]) -> Sealed:
    """Number and chain-hash entries under the head lock (the Python twin of kogi_seal())."""
    head = conn.execute(
        select(heads_t.c.last_sequence, heads_t.c.last_hash, heads_t.c.last_recorded_at_us)
        .where(heads_t.c.ledger_id == ledger_id)
        .with_for_update()
    ).one()
    sequence, prev_hash = int(head.last_sequence), str(head.last_hash)
    recorded_at_us = max(now_us(), int(head.last_recorded_at_us))
    first_sequence = sequence + 1
    hashes, seal_rows = [], []
    for entry_id, digest in zip(entry_ids, digests, strict=True):
        sequence += 1
        prev_hash = chain.link_hash(prev_hash, sequence, recorded_at_us, entry_id, digest)
        hashes.append(prev_hash)
        seal_rows.append((ledger_id, sequence, entry_id, recorded_at_us, prev_hash))
    insert_seals(conn, seal_rows)
    conn.execute(
        heads_t.update()
        .where(heads_t.c.ledger_id == ledger_id)
        .values(last_sequence=sequence, last_hash=prev_hash, last_recorded_at_us=recorded_at_us)
    )
    return Sealed(first_sequence, recorded_at_us, hashes)


class SqliteBackend:
    """The ledger's operations on SQLite (see the module docstring)."""

    name = "sqlite"

    def lock_for_write(self, conn: Connection, pairs: list[Pair]) -> dict[Pair, BalanceState]:
        return lock_balances(conn, pairs)

    def persist_and_seal(self, conn: Connection, write: PendingWrite) -> Sealed:
        insert_entries(conn, write.entry_rows, write.posting_rows)
        store_balances(conn, write.balances)
        if write.before_seal is not None:
            write.before_seal(conn, write.ids_in_order)
        return seal(
            conn,
            write.ledger_id,
            [row["id"] for row in write.entry_rows],
            [row["body_digest"] for row in write.entry_rows],
        )

    def side_sums_select(self, source: FromClause, where: Sequence[Any], group_by: Sequence[Any]) -> Select[Any]:
        """Every matching posting's amount (exact integers once read; summed by the caller)."""
        return select(*group_by, postings_t.c.side, postings_t.c.amount_units).select_from(source).where(*where)
