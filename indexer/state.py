"""The indexer's persistent state (cursor, recent blocks, their entries, followed contracts).

Every change of the cursor happens in one transaction together with the block hashes and
entry ids of the blocks it passes, so the cursor never points past what is recorded.

`chain_progress` is what readers outside the indexer (/health) may know of these tables: every
chain's cursor and open alerts, as typed rows, so that no one else queries them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.dml import Insert

from indexer.alerts import Alert, open_alerts
from indexer.anchors import AnchorRecord, delete_anchors_after, write_anchors
from indexer.mapping import ContractInfo
from indexer.rpc import BlockHeader
from indexer.schema import (
    BlockEntryRow,
    BlockRow,
    CheckpointRow,
    ContractRow,
    CursorRow,
    LeaseRow,
    table_of,
)
from ledger.database import Database
from ledger.schema import seals_t

log = logging.getLogger("kogi.indexer")

cursors_t = table_of(CursorRow)
blocks_t = table_of(BlockRow)
block_entries_t = table_of(BlockEntryRow)
contracts_t = table_of(ContractRow)
leases_t = table_of(LeaseRow)
checkpoints_t = table_of(CheckpointRow)

FACTORY_KINDS = ("token", "round", "splitter", "rights_token")
"""Kinds of contracts discovered from the chain (a factory's `PortfolioCreated`): a reorg can
orphan their discovery, so a rollback un-registers those above the common ancestor and registers
them again from the canonical blocks. The other kinds (factory, donation router, anchor) come from
the deployment manifest and stay registered."""


class LeaseLost(RuntimeError):
    """Another follower took this chain over (our lease expired): stop writing."""


@dataclass(frozen=True)
class Lease:
    owner: str
    epoch: int


@dataclass(frozen=True)
class Cursor:
    chain_id: int
    last_block: int
    last_block_hash: str


@dataclass(frozen=True)
class Checkpoint:
    """The last entry a block produced (see indexer.schema.CheckpointRow)."""

    block_number: int
    block_hash: str
    ledger: str
    entry_id: str


class CheckpointAt(NamedTuple):
    """A checkpoint as read back: its block, hash and entry, and that entry's journal sequence."""

    block_number: int
    block_hash: str
    entry_id: str
    sequence: int


@dataclass(frozen=True)
class BlockEntry:
    entry_id: str
    block_number: int
    block_hash: str
    ordinal: int = 0


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a chain's lease (`indexer_leases`) and until when (microseconds, the followers' clock)."""

    owner: str
    epoch: int
    expires_at_us: int


class IndexerState:
    """Reads and writes of the indexer tables for one chain."""

    def __init__(self, database: Database, chain_id: int) -> None:
        self.db = database
        self.chain_id = chain_id

    def _insert_ignore(self, table: Table) -> Insert:
        """`INSERT … ON CONFLICT DO NOTHING`: a replayed step's rows (same keys) are no error."""
        return self.db.insert_ignore(table)

    # ------------------------------------------------------------------- leases

    def acquire_lease(self, owner: str, now_us: int, ttl_us: int) -> Lease | None:
        """Take or renew the chain's lease; None while another owner's lease is still valid."""

        def work(conn: Connection) -> Lease | None:
            row = conn.execute(select(leases_t).where(leases_t.c.chain_id == self.chain_id).with_for_update()).first()
            expires = now_us + ttl_us
            if row is None:
                conn.execute(
                    leases_t.insert().values(chain_id=self.chain_id, owner=owner, epoch=1, expires_at_us=expires)
                )
                return Lease(owner, 1)
            if row.owner == owner:
                epoch = int(row.epoch)
            elif int(row.expires_at_us) < now_us:
                epoch = int(row.epoch) + 1  # take-over: the fencing token moves on
            else:
                return None
            conn.execute(
                leases_t.update()
                .where(leases_t.c.chain_id == self.chain_id)
                .values(owner=owner, epoch=epoch, expires_at_us=expires)
            )
            return Lease(owner, epoch)

        return self.db.run_write(work, retry_on_integrity=True)

    def release_lease(self, lease: Lease) -> None:
        """Let another follower take over at once (clean shutdown)."""

        def work(conn: Connection) -> None:
            conn.execute(
                leases_t.update()
                .where(
                    leases_t.c.chain_id == self.chain_id,
                    leases_t.c.owner == lease.owner,
                    leases_t.c.epoch == lease.epoch,
                )
                .values(expires_at_us=0)
            )

        self.db.run_write(work)

    def lease_holder(self) -> LeaseHolder | None:
        """The chain's lease as stored (None before any follower took it)."""
        with self.db.read() as conn:
            row = conn.execute(select(leases_t).where(leases_t.c.chain_id == self.chain_id)).first()
        return None if row is None else LeaseHolder(row.owner, int(row.epoch), int(row.expires_at_us))

    def fence(self, conn: Connection, lease: Lease) -> None:
        """Inside any write transaction (the ledger's too): fail unless `lease` still holds the chain.

        Locks the lease row until that transaction ends, so a successor cannot take over
        between this check and the commit."""
        self._fence(conn, lease)

    def _fence(self, conn: Connection, lease: Lease) -> None:
        row = conn.execute(
            select(leases_t.c.owner, leases_t.c.epoch).where(leases_t.c.chain_id == self.chain_id).with_for_update()
        ).first()
        if row is None or (row.owner, int(row.epoch)) != (lease.owner, lease.epoch):
            holder = "nobody" if row is None else f"{row.owner} (epoch {row.epoch})"
            raise LeaseLost(f"chain {self.chain_id}: lease of {lease.owner} (epoch {lease.epoch}) lost to {holder}")

    # ------------------------------------------------------------------- cursor

    def cursor(self) -> Cursor | None:
        with self.db.read() as conn:
            row = conn.execute(select(cursors_t).where(cursors_t.c.chain_id == self.chain_id)).first()
        return None if row is None else Cursor(self.chain_id, int(row.last_block), row.last_block_hash)

    def _set_cursor(self, conn: Connection, number: int, block_hash: str) -> None:
        values = dict(last_block=number, last_block_hash=block_hash, updated_at=datetime.now(UTC))
        updated = conn.execute(cursors_t.update().where(cursors_t.c.chain_id == self.chain_id).values(**values))
        if updated.rowcount == 0:
            conn.execute(cursors_t.insert().values(chain_id=self.chain_id, **values))

    def start(self, number: int, block_hash: str, parent_hash: str) -> None:
        """First cursor of a chain: the block before the first one to scan."""

        def work(conn: Connection) -> None:
            if conn.execute(select(cursors_t.c.chain_id).where(cursors_t.c.chain_id == self.chain_id)).first():
                return
            self._set_cursor(conn, number, block_hash)
            conn.execute(
                blocks_t.insert().values(
                    chain_id=self.chain_id, number=number, hash=block_hash, parent_hash=parent_hash
                )
            )

        self.db.run_write(work, retry_on_integrity=True)

    def advance(
        self,
        to_block: BlockHeader,
        headers: Iterable[BlockHeader],
        entries: Sequence[BlockEntry],
        keep_from_block: int,
        lease: Lease,
        *,
        checkpoints: Sequence[Checkpoint] = (),
        anchors: Sequence[AnchorRecord] = (),
    ) -> None:
        """Move the cursor to `to_block` in a transaction of its own (see `advance_in`)."""
        self.db.run_write(
            lambda conn: self.advance_in(
                conn, to_block, headers, entries, keep_from_block, lease, checkpoints=checkpoints, anchors=anchors
            )
        )

    def advance_in(
        self,
        conn: Connection,
        to_block: BlockHeader,
        headers: Iterable[BlockHeader],
        entries: Sequence[BlockEntry],
        keep_from_block: int,
        lease: Lease,
        *,
        checkpoints: Sequence[Checkpoint] = (),
        anchors: Sequence[AnchorRecord] = (),
        contracts: Sequence[tuple[ContractInfo, int]] = (),
    ) -> None:
        """Inside the caller's transaction (fenced): move the cursor to `to_block`, record the recent
        hashes, the entries of blocks inside the reorg window, the blocks' checkpoints, anchors and
        (re-)discovered contracts (replacing any registration of the same address: a rollback's
        canonical discovery wins); prune hashes and entries that left the window."""
        self._fence(conn, lease)
        rows = [dict(chain_id=self.chain_id, number=h.number, hash=h.hash, parent_hash=h.parent_hash) for h in headers]
        if rows:
            conn.execute(self._insert_ignore(blocks_t), rows)
        kept = [e for e in entries if e.block_number >= keep_from_block]
        if kept:
            conn.execute(
                self._insert_ignore(block_entries_t),
                [
                    dict(
                        chain_id=self.chain_id,
                        entry_id=e.entry_id,
                        block_number=e.block_number,
                        block_hash=e.block_hash,
                        ordinal=e.ordinal,
                    )
                    for e in kept
                ],
            )
        if checkpoints:
            conn.execute(
                self._insert_ignore(checkpoints_t),
                [
                    dict(
                        chain_id=self.chain_id,
                        block_number=c.block_number,
                        block_hash=c.block_hash,
                        ledger=c.ledger,
                        entry_id=c.entry_id,
                    )
                    for c in checkpoints
                ],
            )
        if anchors:
            write_anchors(conn, self.chain_id, anchors)
        if contracts:
            self._add_contracts_in(conn, contracts, replace=True)
        conn.execute(delete(blocks_t).where(blocks_t.c.chain_id == self.chain_id, blocks_t.c.number < keep_from_block))
        conn.execute(
            delete(block_entries_t).where(
                block_entries_t.c.chain_id == self.chain_id, block_entries_t.c.block_number < keep_from_block
            )
        )
        self._set_cursor(conn, to_block.number, to_block.hash)

    def rewind(self, ancestor: int, ancestor_hash: str, lease: Lease) -> None:
        """Forget everything above the common ancestor (fenced), in a transaction of its own."""
        self.db.run_write(lambda conn: self.rewind_in(conn, ancestor, ancestor_hash, lease))

    def rewind_in(self, conn: Connection, ancestor: int, ancestor_hash: str, lease: Lease) -> None:
        """The rewind inside the caller's transaction — the ledger's, so that reversing a reorg's
        orphaned entries and moving the cursor back commit together or not at all. Contracts
        discovered above the ancestor are un-registered (their creation was orphaned; the
        canonical blocks register theirs again, in the same transaction when `advance_in` follows);
        the manifest's contracts stay."""
        self._fence(conn, lease)
        conn.execute(delete(blocks_t).where(blocks_t.c.chain_id == self.chain_id, blocks_t.c.number > ancestor))
        conn.execute(
            delete(block_entries_t).where(
                block_entries_t.c.chain_id == self.chain_id, block_entries_t.c.block_number > ancestor
            )
        )
        self._forget_discoveries_after(conn, ancestor)
        conn.execute(
            delete(checkpoints_t).where(
                checkpoints_t.c.chain_id == self.chain_id, checkpoints_t.c.block_number > ancestor
            )
        )
        delete_anchors_after(conn, self.chain_id, ancestor)
        self._set_cursor(conn, ancestor, ancestor_hash)

    # ------------------------------------------------------------------- blocks

    def recent_blocks(self) -> dict[int, str]:
        with self.db.read() as conn:
            rows = conn.execute(select(blocks_t.c.number, blocks_t.c.hash).where(blocks_t.c.chain_id == self.chain_id))
            return {int(row.number): row.hash for row in rows}

    def entries_after(self, block_number: int) -> list[BlockEntry]:
        """Entries of blocks above `block_number`, newest block first (the order to reverse them)."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(block_entries_t)
                .where(block_entries_t.c.chain_id == self.chain_id, block_entries_t.c.block_number > block_number)
                .order_by(block_entries_t.c.block_number.desc(), block_entries_t.c.ordinal.desc())
            )
            return [BlockEntry(row.entry_id, int(row.block_number), row.block_hash, int(row.ordinal)) for row in rows]

    # ---------------------------------------------------------------- contracts

    def add_contracts(self, contracts: Sequence[tuple[ContractInfo, int]], *, replace: bool = False) -> None:
        """Register (contract, discovered at block) pairs. Known addresses are left as they are,
        unless `replace`: then the given registration wins (a discovery read from the chain now
        replaces one left by an orphaned or abandoned read)."""
        if not contracts:
            return

        self.db.run_write(
            lambda conn: self._add_contracts_in(conn, contracts, replace=replace), retry_on_integrity=True
        )

    def _add_contracts_in(
        self, conn: Connection, contracts: Sequence[tuple[ContractInfo, int]], *, replace: bool = False
    ) -> None:
        if replace:
            addresses = sorted({c.address.lower() for c, _ in contracts})
            conn.execute(
                delete(contracts_t).where(contracts_t.c.chain_id == self.chain_id, contracts_t.c.address.in_(addresses))
            )
        conn.execute(
            self._insert_ignore(contracts_t),
            [
                dict(
                    chain_id=self.chain_id,
                    address=c.address.lower(),
                    kind=c.kind,
                    portfolio_id=c.portfolio_id,
                    discovered_at_block=block,
                    asset_address=c.asset_address.lower() if c.asset_address else None,
                )
                for c, block in contracts
            ],
        )

    def _forget_discoveries_after(self, conn: Connection, block_number: int) -> None:
        conn.execute(
            delete(contracts_t).where(
                contracts_t.c.chain_id == self.chain_id,
                contracts_t.c.kind.in_(FACTORY_KINDS),
                contracts_t.c.discovered_at_block > block_number,
            )
        )

    def forget_contracts_after(self, block_number: int) -> None:
        """Drop discoveries above `block_number` (a read that found them was abandoned)."""
        self.db.run_write(lambda conn: self._forget_discoveries_after(conn, block_number))

    def registrations(self) -> list[tuple[ContractInfo, int]]:
        """Every registered contract with the block it was discovered at (manifest contracts: their
        deployment block), ordered by address."""
        with self.db.read() as conn:
            rows = conn.execute(
                select(contracts_t).where(contracts_t.c.chain_id == self.chain_id).order_by(contracts_t.c.address)
            )
            return [
                (
                    ContractInfo(
                        self.chain_id,
                        row.address,
                        row.kind,
                        None if row.portfolio_id is None else int(row.portfolio_id),
                        row.asset_address,
                    ),
                    int(row.discovered_at_block),
                )
                for row in rows
            ]

    def contracts(self, up_to_block: int | None = None) -> dict[str, ContractInfo]:
        """Registered contracts by address. With `up_to_block`: without the discovered ones
        (FACTORY_KINDS) registered at a later block — left by a read that was abandoned or whose
        blocks were orphaned; a read starting at `up_to_block` discovers them again if they exist."""
        return {
            info.address: info
            for info, block in self.registrations()
            if up_to_block is None or info.kind not in FACTORY_KINDS or block <= up_to_block
        }

    # -------------------------------------------------------------- checkpoints

    def checkpoint_at(self, block_number: int, ledger: str | None = None) -> CheckpointAt | None:
        """The newest checkpoint at or below the block (of `ledger`, when given) with its entry's
        journal sequence: the ledger as of block N is `get_balance(..., as_of_sequence=…)` at it.
        None when no block up to N produced entries. One read joining the checkpoint with its
        entry's seal: the checkpoint is written in the transaction that seals its entries, so a
        visible checkpoint always has its seal."""
        with self.db.read() as conn:
            newest = (
                select(checkpoints_t.c.block_number, checkpoints_t.c.block_hash, checkpoints_t.c.entry_id)
                .where(
                    checkpoints_t.c.chain_id == self.chain_id,
                    checkpoints_t.c.block_number <= block_number,
                    *([checkpoints_t.c.ledger == ledger] if ledger is not None else []),
                )
                .order_by(checkpoints_t.c.block_number.desc())
                .limit(1)
                .subquery()
            )
            row = conn.execute(
                select(newest.c.block_number, newest.c.block_hash, newest.c.entry_id, seals_t.c.sequence).select_from(
                    newest.outerjoin(seals_t, seals_t.c.entry_id == newest.c.entry_id)
                )
            ).first()
        if row is None:
            return None
        if row.sequence is None:
            raise RuntimeError(
                f"chain {self.chain_id}: checkpoint of block {row.block_number} names entry "
                f"{row.entry_id}, which is not sealed in the ledger"
            )
        return CheckpointAt(int(row.block_number), row.block_hash, row.entry_id, int(row.sequence))


# ---------------------------------------------------------------- all chains


@dataclass(frozen=True)
class ChainProgress:
    """One chain mirrored into a database: its indexer's cursor and its open alerts."""

    chain_id: int
    indexed_block: int | None
    """The cursor's block; None when the chain has open alerts but no cursor."""
    open_alerts: tuple[Alert, ...] = ()
    """Unacknowledged alerts of the chain (indexer.alerts), oldest first."""


def chain_progress(database: Database) -> list[ChainProgress]:
    """Every chain with a cursor or an open alert, by chain id: whichever indexer writes to this
    database. Never raises for missing tables (a database the indexer's migrations have not reached:
    no cursors, no alerts), so that /health answers while the database does."""
    try:
        with database.read() as conn:
            cursors = {
                int(chain_id): int(last_block)
                for chain_id, last_block in conn.execute(select(cursors_t.c.chain_id, cursors_t.c.last_block)).all()
            }
    except SQLAlchemyError as exc:  # indexer tables not migrated yet
        log.debug("health: no indexer cursors: %s", exc)
        cursors = {}
    try:
        alerts = open_alerts(database)
    except SQLAlchemyError as exc:  # alerts table not migrated yet (indexer i0003)
        log.debug("health: no indexer alerts: %s", exc)
        alerts = []
    by_chain: dict[int, list[Alert]] = {}
    for alert in alerts:
        by_chain.setdefault(alert.chain_id, []).append(alert)
    return [
        ChainProgress(chain_id, cursors.get(chain_id), tuple(by_chain.get(chain_id, ())))
        for chain_id in sorted(cursors.keys() | by_chain.keys())
    ]
