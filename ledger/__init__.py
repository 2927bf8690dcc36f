"""Kogi's double-entry ledger: exact, idempotent, append-only, hash-chained.

Knows nothing about chains or HTTP. Entry point: `LedgerStore(Database(url), account_code_rules=...)`
after `ledger.migrate.upgrade(...)` has created the schema; the platform's chart of accounts
(ledger.chart) brings its rules, `DEFAULT_ACCOUNT_CODE_RULES`.
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
    "Account",
    "AccountTemplate",
    "AccountingType",
    "Asset",
    "AssetKind",
    "Balance",
    "Database",
    "Entry",
    "EntryBody",
    "EntryRequest",
    "Hold",
    "HoldStatus",
    "Leg",
    "LedgerStore",
    "Side",
    "entry_body",
    "transfer_legs",
]
