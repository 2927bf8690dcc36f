"""Verifying a ledger from its stored rows alone: every body digest, every chain link, the head,
and every stored balance against the sum of its postings.

Nothing is trusted but the rows: digests are recomputed from the entries and postings, links
from the digests, sums from the postings. The first entry that fails is named, so an operator
knows where the journal was altered, inserted into or cut.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger import chain
from ledger.catalog import Catalog
from ledger.journal import sealed_entries
from ledger.limits import VERIFY_CHUNK_ENTRIES
from ledger.model import VerifyReport
from ledger.schema import balances_t, heads_t, postings_t, seals_t

LegRow = tuple[int, int, str, int]
"""(account id, asset id, side, amount) of one stored posting."""


def verify(catalog: Catalog, ledger: str) -> VerifyReport:
    """Recompute every body digest and chain link in sequence order, then check that each
    stored balance equals the sum of its postings. Names the first entry that fails."""
    with catalog.db.read() as conn:
        ledger_id = catalog.ledger_id(conn, ledger)
        prev_hash = chain.GENESIS_HASH
        checked = 0
        sums: dict[tuple[int, int], list[int]] = {}
        for rows, postings in entry_chunks(conn, ledger_id):
            for row in rows:
                legs = postings.get(row.id, [])
                failure = _entry_failure(catalog, conn, ledger, row, legs, checked + 1, prev_hash)
                if failure:
                    return VerifyReport(ledger, checked, False, int(row.sequence), row.id, failure)
                prev_hash = row.hash
                checked += 1
                for account_id, asset_id, side, amount in legs:
                    total = sums.setdefault((account_id, asset_id), [0, 0])
                    total[0 if side == "D" else 1] += amount
        head = conn.execute(select(heads_t).where(heads_t.c.ledger_id == ledger_id)).one()
        if int(head.last_sequence) != checked or head.last_hash != prev_hash:
            return VerifyReport(
                ledger,
                checked,
                False,
                checked + 1,
                None,
                "ledger head does not match the last entry (entries removed?)",
            )
        mismatches = _balance_mismatches(catalog, conn, ledger_id, sums)
        if mismatches:
            return VerifyReport(
                ledger,
                checked,
                False,
                reason="stored balances differ from the journal",
                balance_mismatches=tuple(mismatches),
            )
        return VerifyReport(ledger, checked, True)


def _entry_failure(
    catalog: Catalog,
    conn: Connection,
    ledger: str,
    row: Any,
    legs: Sequence[LegRow],
    expected_sequence: int,
    prev_hash: str,
) -> str | None:
    """Why the entry `row` breaks the chain after `prev_hash`, or None when it holds."""
    if int(row.sequence) != expected_sequence:
        return f"sequence gap: expected {expected_sequence}, found {row.sequence}"
    digest = chain.body_digest(
        ledger=ledger,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        effective_at_us=int(row.effective_at_us),
        external_ref=row.external_ref,
        reverses_entry_id=row.reverses_entry_id,
        metadata_json=row.metadata_json,
        postings=[
            (catalog.account_by_id(conn, a).code, catalog.asset_by_id(conn, s).code, side, amount)
            for a, s, side, amount in legs
        ],
    )
    if digest != row.body_digest:
        return "content does not match its body digest (entry or postings altered)"
    if chain.link_hash(prev_hash, int(row.sequence), int(row.recorded_at_us), row.id, digest) != row.hash:
        return "chain hash mismatch (entry altered, inserted or removed)"
    return None


def _balance_mismatches(
    catalog: Catalog, conn: Connection, ledger_id: int, sums: dict[tuple[int, int], list[int]]
) -> list[str]:
    """Each stored balance row whose posted totals differ from the sums of its postings."""
    mismatches = []
    for row in conn.execute(select(balances_t).where(balances_t.c.ledger_id == ledger_id)):
        debits, credits = sums.get((int(row.account_id), int(row.asset_id)), [0, 0])
        if (debits, credits) != (row.debits_posted_units, row.credits_posted_units):
            account = catalog.account_by_id(conn, int(row.account_id)).code
            asset = catalog.asset_by_id(conn, int(row.asset_id)).code
            mismatches.append(
                f"{account} {asset}: stored debits/credits {row.debits_posted_units}/{row.credits_posted_units}"
                f" != postings {debits}/{credits}"
            )
    return mismatches


def entry_chunks(conn: Connection, ledger_id: int) -> Iterator[tuple[Sequence[Any], dict[str, list[LegRow]]]]:
    """Stream entries and their postings in sequence order, a bounded chunk at a time."""
    after = 0
    while True:
        rows = conn.execute(
            sealed_entries()
            .where(seals_t.c.ledger_id == ledger_id, seals_t.c.sequence > after)
            .order_by(seals_t.c.sequence)
            .limit(VERIFY_CHUNK_ENTRIES)
        ).all()
        if not rows:
            return
        postings: dict[str, list[LegRow]] = {}
        for posting in conn.execute(
            select(
                postings_t.c.entry_id,
                postings_t.c.account_id,
                postings_t.c.asset_id,
                postings_t.c.side,
                postings_t.c.amount_units,
            )
            .where(postings_t.c.entry_id.in_([row.id for row in rows]))
            .order_by(postings_t.c.entry_id, postings_t.c.leg_index)
        ):
            postings.setdefault(posting.entry_id, []).append(
                (int(posting.account_id), int(posting.asset_id), posting.side, posting.amount_units)
            )
        yield rows, postings
        after = int(rows[-1].sequence)
