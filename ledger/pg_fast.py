"""PostgreSQL write path with two round trips inside the transaction.

The generic path (ledger.store) issues one statement per step; on PostgreSQL each
statement is a network round trip while row locks are held, and the ledger head
lock serialises all writers of a ledger. Here, with psycopg's pipeline mode:
  round trip 1: BEGIN; lock balance rows (ordered); lock the head row   (same order as the generic path)
  (Python: apply legs, check overdraft/overflow, sequence and hash — no I/O)
  round trip 2: insert entries, insert postings, update balances, update head — each
                ONE set-based statement over arrays (unnest), however large the batch.
Then COMMIT. Semantics are identical to the generic path; only the I/O differs.
"""
from __future__ import annotations

from typing import Any

import psycopg

LOCK_BALANCES_SQL = """
SELECT b.account_id, b.asset_id, b.debits_posted_units, b.credits_posted_units,
       b.debits_pending_units, b.credits_pending_units, b.version
FROM balances b
JOIN unnest(%s::bigint[], %s::bigint[]) AS k(account_id, asset_id)
  ON b.account_id = k.account_id AND b.asset_id = k.asset_id
ORDER BY b.account_id, b.asset_id
FOR UPDATE OF b
"""

LOCK_HEAD_SQL = """
SELECT last_sequence, last_hash, last_recorded_at_us FROM ledger_heads WHERE ledger_id = %s FOR UPDATE
"""

INSERT_ENTRIES_SQL = """
INSERT INTO journal_entries (id, ledger_id, sequence, idempotency_key, kind, effective_at_us, recorded_at_us,
                             external_ref, reverses_entry_id, metadata_json, body_digest, hash)
SELECT * FROM unnest(%s::varchar[], %s::bigint[], %s::bigint[], %s::varchar[], %s::varchar[], %s::bigint[],
                     %s::bigint[], %s::varchar[], %s::varchar[], %s::text[], %s::varchar[], %s::varchar[])
"""

INSERT_POSTINGS_SQL = """
INSERT INTO postings (entry_id, leg_index, ledger_id, sequence, account_id, asset_id, side, amount_units,
                      debits_after_units, credits_after_units)
SELECT * FROM unnest(%s::varchar[], %s::smallint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
                     %s::varchar[], %s::numeric[], %s::numeric[], %s::numeric[])
"""

UPDATE_BALANCES_SQL = """
UPDATE balances b
SET debits_posted_units = v.dp, credits_posted_units = v.cp, debits_pending_units = v.dq,
    credits_pending_units = v.cq, version = v.ver
FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], %s::bigint[])
     AS v(account_id, asset_id, dp, cp, dq, cq, ver)
WHERE b.account_id = v.account_id AND b.asset_id = v.asset_id
"""

UPDATE_HEAD_SQL = """
UPDATE ledger_heads SET last_sequence = %s, last_hash = %s, last_recorded_at_us = %s WHERE ledger_id = %s
"""

ENTRY_COLUMNS = ("id", "ledger_id", "sequence", "idempotency_key", "kind", "effective_at_us", "recorded_at_us",
                 "external_ref", "reverses_entry_id", "metadata_json", "body_digest", "hash")
POSTING_COLUMNS = ("entry_id", "leg_index", "ledger_id", "sequence", "account_id", "asset_id", "side",
                   "amount_units", "debits_after_units", "credits_after_units")
NUMERIC_POSTING_COLUMNS = {"amount_units", "debits_after_units", "credits_after_units"}


def lock_balances_and_head(
    raw: psycopg.Connection[Any], pairs: list[tuple[int, int]], ledger_id: int
) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """Round trip 1: lock the balance rows in (account, asset) order, then the head."""
    balances_cursor = raw.cursor()
    head_cursor = raw.cursor()
    with raw.pipeline():
        balances_cursor.execute(LOCK_BALANCES_SQL, ([a for a, _ in pairs], [s for _, s in pairs]))
        head_cursor.execute(LOCK_HEAD_SQL, (ledger_id,))
    head = head_cursor.fetchone()
    assert head is not None
    return balances_cursor.fetchall(), head


def persist(
    raw: psycopg.Connection[Any],
    entry_rows: list[dict[str, Any]],
    posting_rows: list[dict[str, Any]],
    balance_rows: list[tuple[int, int, int, int, int, int, int]],
    head: tuple[int, str, int, int],
) -> None:
    """Round trip 2: every write of the transaction as set-based statements."""
    entry_arrays = [[row[column] for row in entry_rows] for column in ENTRY_COLUMNS]
    posting_arrays = [
        [str(row[column]) for row in posting_rows] if column in NUMERIC_POSTING_COLUMNS
        else [row[column] for row in posting_rows]
        for column in POSTING_COLUMNS
    ]
    balance_arrays = [
        [row[0] for row in balance_rows], [row[1] for row in balance_rows],
        *[[str(row[i]) for row in balance_rows] for i in range(2, 6)],
        [row[6] for row in balance_rows],
    ]
    cursor = raw.cursor()
    with raw.pipeline():
        cursor.execute(INSERT_ENTRIES_SQL, entry_arrays)
        cursor.execute(INSERT_POSTINGS_SQL, posting_arrays)
        if balance_rows:
            cursor.execute(UPDATE_BALANCES_SQL, balance_arrays)
        cursor.execute(UPDATE_HEAD_SQL, head)
