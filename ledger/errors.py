"""Typed ledger errors. Each carries a stable `code`; the API maps it to an RFC 9457 `type`
and to an HTTP status (api.problems.LEDGER_STATUS: the ledger knows nothing about HTTP).
The hierarchy is the contract: a ValidationFailed is a request the ledger refuses as given,
a NotFound names something that does not exist, any other error is a conflict with the
ledger's state.

Nothing is written when one of these is raised: every check happens before or inside
the one database transaction of the write, which then rolls back.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    code = "ledger-error"
    title = "Ledger error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class ValidationFailed(LedgerError):
    code = "validation-failed"
    title = "Invalid request"


class InvalidAmount(ValidationFailed):
    code = "invalid-amount"
    title = "Invalid amount"


class UnbalancedEntry(ValidationFailed):
    code = "unbalanced-entry"
    title = "Entry does not balance per asset"


class SameAccount(ValidationFailed):
    code = "same-account"
    title = "Both sides name the same account"


class ExpiryInPast(ValidationFailed):
    code = "expires-at-in-past"
    title = "Expiry is not in the future"


class InvalidCursor(ValidationFailed):
    code = "invalid-cursor"
    title = "Invalid cursor"


class EffectiveAtOutOfRange(ValidationFailed):
    code = "effective-at-out-of-range"
    title = "effective_at is outside the range this ledger accepts"


class NotFound(LedgerError):
    code = "not-found"
    title = "Not found"


class LedgerNotFound(NotFound):
    code = "ledger-not-found"
    title = "Unknown ledger"


class AssetNotFound(NotFound):
    code = "asset-not-found"
    title = "Unknown asset"


class AccountNotFound(NotFound):
    code = "account-not-found"
    title = "Unknown account"


class EntryNotFound(NotFound):
    code = "entry-not-found"
    title = "Unknown journal entry"


class HoldNotFound(NotFound):
    code = "hold-not-found"
    title = "Unknown hold"


class AlreadyExists(LedgerError):
    code = "already-exists"
    title = "Already exists with different attributes"


class IdempotencyConflict(LedgerError):
    code = "idempotency-conflict"
    title = "Idempotency key reused with a different request"


class ExternalRefConflict(LedgerError):
    code = "external-ref-conflict"
    title = "External reference already recorded by another entry"


class Overdraft(LedgerError):
    code = "overdraft"
    title = "Insufficient available balance"


class BalanceOverflow(LedgerError):
    code = "balance-overflow"
    title = "Running total would exceed 2^256-1 base units"


class NotReversible(LedgerError):
    code = "not-reversible"
    title = "Entry cannot be reversed"


class AlreadyReversed(LedgerError):
    code = "already-reversed"
    title = "Entry was already reversed"


class HoldNotPending(LedgerError):
    code = "hold-not-pending"
    title = "Hold is no longer pending"


class HoldExpired(HoldNotPending):
    code = "hold-expired"
    title = "Hold has expired"


class HoldAmountExceeded(ValidationFailed):
    code = "hold-amount-exceeded"
    title = "Posted amount exceeds the held amount"


class ImmutableJournal(LedgerError):
    code = "immutable-journal"
    title = "The journal is append-only"
