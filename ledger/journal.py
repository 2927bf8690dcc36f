"""Reading the journal: entries with their legs and seals, the ledger head, seal ranges.

Entries are append-only; their sequence number, recorded time and chain hash live in
`entry_seals` (one row per committed entry), so every read of a sealed entry joins the two.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Connection

from ledger.catalog import Catalog, page_limit
from ledger.errors import EntryNotFound, ValidationFailed
from ledger.limits import DEFAULT_PAGE_SIZE, MAX_INT64, MAX_SEALS_PAGE
from ledger.model import Entry, Leg, Side
from ledger.schema import entries_t, heads_t, postings_t, seals_t


def check_sequence(sequence: int | None) -> None:
    """ValidationFailed unless `sequence` is None or a possible sequence number."""
    if sequence is not None and not 0 <= sequence <= MAX_INT64:
        raise ValidationFailed("sequence numbers are integers from 0 to 2^63-1")


def sealed_entries() -> Select[Any]:
    """Entries with their seal (sequence, recorded time, chain hash). Every committed entry has one."""
    return select(entries_t, seals_t.c.sequence, seals_t.c.recorded_at_us, seals_t.c.hash).join(
        seals_t, seals_t.c.entry_id == entries_t.c.id
    )


def entry_from_row(ledger: str, row: Any, legs: tuple[Leg, ...]) -> Entry:
    return Entry(
        id=row.id,
        ledger=ledger,
        sequence=int(row.sequence),
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        effective_at_us=int(row.effective_at_us),
        recorded_at_us=int(row.recorded_at_us),
        external_ref=row.external_ref,
        reverses_entry_id=row.reverses_entry_id,
        metadata=json.loads(row.metadata_json),
        legs=legs,
        body_digest=row.body_digest,
        hash=row.hash,
    )


def head_sequence(conn: Connection, ledger_id: int) -> int:
    """The ledger's last sequence number (0 before its first entry)."""
    return int(conn.execute(select(heads_t.c.last_sequence).where(heads_t.c.ledger_id == ledger_id)).scalar_one())


def sequence_at_us(conn: Connection, ledger_id: int, moment_us: int) -> int:
    """The last sequence recorded at or before `moment_us` (recorded time is monotonic)."""
    value = conn.execute(
        select(func.max(seals_t.c.sequence)).where(
            seals_t.c.ledger_id == ledger_id, seals_t.c.recorded_at_us <= moment_us
        )
    ).scalar()
    return int(value or 0)


class Journal:
    """Read access to the journal of every ledger in a catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.db = catalog.db

    def get_entry(self, ledger: str, entry_id: str) -> Entry:
        with self.db.read() as conn:
            return self.load_entry(conn, ledger, entry_id)

    def get_entry_by_key(self, ledger: str, idempotency_key: str) -> Entry:
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            row = conn.execute(
                select(entries_t.c.id).where(
                    entries_t.c.ledger_id == ledger_id, entries_t.c.idempotency_key == idempotency_key
                )
            ).first()
            if row is None:
                raise EntryNotFound(f"no entry with idempotency key {idempotency_key}")
            return self.load_entry(conn, ledger, row.id)

    def load_entry(self, conn: Connection, ledger: str, entry_id: str) -> Entry:
        """The sealed entry `entry_id` of `ledger` with its legs (EntryNotFound if there is none)."""
        ledger_id = self.catalog.ledger_id(conn, ledger)
        row = conn.execute(
            sealed_entries().where(entries_t.c.id == entry_id, entries_t.c.ledger_id == ledger_id)
        ).first()
        if row is None:
            raise EntryNotFound(f"entry {entry_id} does not exist")
        legs = tuple(self.legs(conn, [entry_id])[entry_id])
        return entry_from_row(ledger, row, legs)

    def legs(self, conn: Connection, entry_ids: list[str]) -> dict[str, list[Leg]]:
        """The legs of each entry, in leg order, with account and asset codes."""
        result: dict[str, list[Leg]] = {entry_id: [] for entry_id in entry_ids}
        rows = conn.execute(
            select(
                postings_t.c.entry_id,
                postings_t.c.account_id,
                postings_t.c.asset_id,
                postings_t.c.side,
                postings_t.c.amount_units,
            )
            .where(postings_t.c.entry_id.in_(entry_ids))
            .order_by(postings_t.c.entry_id, postings_t.c.leg_index)
        )
        for row in rows:
            result[row.entry_id].append(
                Leg(
                    self.catalog.account_by_id(conn, int(row.account_id)).code,
                    self.catalog.asset_by_id(conn, int(row.asset_id)).code,
                    Side(row.side),
                    row.amount_units,
                )
            )
        return result

    def list_entries(self, ledger: str, *, after_sequence: int = 0, limit: int = DEFAULT_PAGE_SIZE) -> list[Entry]:
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            check_sequence(after_sequence)
            rows = conn.execute(
                sealed_entries()
                .where(seals_t.c.ledger_id == ledger_id, seals_t.c.sequence > after_sequence)
                .order_by(seals_t.c.sequence)
                .limit(page_limit(limit))
            ).all()
            legs = self.legs(conn, [row.id for row in rows]) if rows else {}
            return [entry_from_row(ledger, row, tuple(legs[row.id])) for row in rows]

    def head(self, ledger: str) -> tuple[int, str]:
        """(last sequence, last chain hash) of the ledger."""
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            row = conn.execute(select(heads_t).where(heads_t.c.ledger_id == ledger_id)).one()
            return int(row.last_sequence), row.last_hash

    def list_seals(
        self, ledger: str, *, after_sequence: int = 0, to_sequence: int | None = None, limit: int = MAX_SEALS_PAGE
    ) -> list[tuple[int, str]]:
        """(sequence, chain hash hex) of the seals after `after_sequence` up to `to_sequence`, in
        sequence order, at most `limit` — one primary-key range scan, so callers (journal anchoring)
        can stream a long range in bounded pages without loading entries or postings."""
        check_sequence(after_sequence)
        check_sequence(to_sequence)
        if not 1 <= limit <= MAX_SEALS_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_SEALS_PAGE}")
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            query = select(seals_t.c.sequence, seals_t.c.hash).where(
                seals_t.c.ledger_id == ledger_id, seals_t.c.sequence > after_sequence
            )
            if to_sequence is not None:
                query = query.where(seals_t.c.sequence <= to_sequence)
            rows = conn.execute(query.order_by(seals_t.c.sequence).limit(limit)).all()
            return [(int(row.sequence), row.hash) for row in rows]
