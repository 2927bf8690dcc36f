"""Ledger domain types: plain frozen dataclasses, independent of storage and HTTP."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from ledger.amounts import check_amount_units
from ledger.errors import ValidationFailed
from ledger.limits import (
    MAX_ASSET_CODE_LENGTH,
    MAX_CODE_LENGTH,
    MAX_EXTERNAL_REF_LENGTH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_KIND_LENGTH,
    MAX_POSTINGS_PER_ENTRY,
)


class AccountingType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        """Asset and expense balances grow with debits; the others with credits."""
        return self in (AccountingType.ASSET, AccountingType.EXPENSE)


class AssetKind(StrEnum):
    FIAT = "fiat"
    STABLECOIN = "stablecoin"
    NATIVE = "native"
    PORTFOLIO_TOKEN = "portfolio_token"
    RIGHTS_TOKEN = "rights_token"


class Side(StrEnum):
    DEBIT = "D"
    CREDIT = "C"

    def opposite(self) -> Side:
        return Side.CREDIT if self is Side.DEBIT else Side.DEBIT


class HoldStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9:._@\-]*$"
"""Account, asset and ledger codes: letters, digits and `: . _ @ -` (no `/`: one URL path segment)."""
KIND_PATTERN = r"^[a-z][a-z0-9_.\-]*$"
KEY_PATTERN = r"^[!-~]+$"
"""Idempotency keys and external references: printable ASCII without spaces."""
_CODE_RE = re.compile(CODE_PATTERN)
"""Codes (ledgers, assets, accounts) use letters, digits and `: . _ @ -`. No `/`: a code is one
URL path segment in the HTTP API (`…/accounts/{code}/balances/{asset}` must be unambiguous)."""
_KIND_RE = re.compile(KIND_PATTERN)
_KEY_RE = re.compile(KEY_PATTERN)


@lru_cache(maxsize=65_536)
def _is_code(value: str, max_length: int) -> bool:
    """Cached: a batch names the same accounts and assets over and over."""
    return bool(value) and len(value) <= max_length and _CODE_RE.fullmatch(value) is not None


def check_code(value: str, what: str, max_length: int = MAX_CODE_LENGTH) -> str:
    if not isinstance(value, str) or not _is_code(value, max_length):
        raise ValidationFailed(
            f"{what} must be 1-{max_length} characters of letters, digits and : . _ @ -, got {value!r}"
        )
    return value


def check_kind(value: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_KIND_LENGTH or not _KIND_RE.fullmatch(value):
        raise ValidationFailed(f"kind must be a lowercase slug of at most {MAX_KIND_LENGTH} characters, got {value!r}")
    return value


def check_key(value: str, what: str, max_length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length or not _KEY_RE.fullmatch(value):
        raise ValidationFailed(f"{what} must be 1-{max_length} printable ASCII characters without spaces")
    return value


def now_us() -> int:
    """The wall clock in microseconds since the Unix epoch (the ledger's unit of time)."""
    return time.time_ns() // 1_000


def new_id() -> str:
    """A fresh entry or hold id: 32 hex digits, unguessable and unique without a round trip."""
    return uuid.uuid4().hex


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch; naive datetimes are rejected (ambiguous)."""
    if moment.tzinfo is None:
        raise ValidationFailed("timestamps must carry a timezone (e.g. 2026-01-31T12:00:00Z)")
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(moment_us: int) -> datetime:
    from datetime import timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=moment_us)


@dataclass(frozen=True)
class Leg:
    """One posting: `amount_units` base units of `asset` on one side of `account`."""

    account: str
    asset: str
    side: Side
    amount_units: int

    def __post_init__(self) -> None:
        check_code(self.account, "account code")
        check_code(self.asset, "asset code", MAX_ASSET_CODE_LENGTH)
        if type(self.side) is not Side:  # Side(...) costs an enum lookup per leg; most callers pass a Side
            object.__setattr__(self, "side", Side(self.side))
        check_amount_units(self.amount_units)


def transfer_legs(from_account: str, to_account: str, asset: str, amount_units: int) -> tuple[Leg, Leg]:
    """Value moves from `from_account` (debited) to `to_account` (credited)."""
    return (
        Leg(from_account, asset, Side.DEBIT, amount_units),
        Leg(to_account, asset, Side.CREDIT, amount_units),
    )


@dataclass(frozen=True)
class EntryRequest:
    idempotency_key: str
    kind: str
    legs: tuple[Leg, ...]
    effective_at: datetime | None = None
    external_ref: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_key(self.idempotency_key, "idempotency key", MAX_IDEMPOTENCY_KEY_LENGTH)
        check_kind(self.kind)
        object.__setattr__(self, "legs", tuple(self.legs))
        if not 2 <= len(self.legs) <= MAX_POSTINGS_PER_ENTRY:
            raise ValidationFailed(f"an entry needs 2 to {MAX_POSTINGS_PER_ENTRY} postings, got {len(self.legs)}")
        if self.external_ref is not None:
            check_key(self.external_ref, "external reference", MAX_EXTERNAL_REF_LENGTH)
        if self.effective_at is not None:
            to_us(self.effective_at)


@dataclass(frozen=True)
class Asset:
    id: int
    code: str
    scale: int
    kind: AssetKind
    chain_id: int | None = None
    contract_address: str | None = None


@dataclass(frozen=True)
class Account:
    id: int
    code: str
    accounting_type: AccountingType
    no_overdraft: bool
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountTemplate:
    pattern: str
    accounting_type: AccountingType
    no_overdraft: bool
    priority: int = 100


@dataclass(frozen=True)
class Entry:
    id: str
    ledger: str
    sequence: int
    idempotency_key: str
    kind: str
    effective_at_us: int
    recorded_at_us: int
    external_ref: str | None
    reverses_entry_id: str | None
    metadata: dict[str, Any]
    legs: tuple[Leg, ...]
    body_digest: str
    hash: str
    replayed: bool = False
    """True when this call found the entry already recorded under the same idempotency key."""

    @property
    def effective_at(self) -> datetime:
        return from_us(self.effective_at_us)

    @property
    def recorded_at(self) -> datetime:
        return from_us(self.recorded_at_us)


@dataclass(frozen=True)
class Balance:
    account: str
    asset: str
    accounting_type: AccountingType
    debits_posted_units: int
    credits_posted_units: int
    debits_pending_units: int
    credits_pending_units: int
    version: int
    as_of_sequence: int | None = None

    @property
    def posted_units(self) -> int:
        """Signed balance on the account's normal side (negative = beyond zero)."""
        if self.accounting_type.debit_normal:
            return self.debits_posted_units - self.credits_posted_units
        return self.credits_posted_units - self.debits_posted_units

    @property
    def available_units(self) -> int:
        """Posted balance less pending amounts that would reduce it."""
        if self.accounting_type.debit_normal:
            return self.posted_units - self.credits_pending_units
        return self.posted_units - self.debits_pending_units


@dataclass(frozen=True)
class Hold:
    id: str
    ledger: str
    idempotency_key: str
    kind: str
    debit_account: str
    credit_account: str
    asset: str
    amount_units: int
    status: HoldStatus
    expires_at_us: int | None
    created_at_us: int
    resolved_at_us: int | None
    posted_entry_id: str | None
    metadata: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class StatementLine:
    sequence: int
    leg_index: int
    entry_id: str
    kind: str
    effective_at_us: int
    recorded_at_us: int
    side: Side
    amount_units: int
    balance_after_units: int
    external_ref: str | None


@dataclass(frozen=True)
class StatementPage:
    account: str
    asset: str
    lines: tuple[StatementLine, ...]
    next_cursor: str | None
    opening_balance_units: int


@dataclass(frozen=True)
class TrialBalanceRow:
    asset: str
    accounting_type: AccountingType
    debits_units: int
    credits_units: int

    @property
    def net_debit_units(self) -> int:
        return self.debits_units - self.credits_units


@dataclass(frozen=True)
class TrialBalance:
    as_of_sequence: int
    rows: tuple[TrialBalanceRow, ...]
    totals: dict[str, tuple[int, int]]
    """Per asset: (Σ debits, Σ credits) over all accounts; equal when the ledger is sound."""

    @property
    def balanced(self) -> bool:
        return all(debits == credits for debits, credits in self.totals.values())


@dataclass(frozen=True)
class VerifyReport:
    ledger: str
    entries_checked: int
    ok: bool
    first_bad_sequence: int | None = None
    first_bad_entry_id: str | None = None
    reason: str | None = None
    balance_mismatches: tuple[str, ...] = ()
