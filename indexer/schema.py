"""The indexer's own tables (SQLAlchemy 2 typed models), kept apart from the ledger's.

They live in the ledger's database (so the cursor and the entries it vouches for are
backed up together) but have their own metadata and their own Alembic chain
(`indexer/migrations`, version table `alembic_version_indexer`): the ledger never
learns about chains.

- indexer_cursors: per chain, the last processed block and its hash.
- indexer_blocks: hashes of the recent processed blocks (the reorg window); pruned.
- indexer_block_entries: which ledger entries each recent block produced, so a reorg can
  reverse exactly those (logs of orphaned blocks can no longer be fetched); pruned.
- indexer_contracts: Kogi contracts to follow, from the manifest and factory events.
- indexer_leases: which follower may write a chain's cursor (owner, fencing epoch, expiry).
- indexer_checkpoints: per block that produced entries, the ledger sequence after them, so the
  ledger can be read as of any indexed block (`kogi reconcile --block N`); never pruned.
- indexer_anchors: LedgerAnchored events (journal ranges whose Merkle root is on chain).
- indexer_alerts: an outbox of alert events (a reorg deeper than the window, …) for operators.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.schema import table_of as table_of  # one helper for both schemas; indexer modules import it here


class IndexerBase(DeclarativeBase):
    pass


class CursorRow(IndexerBase):
    __tablename__ = "indexer_cursors"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    last_block: Mapped[int] = mapped_column(BigInteger)
    last_block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class BlockRow(IndexerBase):
    __tablename__ = "indexer_blocks"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))


class BlockEntryRow(IndexerBase):
    __tablename__ = "indexer_block_entries"
    __table_args__ = (Index("ix_indexer_block_entries_block", "chain_id", "block_number"),)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    ordinal: Mapped[int] = mapped_column(BigInteger)
    """Posting order inside the block: reversals run newest first so no balance dips below zero."""


class ContractRow(IndexerBase):
    __tablename__ = "indexer_contracts"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    """Lower-case hex address."""
    kind: Mapped[str] = mapped_column(String(32))
    """factory, donation_router, anchor, registry, token, round, splitter, rights_token."""
    portfolio_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    discovered_at_block: Mapped[int] = mapped_column(BigInteger)
    asset_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    """The ERC-20 the contract holds for Kogi: a round's stablecoin, a token's revenue token."""


class LeaseRow(IndexerBase):
    """One active follower per chain: a lease renewed every step. Taking over an expired lease
    bumps `epoch`; cursor writes check owner and epoch in their transaction (fencing), so a
    paused follower that lost its lease cannot move the cursor any more."""

    __tablename__ = "indexer_leases"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger)
    expires_at_us: Mapped[int] = mapped_column(BigInteger)


class CheckpointRow(IndexerBase):
    """The last ledger entry a block produced (blocks without entries have no row): the ledger as
    of block N is the ledger as of that entry's sequence for the newest checkpoint at or below N.
    The entry id, not its sequence, is stored because the row is written inside the ledger
    transaction before the entries are sealed (sequences are assigned at seal time). Rows above
    a reorg's common ancestor are deleted with the rewind, in the same transaction."""

    __tablename__ = "indexer_checkpoints"
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_hash: Mapped[str] = mapped_column(String(66))
    ledger: Mapped[str] = mapped_column(String(64))
    entry_id: Mapped[str] = mapped_column(String(64))


class AnchorRow(IndexerBase):
    """One LedgerAnchored event: `merkle_root` commits to the journal range
    [from_sequence, to_sequence] of the ledger whose id is `ledger_key` (bytes32 hex)."""

    __tablename__ = "indexer_anchors"
    __table_args__ = (Index("ix_indexer_anchors_block", "chain_id", "block_number"),)
    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    contract: Mapped[str] = mapped_column(String(42), primary_key=True)
    ledger_key: Mapped[str] = mapped_column(String(66), primary_key=True)
    anchor_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    from_sequence: Mapped[int] = mapped_column(BigInteger)
    to_sequence: Mapped[int] = mapped_column(BigInteger)
    merkle_root: Mapped[str] = mapped_column(String(66))
    submitter: Mapped[str] = mapped_column(String(42))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(BigInteger)


AlertId = BigInteger().with_variant(Integer(), "sqlite")


class AlertRow(IndexerBase):
    """Outbox of alert events: written when the indexer must stop for a human (e.g. a reorg deeper
    than the confirmation window); read by `/health` and `kogi indexer alerts`, acknowledged there."""

    __tablename__ = "indexer_alerts"
    __table_args__ = (Index("ix_indexer_alerts_open", "chain_id", "acknowledged_at"),)
    id: Mapped[int] = mapped_column(AlertId, primary_key=True, autoincrement=True)
    chain_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    """JSON object (canonical: sorted keys)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
