"""The ledger's Python API: `LedgerStore`, one façade over the ledger's parts.

  ledger.catalog    ledgers, assets, accounts, templates (bounded caches)
  ledger.opening    accounts and balance rows opened on first use, and in bulk
  ledger.prepare    validating and digesting entry requests
  ledger.posting    the write transaction, replays, reversals (lock order: see there)
  ledger.balances   balance rows: lock, apply, check, write back
  ledger.holds      two-phase transfers
  ledger.journal    reading entries, the head, seal ranges
  ledger.history    balances as of a sequence / time / effective time, statements, trial balance
  ledger.verify     recomputing digests, chain links and balances from the rows
  ledger.backends   what PostgreSQL and SQLite do differently (chosen once per database)

The store applies the account-code rules it is given and knows no chart: the platform's chart
of accounts (ledger.chart) depends on the store, never the reverse.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledger.backends import BeforeSeal, backend_for
from ledger.catalog import Catalog
from ledger.database import Database
from ledger.history import History
from ledger.holds import Holds
from ledger.journal import Journal
from ledger.limits import DEFAULT_EXPIRE_LIMIT, DEFAULT_PAGE_SIZE, MAX_SEALS_PAGE
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
    StatementPage,
    TrialBalance,
    VerifyReport,
)
from ledger.opening import open_accounts
from ledger.policy import AccountCodeRule, EffectiveTimePolicy
from ledger.posting import Posting
from ledger.prepare import EntryBody, entry_body
from ledger.verify import verify

__all__ = ["EntryBody", "LedgerStore", "entry_body"]


class LedgerStore:
    """All ledger operations. Thread-safe; one instance per process is enough.

    `account_code_rules`: the chart's rules for account codes (ledger.policy.AccountCodeRule),
    applied on every write and read that takes an account code; the platform's chart passes
    ledger.chart.DEFAULT_ACCOUNT_CODE_RULES (holder codes carry a lower-case EVM address), a
    chart without rules `()`. Required: the store is chain-agnostic and has no chart of its own.
    `effective_time_policy`: which `effective_at` the entries and reversals posted through this
    store may carry (ledger.policy.EffectiveTimePolicy); None means the bounded policy of the
    settings (KOGI_BACKDATING_WINDOW_DAYS). The chain indexer posts through an unbounded view
    (`with_effective_time_policy`): block timestamps are the chain's clock, not ours.
    """

    def __init__(
        self,
        database: Database,
        *,
        account_code_rules: Sequence[AccountCodeRule],
        effective_time_policy: EffectiveTimePolicy | None = None,
    ) -> None:
        self.db = database
        self.effective_time_policy = effective_time_policy or EffectiveTimePolicy.from_settings()
        self.backend = backend_for(database)
        self.catalog = Catalog(database, account_code_rules)
        self.journal = Journal(self.catalog)
        self.history = History(self.catalog, self.backend)
        self.posting = Posting(self.catalog, self.journal, self.backend, self.effective_time_policy)
        self.holds = Holds(self.catalog, self.journal, self.posting)

    @property
    def account_code_rules(self) -> tuple[AccountCodeRule, ...]:
        return self.catalog.account_code_rules

    def with_effective_time_policy(self, policy: EffectiveTimePolicy) -> LedgerStore:
        """This store (same database and caches) posting under another effective-time policy."""
        view = copy.copy(self)
        view.effective_time_policy = policy
        view.posting = Posting(self.catalog, self.journal, self.backend, policy)
        view.holds = Holds(self.catalog, self.journal, view.posting)
        return view

    # ------------------------------------------------------------------ catalog

    def create_ledger(self, code: str, name: str | None = None) -> str:
        """Create a ledger namespace (idempotent: an existing code is returned as is)."""
        return self.catalog.create_ledger(code, name)

    def list_ledgers(self) -> list[str]:
        return self.catalog.list_ledgers()

    def create_asset(
        self,
        ledger: str,
        code: str,
        scale: int,
        kind: AssetKind | str,
        *,
        chain_id: int | None = None,
        contract_address: str | None = None,
    ) -> Asset:
        """Register an asset; re-creating it with identical attributes is a no-op."""
        return self.catalog.create_asset(
            ledger, code, scale, kind, chain_id=chain_id, contract_address=contract_address
        )

    def get_asset(self, ledger: str, code: str) -> Asset:
        return self.catalog.get_asset(ledger, code)

    def list_assets(self, ledger: str) -> list[Asset]:
        return self.catalog.list_assets(ledger)

    def create_account(
        self,
        ledger: str,
        code: str,
        accounting_type: AccountingType | str,
        *,
        no_overdraft: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> Account:
        """Open an account; re-opening it with identical attributes is a no-op."""
        return self.catalog.create_account(ledger, code, accounting_type, no_overdraft=no_overdraft, metadata=metadata)

    def add_account_template(
        self,
        ledger: str,
        pattern: str,
        accounting_type: AccountingType | str,
        *,
        no_overdraft: bool,
        priority: int = 100,
    ) -> AccountTemplate:
        """Accounts whose code matches `pattern` (a glob, e.g. "holder:*") are opened on first use."""
        return self.catalog.add_account_template(
            ledger, pattern, accounting_type, no_overdraft=no_overdraft, priority=priority
        )

    def list_account_templates(self, ledger: str) -> list[AccountTemplate]:
        return self.catalog.list_account_templates(ledger)

    def get_account(self, ledger: str, code: str) -> Account:
        return self.catalog.get_account(ledger, code)

    def list_accounts(
        self, ledger: str, *, prefix: str | None = None, after: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[Account]:
        return self.catalog.list_accounts(ledger, prefix=prefix, after=after, limit=limit)

    def open_accounts(
        self,
        ledger: str,
        codes: Sequence[str],
        accounting_type: AccountingType | str,
        *,
        no_overdraft: bool = False,
        assets: Sequence[str] = (),
    ) -> int:
        """Bulk-open accounts (existing codes are left as they are) with balance rows for
        `assets`, e.g. to import a holder registry. Returns how many codes were given."""
        return open_accounts(self.catalog, ledger, codes, accounting_type, no_overdraft=no_overdraft, assets=assets)

    # ------------------------------------------------------------------ posting

    def post(self, ledger: str, request: EntryRequest) -> Entry:
        """Post one balanced entry (idempotent by `request.idempotency_key`)."""
        return self.post_many(ledger, [request])[0]

    def post_many(
        self,
        ledger: str,
        requests: Sequence[EntryRequest],
        *,
        reverse: Sequence[str] = (),
        reverse_reason: str | None = None,
        in_transaction: BeforeSeal | None = None,
        bodies: Sequence[EntryBody] | None = None,
    ) -> list[Entry]:
        """Post a batch in ONE transaction: all entries or none.

        Balance deltas are computed in memory and each (account, asset) row is
        updated once per batch, so hot accounts cost one row update per batch.
        `reverse` lists entries to reverse first, in that order, in the same transaction
        (keys `reversal:<entry id>`, as `reverse()` uses); the result starts with those
        reversals. `in_transaction(conn, entry_ids)` runs inside the transaction after the
        entries are written and before they are sealed and committed — for callers that
        must change their own tables atomically with the ledger (the indexer's cursor) or
        check a fence; `entry_ids` are the result's ids in order. An exception aborts all.
        `bodies`, aligned with `requests`, are their precomputed bodies (`entry_body`).
        """
        return self.posting.post_many(
            ledger,
            requests,
            reverse=reverse,
            reverse_reason=reverse_reason,
            in_transaction=in_transaction,
            bodies=bodies,
        )

    def reverse(
        self,
        ledger: str,
        entry_id: str,
        *,
        idempotency_key: str | None = None,
        reason: str | None = None,
        effective_at: datetime | None = None,
    ) -> Entry:
        """Post the mirror of `entry_id` (sides swapped), linked to it. An entry is reversed once."""
        return self.posting.reverse(
            ledger, entry_id, idempotency_key=idempotency_key, reason=reason, effective_at=effective_at
        )

    # -------------------------------------------------------------------- holds

    def create_hold(
        self,
        ledger: str,
        *,
        idempotency_key: str,
        debit_account: str,
        credit_account: str,
        asset: str,
        amount_units: int,
        expires_at: datetime | None = None,
        kind: str = "transfer",
        metadata: dict[str, Any] | None = None,
    ) -> Hold:
        """Reserve `amount_units` (two-phase transfer, phase one). Reduces available balance."""
        return self.holds.create_hold(
            ledger,
            idempotency_key=idempotency_key,
            debit_account=debit_account,
            credit_account=credit_account,
            asset=asset,
            amount_units=amount_units,
            expires_at=expires_at,
            kind=kind,
            metadata=metadata,
        )

    def get_hold(self, ledger: str, hold_id: str) -> Hold:
        return self.holds.get_hold(ledger, hold_id)

    def post_hold(
        self,
        ledger: str,
        hold_id: str,
        *,
        amount_units: int | None = None,
        idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Entry:
        """Phase two: post all (default) or part of the hold as a journal entry; release the rest."""
        return self.holds.post_hold(
            ledger, hold_id, amount_units=amount_units, idempotency_key=idempotency_key, metadata=metadata
        )

    def void_hold(self, ledger: str, hold_id: str) -> Hold:
        """Release a pending hold without posting (a repeated void is `replayed`)."""
        return self.holds.void_hold(ledger, hold_id)

    def expire_holds(self, ledger: str, *, now: datetime | None = None, limit: int = DEFAULT_EXPIRE_LIMIT) -> int:
        """Release pending holds whose expiry has passed; returns how many were expired."""
        return self.holds.expire_holds(ledger, now=now, limit=limit)

    def list_holds(
        self,
        ledger: str,
        *,
        status: HoldStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[Hold]:
        return self.holds.list_holds(ledger, status=status, limit=limit)

    # ------------------------------------------------------------------ journal

    def get_entry(self, ledger: str, entry_id: str) -> Entry:
        return self.journal.get_entry(ledger, entry_id)

    def get_entry_by_key(self, ledger: str, idempotency_key: str) -> Entry:
        return self.journal.get_entry_by_key(ledger, idempotency_key)

    def list_entries(self, ledger: str, *, after_sequence: int = 0, limit: int = DEFAULT_PAGE_SIZE) -> list[Entry]:
        return self.journal.list_entries(ledger, after_sequence=after_sequence, limit=limit)

    def head(self, ledger: str) -> tuple[int, str]:
        """(last sequence, last chain hash) of the ledger."""
        return self.journal.head(ledger)

    def list_seals(
        self, ledger: str, *, after_sequence: int = 0, to_sequence: int | None = None, limit: int = MAX_SEALS_PAGE
    ) -> list[tuple[int, str]]:
        """(sequence, chain hash hex) of the seals in (after_sequence, to_sequence], at most `limit`."""
        return self.journal.list_seals(ledger, after_sequence=after_sequence, to_sequence=to_sequence, limit=limit)

    # ------------------------------------------------------------------ history

    def sequence_at(self, ledger: str, moment: datetime) -> int:
        """The last sequence recorded at or before `moment` (recorded time is monotonic)."""
        return self.history.sequence_at(ledger, moment)

    def get_balance(
        self,
        ledger: str,
        account: str,
        asset: str,
        *,
        as_of_sequence: int | None = None,
        as_of: datetime | None = None,
        effective_as_of: datetime | None = None,
    ) -> Balance:
        """Current balance, or the posted balance as of a sequence / recorded time / effective time
        (ledger.history.History.get_balance)."""
        return self.history.get_balance(
            ledger, account, asset, as_of_sequence=as_of_sequence, as_of=as_of, effective_as_of=effective_as_of
        )

    def list_balances(self, ledger: str, account: str) -> list[Balance]:
        return self.history.list_balances(ledger, account)

    def statement(
        self,
        ledger: str,
        account: str,
        asset: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        effective_start: datetime | None = None,
        effective_end: datetime | None = None,
        cursor: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> StatementPage:
        """Postings of (account, asset) with a running balance, recorded in [start, end) or effective
        in [effective_start, effective_end); cursor-paginated (ledger.history.History.statement)."""
        return self.history.statement(
            ledger,
            account,
            asset,
            start=start,
            end=end,
            effective_start=effective_start,
            effective_end=effective_end,
            cursor=cursor,
            limit=limit,
        )

    def trial_balance(
        self,
        ledger: str,
        *,
        as_of_sequence: int | None = None,
        effective_as_of: datetime | None = None,
    ) -> TrialBalance:
        """Σ debits and Σ credits per (asset, accounting type) and per asset: now, after a sequence
        number, or by effective time (ledger.history.History.trial_balance)."""
        return self.history.trial_balance(ledger, as_of_sequence=as_of_sequence, effective_as_of=effective_as_of)

    def verify(self, ledger: str) -> VerifyReport:
        """Recompute every body digest and chain link in sequence order, then check that each
        stored balance equals the sum of its postings. Names the first entry that fails."""
        return verify(self.catalog, ledger)
