"""Storage schema (SQLAlchemy 2 typed models). Alembic migrations create it; never create_all.

Mutable tables: ledgers, ledger_heads (the per-ledger sequence/hash head), assets,
accounts, account_templates, balances, holds. Append-only tables (UPDATE/DELETE rejected
by database triggers): journal_entries, entry_seals, postings.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.amounts import AmountUnits

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class LedgerRow(Base):
    __tablename__ = "ledgers"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerHeadRow(Base):
    """The only hot mutable row per ledger: next sequence number and the last chain hash."""

    __tablename__ = "ledger_heads"
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_recorded_at_us: Mapped[int] = mapped_column(BigInteger)


class AssetRow(Base):
    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("ledger_id", "code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    code: Mapped[str] = mapped_column(String(128))
    scale: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(String(32))
    chain_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    contract_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("ledger_id", "code"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    code: Mapped[str] = mapped_column(String(256))
    accounting_type: Mapped[str] = mapped_column(String(16))
    no_overdraft: Mapped[bool] = mapped_column(Boolean)
    metadata_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccountTemplateRow(Base):
    """Implicit account creation: the first template whose glob matches a new code wins."""

    __tablename__ = "account_templates"
    __table_args__ = (UniqueConstraint("ledger_id", "pattern"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    pattern: Mapped[str] = mapped_column(String(256))
    accounting_type: Mapped[str] = mapped_column(String(16))
    no_overdraft: Mapped[bool] = mapped_column(Boolean)
    priority: Mapped[int] = mapped_column(Integer)


class JournalEntryRow(Base):
    """What was posted. Its place in the journal (sequence, recorded time, chain hash) is its seal."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        UniqueConstraint("ledger_id", "idempotency_key"),
        UniqueConstraint("ledger_id", "external_ref"),
        UniqueConstraint("ledger_id", "reverses_entry_id"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ledger_id: Mapped[int] = mapped_column(ForeignKey("ledgers.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    effective_at_us: Mapped[int] = mapped_column(BigInteger)
    external_ref: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reverses_entry_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metadata_json: Mapped[str] = mapped_column(Text)
    body_digest: Mapped[str] = mapped_column(String(64))


class EntrySealRow(Base):
    """The entry's link in the per-ledger hash chain: gapless sequence, monotonic recorded time.

    Written in the same transaction as the entry, as its very last step, under the
    ledger head lock; kept apart from the entry so the entry and its postings can be
    inserted before that lock is taken (the lock is then held only for this one row
    per entry and the commit).
    """

    __tablename__ = "entry_seals"
    __table_args__ = (
        UniqueConstraint("entry_id"),
        Index("ix_entry_seals_recorded", "ledger_id", "recorded_at_us"),
    )
    ledger_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(32))
    recorded_at_us: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class PostingRow(Base):
    """One leg. Running posted totals of (account, asset) after this leg make history O(log n).

    `posting_seq` is insertion order. Postings of one (account, asset) are inserted under
    that balance row's lock, so per account it follows the entries' sequence order.
    """

    __tablename__ = "postings"
    __table_args__ = (
        UniqueConstraint("entry_id", "leg_index"),
        Index("ix_postings_account_asset_seq", "account_id", "asset_id", "posting_seq"),
    )
    posting_seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(String(32))
    leg_index: Mapped[int] = mapped_column(SmallInteger)
    ledger_id: Mapped[int] = mapped_column(BigInteger)
    account_id: Mapped[int] = mapped_column(BigInteger)
    asset_id: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(1))
    amount_units: Mapped[int] = mapped_column(AmountUnits())
    debits_after_units: Mapped[int] = mapped_column(AmountUnits())
    credits_after_units: Mapped[int] = mapped_column(AmountUnits())


class BalanceRow(Base):
    __tablename__ = "balances"
    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    asset_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    ledger_id: Mapped[int] = mapped_column(BigInteger)
    debits_posted_units: Mapped[int] = mapped_column(AmountUnits())
    credits_posted_units: Mapped[int] = mapped_column(AmountUnits())
    debits_pending_units: Mapped[int] = mapped_column(AmountUnits())
    credits_pending_units: Mapped[int] = mapped_column(AmountUnits())
    version: Mapped[int] = mapped_column(BigInteger)


class HoldRow(Base):
    __tablename__ = "holds"
    __table_args__ = (
        UniqueConstraint("ledger_id", "idempotency_key"),
        Index("ix_holds_pending_expiry", "ledger_id", "status", "expires_at_us"),
    )
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ledger_id: Mapped[int] = mapped_column(BigInteger)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(32))
    debit_account_id: Mapped[int] = mapped_column(BigInteger)
    credit_account_id: Mapped[int] = mapped_column(BigInteger)
    asset_id: Mapped[int] = mapped_column(BigInteger)
    amount_units: Mapped[int] = mapped_column(AmountUnits())
    status: Mapped[str] = mapped_column(String(16))
    expires_at_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at_us: Mapped[int] = mapped_column(BigInteger)
    resolved_at_us: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    posted_entry_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    metadata_json: Mapped[str] = mapped_column(Text)


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Table a model is mapped to, typed as such (declarative `__table__` is typed as a
    FromClause, which has no insert()/update()/delete()). The indexer's tables use it too."""
    table = model.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a Table")
    return table


# The Core tables the store's queries use (typed as Table, which the ORM's `__table__` is not).
ledgers_t = table_of(LedgerRow)
heads_t = table_of(LedgerHeadRow)
assets_t = table_of(AssetRow)
accounts_t = table_of(AccountRow)
templates_t = table_of(AccountTemplateRow)
entries_t = table_of(JournalEntryRow)
postings_t = table_of(PostingRow)
seals_t = table_of(EntrySealRow)
balances_t = table_of(BalanceRow)
holds_t = table_of(HoldRow)
