"""Kogi's double-entry ledger: exact, idempotent, append-only, hash-chained.

Knows nothing about chains or HTTP. Entry point: `LedgerStore(Database(url))` after
`ledger.migrate.upgrade(...)` has created the schema.
"""
from ledger.database import Database
from ledger.model import (
    Account,
    AccountingType,
    AccountTemplate,
    Asset,
    AssetKind,
    Balance,
    Entry,
    EntryRequest,
    Hold,
    HoldStatus,
    Leg,
    Side,
    transfer_legs,
)
from ledger.store import EntryBody, LedgerStore, entry_body

__all__ = [
    "Account", "AccountTemplate", "AccountingType", "Asset", "AssetKind", "Balance", "Database", "Entry",
    "EntryBody", "EntryRequest", "Hold", "HoldStatus", "Leg", "LedgerStore", "Side", "entry_body", "transfer_legs",
]
