"""LedgerAnchored events → `indexer_anchors`, and their check against the journal.

An anchor moves no value, so it produces no ledger entry (mapping.RECORDED_EVENTS): the follower
records it in `indexer_anchors` in the same transaction that moves the cursor past its block
(`write_anchors`), and a reorg's rewind deletes the rows above the common ancestor in the rewind's
transaction (`delete_anchors_after`), so the table always matches the indexed chain.

`verify_anchors` recomputes each recorded root from the ledger's entry seals
(`ledger.anchoring.journal_merkle_root`) and compares:
- verified: the journal range has exactly the anchored root;
- mismatch: it has another root (or a sealed sequence is missing) — the journal differs from what
  was anchored;
- ledger-behind: the range ends after the ledger's head (the ledger lags, or is another database);
- unchecked: the range cannot be recomputed here (over MAX_ANCHOR_RANGE, or starting before 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from indexer.schema import AnchorRow, table_of
from ledger.anchoring import AnchorRangeError, JournalGap, RangeBeyondHead, journal_merkle_root, ledger_key
from ledger.database import Database, insert_ignore
from ledger.store import LedgerStore

anchors_t = table_of(AnchorRow)

ANCHOR_EVENT = "LedgerAnchored"
VERIFIED, MISMATCH, LEDGER_BEHIND, UNCHECKED = "verified", "mismatch", "ledger-behind", "unchecked"

DecodedEvent = tuple[int, str, str, tuple[dict[str, Any], str, dict[str, Any]]]
"""What a range read (indexer.ranges) decodes per log: (block number, block hash, contract address,
(raw log, event name, decoded args))."""


@dataclass(frozen=True)
class AnchorRecord:
    """One LedgerAnchored event (a row of `indexer_anchors`). Hex values are lower-case 0x…."""

    chain_id: int
    contract: str
    ledger_key: str
    anchor_index: int
    from_sequence: int
    to_sequence: int
    merkle_root: str
    submitter: str
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int


@dataclass(frozen=True)
class AnchorCheck:
    """The anchor and what the journal says about it (`status`: see the module docstring)."""

    anchor: AnchorRecord
    status: str
    computed_root: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == VERIFIED


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


def anchor_records(chain_id: int, events: Sequence[DecodedEvent]) -> list[AnchorRecord]:
    """The LedgerAnchored events among a step's decoded events (others are ignored)."""
    records = []
    for block_number, block_hash, contract_address, (raw_log, name, args) in events:
        if name != ANCHOR_EVENT:
            continue
        records.append(
            AnchorRecord(
                chain_id=chain_id,
                contract=contract_address.lower(),
                ledger_key=_hex(args["ledgerId"]),
                anchor_index=int(args["anchorIndex"]),
                from_sequence=int(args["fromSequence"]),
                to_sequence=int(args["toSequence"]),
                merkle_root=_hex(args["merkleRoot"]),
                submitter=str(args["submitter"]).lower(),
                block_number=int(block_number),
                block_hash=block_hash.lower(),
                tx_hash=str(raw_log["transactionHash"]).lower(),
                log_index=int(raw_log["logIndex"], 16),
            )
        )
    return records


def write_anchors(conn: Connection, chain_id: int, records: Sequence[AnchorRecord]) -> None:
    """Insert the records inside the caller's transaction; a replayed step's rows are ignored (PK)."""
    rows = [
        dict(
            chain_id=chain_id,
            contract=r.contract,
            ledger_key=r.ledger_key,
            anchor_index=r.anchor_index,
            from_sequence=r.from_sequence,
            to_sequence=r.to_sequence,
            merkle_root=r.merkle_root,
            submitter=r.submitter,
            block_number=r.block_number,
            block_hash=r.block_hash,
            tx_hash=r.tx_hash,
            log_index=r.log_index,
        )
        for r in records
    ]
    if not rows:
        return
    conn.execute(insert_ignore(anchors_t, conn.dialect.name), rows)


def delete_anchors_after(conn: Connection, chain_id: int, block_number: int) -> None:
    """Forget anchors of blocks above `block_number` (a reorg's common ancestor), in the rewind's
    transaction: the canonical chain's events are recorded again when its blocks are re-read."""
    conn.execute(delete(anchors_t).where(anchors_t.c.chain_id == chain_id, anchors_t.c.block_number > block_number))


def _record(row: Any) -> AnchorRecord:
    return AnchorRecord(
        chain_id=int(row.chain_id),
        contract=row.contract,
        ledger_key=row.ledger_key,
        anchor_index=int(row.anchor_index),
        from_sequence=int(row.from_sequence),
        to_sequence=int(row.to_sequence),
        merkle_root=row.merkle_root,
        submitter=row.submitter,
        block_number=int(row.block_number),
        block_hash=row.block_hash,
        tx_hash=row.tx_hash,
        log_index=int(row.log_index),
    )


def list_anchors(db: Database, chain_id: int, *, ledger: str | None = None) -> list[AnchorRecord]:
    """Indexed anchors of a chain in chain order (of one ledger's id when `ledger` is given)."""
    query = select(anchors_t).where(anchors_t.c.chain_id == chain_id)
    if ledger is not None:
        query = query.where(anchors_t.c.ledger_key == _hex(ledger_key(ledger)))
    with db.read() as conn:
        rows = conn.execute(query.order_by(anchors_t.c.block_number, anchors_t.c.log_index)).all()
    return [_record(row) for row in rows]


def verify_anchors(store: LedgerStore, db: Database, chain_id: int, ledger: str) -> list[AnchorCheck]:
    """Recompute the root of every indexed anchor of `ledger` from its journal and compare."""
    checks = []
    for anchor in list_anchors(db, chain_id, ledger=ledger):
        try:
            computed = _hex(journal_merkle_root(store, ledger, anchor.from_sequence, anchor.to_sequence))
        except RangeBeyondHead as exc:
            checks.append(AnchorCheck(anchor, LEDGER_BEHIND, detail=exc.detail))
            continue
        except JournalGap as exc:
            checks.append(AnchorCheck(anchor, MISMATCH, detail=exc.detail))
            continue
        except AnchorRangeError as exc:
            checks.append(AnchorCheck(anchor, UNCHECKED, detail=exc.detail))
            continue
        if computed == anchor.merkle_root:
            checks.append(AnchorCheck(anchor, VERIFIED, computed))
        else:
            checks.append(
                AnchorCheck(
                    anchor,
                    MISMATCH,
                    computed,
                    f"journal {anchor.from_sequence}..{anchor.to_sequence} has root {computed}, "
                    f"anchored {anchor.merkle_root}",
                )
            )
    return checks
