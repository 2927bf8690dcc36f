"""The ledger's Python API: ledgers, assets, accounts, journal entries, holds, history.

Write path (one database transaction per call, all-or-nothing):
  1. validate (balance per asset) and digest every entry in memory (no database work);
     read the assets and the committed accounts and balance rows into the caches;
  2. main transaction: idempotency / external-ref check; open the template accounts and
     balance rows that do not exist yet (inserted in sorted order before any row lock is
     taken, so a rejected entry leaves no account behind); lock the balance rows of the
     batch in (account_id, asset_id) order, apply all legs in memory (running totals,
     overdraft and overflow checks), insert entries + postings and update each
     (account, asset) balance once; then, as the LAST step, seal: lock the ledger head
     row, give each entry its sequence number, recorded time and chain hash (an
     `entry_seals` row), move the head, commit. Only sealing + commit are serialised
     per ledger; everything before overlaps between writers on different accounts.
Every transaction takes its row locks in that same global order (balances sorted,
then the head), so concurrent writers queue instead of deadlocking; transient
failures are retried by `Database.run_write` (safe: writes are idempotent).
"""
from __future__ import annotations

import base64
import copy
import fnmatch
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledger import chain, pg_fast, sqlite_fast
from ledger.database import Database
from ledger.errors import (
    AccountNotFound,
    AlreadyExists,
    AlreadyReversed,
    AssetNotFound,
    BalanceOverflow,
    EntryNotFound,
    ExternalRefConflict,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    IdempotencyConflict,
    InvalidCursor,
    NotReversible,
    SameAccount,
    LedgerError,
    LedgerNotFound,
    Overdraft,
    UnbalancedEntry,
    ValidationFailed,
)
from ledger.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_AMOUNT_UNITS,
    MAX_ASSET_CODE_LENGTH,
    MAX_ENTRIES_PER_BATCH,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_PAGE_SIZE,
    MAX_SCALE,
)
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
    StatementLine,
    StatementPage,
    TrialBalance,
    TrialBalanceRow,
    VerifyReport,
    check_code,
    check_key,
    check_kind,
    from_us,
    to_us,
)
from ledger.policy import AccountCodeRule, EffectiveTimePolicy, account_code_normalizer
from ledger.schema import (
    AccountRow,
    AccountTemplateRow,
    AssetRow,
    BalanceRow,
    EntrySealRow,
    HoldRow,
    JournalEntryRow,
    LedgerHeadRow,
    LedgerRow,
    PostingRow,
)

ledgers_t = LedgerRow.__table__
heads_t = LedgerHeadRow.__table__
assets_t = AssetRow.__table__
accounts_t = AccountRow.__table__
templates_t = AccountTemplateRow.__table__
entries_t = JournalEntryRow.__table__
postings_t = PostingRow.__table__
seals_t = EntrySealRow.__table__
balances_t = BalanceRow.__table__
holds_t = HoldRow.__table__

VERIFY_CHUNK_ENTRIES = 2_000
MAX_SEALS_PAGE = 10_000
"""Seals per `list_seals` call (two short columns each: a page stays well under a few MB)."""


def now_us() -> int:
    return time.time_ns() // 1_000


def new_id() -> str:
    return uuid.uuid4().hex


SPOT_CHECK_EVERY = 64
"""`post_many(bodies=…)` re-derives every 64th precomputed body (and the first) before writing."""


@dataclass(frozen=True)
class EntryBody:
    """An entry request's canonical metadata JSON and body digest (ledger.chain), computed ahead
    of `post_many` — by a reader process, so that the writer's CPU goes to writing. The writer
    re-derives a sample (SPOT_CHECK_EVERY) and refuses a batch whose sample differs; every
    digest is checked again by `verify`, which recomputes all of them from the stored rows."""

    metadata_json: str
    digest: str


def entry_body(ledger: str, request: EntryRequest) -> EntryBody:
    """The body `post_many` would compute for `request` (which must carry its effective time)."""
    if request.effective_at is None:
        raise ValidationFailed("a precomputed body needs the request's effective_at")
    metadata_json = chain.canonical_metadata(request.metadata)
    return EntryBody(metadata_json, LedgerStore._digest(ledger, request, to_us(request.effective_at), metadata_json, None))


@dataclass
class _Prepared:
    """An entry request validated, resolved to ids and digested, not yet sequenced."""

    request: EntryRequest
    entry_id: str
    effective_at_us: int
    effective_given: bool
    metadata_json: str
    reverses_entry_id: str | None
    legs: list[tuple[int, int, Side, int]]
    """(account_id, asset_id, side, amount) per leg: filled in by the write transaction, which
    resolves (and opens) the accounts."""
    digest: str
    hold_release: tuple[str, int, int, int, int] | None = None
    """(hold id, debit account id, credit account id, asset id, held amount) to release."""


@dataclass
class _BalanceState:
    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int
    dirty: bool = False


@dataclass
class _Opened:
    """Accounts and balance rows a write transaction found or opened; cached once it commits."""

    accounts: dict[str, Account] = field(default_factory=dict)
    pairs: set[tuple[int, int]] = field(default_factory=set)

    @property
    def by_id(self) -> dict[int, Account]:
        return {account.id: account for account in self.accounts.values()}


class LedgerStore:
    """All ledger operations. Thread-safe; one instance per process is enough.

    `effective_time_policy`: which `effective_at` the entries and reversals posted through this
    store may carry (ledger.policy.EffectiveTimePolicy); None means the bounded policy of the
    settings (KOGI_BACKDATING_WINDOW_DAYS). The chain indexer posts through an unbounded view
    (`with_effective_time_policy`): block timestamps are the chain's clock, not ours.
    `account_code_rules`: the chart's rules for account codes (ledger.policy.AccountCodeRule),
    applied on every write and read that takes an account code; None means the platform's
    chart (ledger.scheme.DEFAULT_ACCOUNT_CODE_RULES: holder codes carry a lower-case EVM
    address), `()` a chart without rules. The store itself stays chain-agnostic: it only applies
    the rules it is given.
    """

    def __init__(
        self, database: Database, *, account_code_rules: Sequence[AccountCodeRule] | None = None,
        effective_time_policy: EffectiveTimePolicy | None = None,
    ) -> None:
        self.db = database
        self.effective_time_policy = effective_time_policy or EffectiveTimePolicy.from_settings()
        self._ledger_created_us: dict[int, int] = {}
        if account_code_rules is None:
            from ledger.scheme import DEFAULT_ACCOUNT_CODE_RULES  # the chart imports this module

            account_code_rules = DEFAULT_ACCOUNT_CODE_RULES
        self.account_code_rules = tuple(account_code_rules)
        self._account_code = account_code_normalizer(self.account_code_rules)
        self._ledger_ids: dict[str, int] = {}
        self._assets: dict[tuple[int, str], Asset] = {}
        self._assets_by_id: dict[int, Asset] = {}
        self._accounts: dict[tuple[int, str], Account] = {}
        self._accounts_by_id: dict[int, Account] = {}
        self._balance_pairs: set[tuple[int, int]] = set()
        self._templates: dict[int, list[AccountTemplate]] = {}

    def with_effective_time_policy(self, policy: EffectiveTimePolicy) -> LedgerStore:
        """This store (same database and caches) posting under another effective-time policy."""
        view = copy.copy(self)
        view.effective_time_policy = policy
        return view

    # ------------------------------------------------------------------ ledgers

    def create_ledger(self, code: str, name: str | None = None) -> str:
        """Create a ledger namespace (idempotent: an existing code is returned as is)."""
        check_code(code, "ledger code", 64)

        def work(conn: Connection) -> None:
            if conn.execute(select(ledgers_t.c.id).where(ledgers_t.c.code == code)).first():
                return
            ledger_id = conn.execute(
                ledgers_t.insert().values(code=code, name=name or code, created_at=from_us(now_us()))
            ).inserted_primary_key[0]
            conn.execute(
                heads_t.insert().values(
                    ledger_id=ledger_id, last_sequence=0, last_hash=chain.GENESIS_HASH, last_recorded_at_us=0
                )
            )

        self.db.run_write(work, retry_on_integrity=True)
        return code

    def list_ledgers(self) -> list[str]:
        with self.db.read() as conn:
            return [row.code for row in conn.execute(select(ledgers_t.c.code).order_by(ledgers_t.c.code))]

    def _ledger_id_cached(self, ledger: str) -> int:
        cached = self._ledger_ids.get(ledger)
        if cached is not None:
            return cached
        with self.db.read() as conn:
            return self._ledger_id(conn, ledger)

    def _ledger_id(self, conn: Connection, ledger: str) -> int:
        cached = self._ledger_ids.get(ledger)
        if cached is not None:
            return cached
        row = conn.execute(select(ledgers_t.c.id, ledgers_t.c.created_at).where(ledgers_t.c.code == ledger)).first()
        if row is None:
            raise LedgerNotFound(f"ledger {ledger!r} does not exist")
        created_at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
        self._ledger_created_us[int(row.id)] = to_us(created_at)  # SQLite returns it naive (UTC)
        self._ledger_ids[ledger] = int(row.id)
        return int(row.id)

    def _check_effective(self, ledger: str, ledger_id: int, request: EntryRequest, now: int) -> None:
        """The store's effective-time policy on a request that names its effective time."""
        if request.effective_at is not None:
            self.effective_time_policy.check(
                to_us(request.effective_at), ledger=ledger, ledger_created_us=self._ledger_created_us[ledger_id],
                recorded_us=now,
            )

    # ------------------------------------------------------------------- assets

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
        check_code(code, "asset code", MAX_ASSET_CODE_LENGTH)
        kind = AssetKind(kind)
        if isinstance(scale, bool) or not isinstance(scale, int) or not 0 <= scale <= MAX_SCALE:
            raise ValidationFailed(f"scale must be an integer from 0 to {MAX_SCALE}")
        if chain_id is not None and not 0 < chain_id <= MAX_INT64:
            raise ValidationFailed("chain_id must be a positive 64-bit integer")
        if contract_address is not None:
            check_code(contract_address, "contract address", 64)

        def work(conn: Connection) -> Asset:
            ledger_id = self._ledger_id(conn, ledger)
            existing = self._load_asset(conn, ledger_id, code)
            wanted = (scale, kind, chain_id, contract_address)
            if existing is not None:
                if (existing.scale, existing.kind, existing.chain_id, existing.contract_address) != wanted:
                    raise AlreadyExists(f"asset {code} exists with different attributes")
                return existing
            conn.execute(
                assets_t.insert().values(
                    ledger_id=ledger_id, code=code, scale=scale, kind=kind.value, chain_id=chain_id,
                    contract_address=contract_address, created_at=from_us(now_us()),
                )
            )
            asset = self._load_asset(conn, ledger_id, code)
            assert asset is not None
            return asset

        return self.db.run_write(work, retry_on_integrity=True)

    def get_asset(self, ledger: str, code: str) -> Asset:
        with self.db.read() as conn:
            return self._asset(conn, self._ledger_id(conn, ledger), code)

    def list_assets(self, ledger: str) -> list[Asset]:
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            rows = conn.execute(select(assets_t).where(assets_t.c.ledger_id == ledger_id).order_by(assets_t.c.code))
            return [self._asset_from_row(row) for row in rows]

    def _asset_from_row(self, row: Any) -> Asset:
        return Asset(
            id=int(row.id), code=row.code, scale=int(row.scale), kind=AssetKind(row.kind),
            chain_id=row.chain_id, contract_address=row.contract_address,
        )

    def _load_asset(self, conn: Connection, ledger_id: int, code: str) -> Asset | None:
        row = conn.execute(
            select(assets_t).where(assets_t.c.ledger_id == ledger_id, assets_t.c.code == code)
        ).first()
        if row is None:
            return None
        asset = self._asset_from_row(row)
        self._assets[(ledger_id, code)] = asset
        self._assets_by_id[asset.id] = asset
        return asset

    def _asset(self, conn: Connection, ledger_id: int, code: str) -> Asset:
        asset = self._assets.get((ledger_id, code)) or self._load_asset(conn, ledger_id, code)
        if asset is None:
            raise AssetNotFound(f"asset {code!r} is not registered in this ledger")
        return asset

    # ----------------------------------------------------------------- accounts

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
        code = self._account_code(code)
        accounting_type = AccountingType(accounting_type)
        metadata_json = chain.canonical_metadata(metadata or {})

        def work(conn: Connection) -> Account:
            ledger_id = self._ledger_id(conn, ledger)
            existing = self._load_account(conn, ledger_id, code)
            if existing is not None:
                if (existing.accounting_type, existing.no_overdraft) != (accounting_type, no_overdraft):
                    raise AlreadyExists(f"account {code} exists with different attributes")
                return existing
            conn.execute(
                accounts_t.insert().values(
                    ledger_id=ledger_id, code=code, accounting_type=accounting_type.value,
                    no_overdraft=no_overdraft, metadata_json=metadata_json, created_at=from_us(now_us()),
                )
            )
            account = self._load_account(conn, ledger_id, code)
            assert account is not None
            return account

        return self.db.run_write(work, retry_on_integrity=True)

    def add_account_template(
        self, ledger: str, pattern: str, accounting_type: AccountingType | str, *,
        no_overdraft: bool, priority: int = 100,
    ) -> AccountTemplate:
        """Accounts whose code matches `pattern` (a glob, e.g. "holder:*") are opened on first use."""
        if not pattern or len(pattern) > 256:
            raise ValidationFailed("template pattern must be 1-256 characters")
        template = AccountTemplate(pattern, AccountingType(accounting_type), no_overdraft, priority)

        def work(conn: Connection) -> AccountTemplate:
            ledger_id = self._ledger_id(conn, ledger)
            row = conn.execute(
                select(templates_t).where(templates_t.c.ledger_id == ledger_id, templates_t.c.pattern == pattern)
            ).first()
            if row is None:
                conn.execute(
                    templates_t.insert().values(
                        ledger_id=ledger_id, pattern=pattern, accounting_type=template.accounting_type.value,
                        no_overdraft=no_overdraft, priority=priority,
                    )
                )
            elif (row.accounting_type, row.no_overdraft, row.priority) != (
                template.accounting_type.value, no_overdraft, priority,
            ):
                raise AlreadyExists(f"template {pattern} exists with different attributes")
            self._templates.pop(ledger_id, None)
            return template

        return self.db.run_write(work, retry_on_integrity=True)

    def list_account_templates(self, ledger: str) -> list[AccountTemplate]:
        with self.db.read() as conn:
            return list(self._load_templates(conn, self._ledger_id(conn, ledger)))

    def _load_templates(self, conn: Connection, ledger_id: int) -> list[AccountTemplate]:
        rows = conn.execute(
            select(templates_t).where(templates_t.c.ledger_id == ledger_id)
            .order_by(templates_t.c.priority, templates_t.c.id)
        )
        return [
            AccountTemplate(row.pattern, AccountingType(row.accounting_type), bool(row.no_overdraft), row.priority)
            for row in rows
        ]

    def get_account(self, ledger: str, code: str) -> Account:
        code = self._account_code(code)
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            account = self._accounts.get((ledger_id, code)) or self._load_account(conn, ledger_id, code)
            if account is None:
                raise AccountNotFound(f"account {code!r} does not exist")
            return account

    def list_accounts(
        self, ledger: str, *, prefix: str | None = None, after: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[Account]:
        limit = _page_limit(limit)
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            query = select(accounts_t).where(accounts_t.c.ledger_id == ledger_id)
            if prefix:
                query = query.where(accounts_t.c.code.startswith(prefix, autoescape=True))
            if after:
                query = query.where(accounts_t.c.code > after)
            rows = conn.execute(query.order_by(accounts_t.c.code).limit(limit))
            return [self._account_from_row(row) for row in rows]

    def _account_from_row(self, row: Any) -> Account:
        return Account(
            id=int(row.id), code=row.code, accounting_type=AccountingType(row.accounting_type),
            no_overdraft=bool(row.no_overdraft), metadata=json.loads(row.metadata_json),
        )

    def _load_account(self, conn: Connection, ledger_id: int, code: str) -> Account | None:
        row = conn.execute(
            select(accounts_t).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code == code)
        ).first()
        if row is None:
            return None
        account = self._account_from_row(row)
        self._accounts[(ledger_id, code)] = account
        self._accounts_by_id[account.id] = account
        return account

    def _account_by_id(self, conn: Connection, account_id: int) -> Account:
        account = self._accounts_by_id.get(account_id)
        if account is None:
            row = conn.execute(select(accounts_t).where(accounts_t.c.id == account_id)).one()
            account = self._account_from_row(row)
            self._accounts_by_id[account_id] = account
        return account

    def _asset_by_id(self, conn: Connection, asset_id: int) -> Asset:
        asset = self._assets_by_id.get(asset_id)
        if asset is None:
            asset = self._asset_from_row(conn.execute(select(assets_t).where(assets_t.c.id == asset_id)).one())
            self._assets_by_id[asset_id] = asset
        return asset

    def _preload_accounts(self, ledger_id: int, codes: Iterable[str], pairs: Iterable[tuple[str, str]]) -> None:
        """Fill the caches with the committed accounts and balance rows a write will touch (a read,
        no transaction of its own to write in). What does not exist yet is opened by the write
        itself (`_open_in`), inside its own transaction: a rejected write leaves no account behind."""
        missing_codes = {code for code in codes if (ledger_id, code) not in self._accounts}
        wanted_pairs = set(pairs)
        if not missing_codes and self._pairs_known(ledger_id, wanted_pairs):
            return
        with self.db.read() as conn:
            self._load_accounts_bulk(conn, ledger_id, missing_codes, wanted_pairs)

    def _pairs_known(self, ledger_id: int, pairs: Iterable[tuple[str, str]]) -> bool:
        return all(
            (ledger_id, a) in self._accounts
            and (self._accounts[(ledger_id, a)].id, self._assets[(ledger_id, s)].id) in self._balance_pairs
            for a, s in pairs
        )

    def _open_in(
        self, conn: Connection, ledger_id: int, codes: Iterable[str], pairs: Iterable[tuple[str, str]]
    ) -> _Opened:
        """Inside the write transaction: every account of `codes` (opening template-matched ones
        that do not exist yet) and a balance row for every (account, asset) of `pairs`.

        Runs before the write locks any balance row, and inserts in sorted order, so waiting on
        another writer's uncommitted insert of the same key cannot close a lock cycle. What it
        finds or opens stays in the returned `_Opened` until the transaction commits
        (`_remember`): the caches only ever hold committed rows — a rolled-back SQLite rowid is
        reused by the next insert, and must not be remembered as this account.
        """
        opened = _Opened()
        missing = sorted({code for code in codes if (ledger_id, code) not in self._accounts})
        if missing:
            for chunk in _chunks(missing, 1_000):
                for row in conn.execute(
                    select(accounts_t).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
                ):
                    opened.accounts[row.code] = self._account_from_row(row)
            absent = [code for code in missing if code not in opened.accounts]
            if absent:
                templates = self._templates.get(ledger_id)
                if templates is None:
                    templates = self._templates[ledger_id] = self._load_templates(conn, ledger_id)
                values = []
                created_at = from_us(now_us())
                for code in absent:
                    template = next((t for t in templates if fnmatch.fnmatchcase(code, t.pattern)), None)
                    if template is None:
                        raise AccountNotFound(f"account {code!r} does not exist and no template matches it")
                    values.append(dict(
                        ledger_id=ledger_id, code=code, accounting_type=template.accounting_type.value,
                        no_overdraft=template.no_overdraft, metadata_json="{}", created_at=created_at,
                    ))
                for chunk in _chunks(values, 1_000):
                    conn.execute(self._insert_ignore(accounts_t), list(chunk))
                for chunk in _chunks(absent, 1_000):
                    for row in conn.execute(
                        select(accounts_t).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
                    ):
                        opened.accounts[row.code] = self._account_from_row(row)
        new_pairs = set()
        for account_code, asset_code in pairs:
            account = self._accounts.get((ledger_id, account_code)) or opened.accounts[account_code]
            pair = (account.id, self._assets[(ledger_id, asset_code)].id)
            if pair not in self._balance_pairs:
                new_pairs.add(pair)
        if new_pairs:
            conn.execute(
                self._insert_ignore(balances_t),
                [
                    dict(account_id=a, asset_id=s, ledger_id=ledger_id, debits_posted_units=0,
                         credits_posted_units=0, debits_pending_units=0, credits_pending_units=0, version=0)
                    for a, s in sorted(new_pairs)
                ],
            )
            opened.pairs = new_pairs
        return opened

    def _account_id(self, ledger_id: int, code: str, opened: _Opened) -> int:
        account = self._accounts.get((ledger_id, code)) or opened.accounts[code]
        return account.id

    def _remember(self, ledger_id: int, opened: _Opened | None) -> None:
        """After commit: what the write opened (or first saw) is committed; cache it."""
        if opened is None:
            return
        for code, account in opened.accounts.items():
            self._accounts[(ledger_id, code)] = account
            self._accounts_by_id[account.id] = account
        self._balance_pairs.update(opened.pairs)

    def _load_accounts_bulk(
        self, conn: Connection, ledger_id: int, codes: set[str], pairs: set[tuple[str, str]]
    ) -> None:
        """Fill the caches for many accounts and their balance rows: one query per 1,000 codes."""
        wanted = sorted(codes | {account for account, _ in pairs})
        for chunk in _chunks(wanted, 1_000):
            rows = conn.execute(
                select(accounts_t, balances_t.c.asset_id.label("balance_asset_id"))
                .outerjoin(balances_t, balances_t.c.account_id == accounts_t.c.id)
                .where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
            )
            for row in rows:
                if (ledger_id, row.code) not in self._accounts:
                    account = self._account_from_row(row)
                    self._accounts[(ledger_id, account.code)] = account
                    self._accounts_by_id[account.id] = account
                if row.balance_asset_id is not None:
                    self._balance_pairs.add((int(row.id), int(row.balance_asset_id)))

    def open_accounts(
        self, ledger: str, codes: Sequence[str], accounting_type: AccountingType | str, *,
        no_overdraft: bool = False, assets: Sequence[str] = (),
    ) -> int:
        """Bulk-open accounts (existing codes are left as they are) with balance rows for
        `assets`, e.g. to import a holder registry. Returns how many codes were given."""
        accounting_type = AccountingType(accounting_type)
        codes = [self._account_code(code) for code in codes]
        ledger_id = self._ledger_id_cached(ledger)
        with self.db.read() as conn:
            asset_ids = [self._asset(conn, ledger_id, asset).id for asset in assets]
        for chunk in _chunks(list(codes), 1_000):
            def work(conn: Connection, chunk: list[str] = chunk) -> None:
                created_at = from_us(now_us())
                conn.execute(self._insert_ignore(accounts_t), [
                    dict(ledger_id=ledger_id, code=code, accounting_type=accounting_type.value,
                         no_overdraft=no_overdraft, metadata_json="{}", created_at=created_at)
                    for code in chunk
                ])
                ids = conn.execute(
                    select(accounts_t.c.id).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
                ).scalars().all()
                if asset_ids:
                    conn.execute(self._insert_ignore(balances_t), [
                        dict(account_id=int(account_id), asset_id=asset_id, ledger_id=ledger_id, debits_posted_units=0,
                             credits_posted_units=0, debits_pending_units=0, credits_pending_units=0, version=0)
                        for account_id in ids for asset_id in asset_ids
                    ])

            self.db.run_write(work, retry_on_integrity=True)
        return len(codes)

    def _insert_ignore(self, table: Any) -> Any:
        if self.db.dialect == "postgresql":
            return pg_dialect.insert(table).on_conflict_do_nothing()
        return sqlite_dialect.insert(table).on_conflict_do_nothing()

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
        in_transaction: Callable[[Connection, list[str]], None] | None = None,
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
        if not requests and not reverse:
            return []
        if len(requests) + len(reverse) > MAX_ENTRIES_PER_BATCH:
            raise ValidationFailed(f"a batch holds at most {MAX_ENTRIES_PER_BATCH} entries")
        ledger_id = self._ledger_id_cached(ledger)
        reversals = [self._reversal_request(ledger, entry_id, None, reverse_reason, None) for entry_id in reverse]
        prepared = [self._prepare_one(ledger, request, entry_id, now_us()) for request, entry_id in reversals]
        if bodies is not None and len(bodies) != len(requests):
            raise ValidationFailed(f"{len(bodies)} precomputed bodies for {len(requests)} requests")
        prepared += self._prepare(ledger, ledger_id, requests, bodies) if requests else []
        self._resolve(ledger_id, [item.request for item in prepared])
        return self._commit_prepared(ledger, ledger_id, prepared, before_seal=in_transaction)

    def _prepare(self, ledger: str, ledger_id: int, requests: Sequence[EntryRequest],
                 bodies: Sequence[EntryBody] | None = None) -> list[_Prepared]:
        """Validate (effective time, balance per asset) and digest each request: no database work."""
        prepared = []
        default_effective_us = now_us()
        for index, request in enumerate(requests):
            self._check_effective(ledger, ledger_id, request, default_effective_us)
            normalized = self._normalized(request)
            body = None
            if bodies is not None:
                body = bodies[index]
                if request.effective_at is None:
                    raise ValidationFailed("a precomputed body needs the request's effective_at")
                if index % SPOT_CHECK_EVERY == 0 and entry_body(ledger, request) != body:
                    raise ValidationFailed(f"entry {request.idempotency_key}: its precomputed body does not match")
                if normalized is not request:
                    body = None  # its account codes changed (chart rules): digest the stored form
            prepared.append(self._prepare_one(ledger, normalized, None, default_effective_us, body))
        return prepared

    def _normalized(self, request: EntryRequest) -> EntryRequest:
        """`request` with its account codes in their stored form (the chart's rules); the same
        object when nothing changes (the common case: one cached lookup per leg)."""
        codes = [self._account_code(leg.account) for leg in request.legs]
        if all(code == leg.account for code, leg in zip(codes, request.legs)):
            return request
        return replace(request, legs=tuple(replace(leg, account=code) for code, leg in zip(codes, request.legs)))

    def _resolve(self, ledger_id: int, requests: Sequence[EntryRequest]) -> None:
        """Make every asset the requests name known to the caches (AssetNotFound otherwise), and
        the committed accounts and balance rows they touch; the write opens the others."""
        pairs = {(leg.account, leg.asset) for request in requests for leg in request.legs}
        unknown_assets = {asset for _, asset in pairs if (ledger_id, asset) not in self._assets}
        if unknown_assets:
            with self.db.read() as conn:
                for asset_code in unknown_assets:
                    self._asset(conn, ledger_id, asset_code)
        self._preload_accounts(ledger_id, {account for account, _ in pairs}, pairs)

    def _prepare_one(
        self, ledger: str, request: EntryRequest, reverses_entry_id: str | None,
        default_effective_us: int, body: EntryBody | None = None,
    ) -> _Prepared:
        sums: dict[str, list[int]] = {}
        for leg in request.legs:
            totals = sums.setdefault(leg.asset, [0, 0])
            totals[0 if leg.side is Side.DEBIT else 1] += leg.amount_units
        for asset_code, (debits, credits) in sums.items():
            if debits != credits:
                raise UnbalancedEntry(
                    f"entry {request.idempotency_key}: {asset_code} debits {debits} != credits {credits}",
                    asset=asset_code,
                )
        effective_given = request.effective_at is not None
        effective_us = to_us(request.effective_at) if request.effective_at else default_effective_us
        if body is None:
            metadata_json = chain.canonical_metadata(request.metadata)
            digest = self._digest(ledger, request, effective_us, metadata_json, reverses_entry_id)
        else:
            metadata_json, digest = body.metadata_json, body.digest
        return _Prepared(
            request=request,
            entry_id=new_id(),
            effective_at_us=effective_us,
            effective_given=effective_given,
            metadata_json=metadata_json,
            reverses_entry_id=reverses_entry_id,
            legs=[],
            digest=digest,
        )

    @staticmethod
    def _digest(
        ledger: str, request: EntryRequest, effective_us: int, metadata_json: str, reverses_entry_id: str | None
    ) -> str:
        return chain.body_digest(
            ledger=ledger,
            idempotency_key=request.idempotency_key,
            kind=request.kind,
            effective_at_us=effective_us,
            external_ref=request.external_ref,
            reverses_entry_id=reverses_entry_id,
            metadata_json=metadata_json,
            postings=[(leg.account, leg.asset, leg.side.value, leg.amount_units) for leg in request.legs],
        )

    def _commit_prepared(
        self, ledger: str, ledger_id: int, prepared: list[_Prepared], *, before_seal: Any = None
    ) -> list[Entry]:
        state = {"optimistic": True}
        opened: list[_Opened] = []

        def work(conn: Connection) -> list[Entry]:
            optimistic = state["optimistic"]
            state["optimistic"] = False
            opened.clear()
            try:
                return self._write(
                    conn, ledger, ledger_id, prepared, check_existing=not optimistic, before_seal=before_seal,
                    opened=opened,
                )
            except LedgerError:
                if optimistic:  # maybe a replay: decide with the idempotency check first
                    raise _Retry() from None
                raise

        entries = self.db.run_write(work, retry_on_integrity=True)
        self._remember(ledger_id, opened[0] if opened else None)
        return entries

    def _write(
        self, conn: Connection, ledger: str, ledger_id: int, prepared: list[_Prepared], *, check_existing: bool,
        before_seal: Any = None, opened: list[_Opened] | None = None,
    ) -> list[Entry]:
        """The main write transaction body (see module docstring for the lock order).

        `before_seal(conn, entry_ids)` runs inside the transaction after the entries are
        written and before they are sealed (on PostgreSQL the seal commits). The accounts and
        balance rows the entries open are appended to `opened` (cached after the commit).
        """
        replays: dict[int, Entry] = {}
        if check_existing:
            replays = self._find_replays(conn, ledger, ledger_id, prepared)
        else:
            seen: set[str] = set()
            for item in prepared:
                if item.request.idempotency_key in seen:
                    raise _Retry()  # in-batch duplicate: take the checked path
                seen.add(item.request.idempotency_key)
        fresh = [item for index, item in enumerate(prepared) if index not in replays]
        ids_in_order = [replays[index].id if index in replays else item.entry_id for index, item in enumerate(prepared)]
        if not fresh:
            if before_seal is not None:
                before_seal(conn, ids_in_order)
            return [replays[index] for index in range(len(prepared))]

        # Open what the entries need and does not exist yet (template accounts, balance rows),
        # then resolve every leg to ids.
        found = self._open_in(
            conn, ledger_id, {leg.account for item in fresh for leg in item.request.legs},
            {(leg.account, leg.asset) for item in fresh for leg in item.request.legs},
        )
        if opened is not None:
            opened.append(found)
        accounts = self._accounts
        assets = self._assets
        for item in fresh:
            item.legs = [
                ((accounts.get((ledger_id, leg.account)) or found.accounts[leg.account]).id,
                 assets[(ledger_id, leg.asset)].id, leg.side, leg.amount_units)
                for leg in item.request.legs
            ]
        found_by_id = found.by_id if found.accounts else None

        # Lock every touched balance row in (account_id, asset_id) order.
        pairs = sorted({(a, s) for item in fresh for a, s, _, _ in item.legs} | {
            pair for item in fresh if item.hold_release
            for pair in ((item.hold_release[1], item.hold_release[3]), (item.hold_release[2], item.hold_release[3]))
        })
        if self.db.dialect == "postgresql":
            locked = pg_fast.lock_balances(conn.connection.driver_connection, pairs)
            balances = {
                (int(row[0]), int(row[1])): _BalanceState(int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6]))
                for row in locked
            }
            if len(balances) != len(pairs):  # pragma: no cover - _open_in created them
                raise RuntimeError("balance rows missing for a write; ledger invariant broken")
        else:
            balances = self._lock_balances(conn, pairs)

        running: list[list[tuple[int, int]]] = []
        for item in fresh:
            if item.hold_release is not None:
                _, debit_id, credit_id, asset_id, held = item.hold_release
                balances[(debit_id, asset_id)].debits_pending -= held
                balances[(credit_id, asset_id)].credits_pending -= held
                balances[(debit_id, asset_id)].dirty = balances[(credit_id, asset_id)].dirty = True
            after: list[tuple[int, int]] = []
            touched: set[tuple[int, int]] = set()
            for account_id, asset_id, side, amount in item.legs:
                bal = balances[(account_id, asset_id)]
                if side is Side.DEBIT:
                    bal.debits_posted += amount
                else:
                    bal.credits_posted += amount
                bal.dirty = True
                touched.add((account_id, asset_id))
                after.append((bal.debits_posted, bal.credits_posted))
            for pair in touched:
                self._check_balance(conn, pair, balances[pair], item.request.idempotency_key, found_by_id)
            running.append(after)

        entry_rows: list[dict[str, Any]] = []
        posting_rows: list[dict[str, Any]] = []
        for item, after in zip(fresh, running):
            request = item.request
            entry_rows.append(
                dict(
                    id=item.entry_id, ledger_id=ledger_id, idempotency_key=request.idempotency_key, kind=request.kind,
                    effective_at_us=item.effective_at_us, external_ref=request.external_ref,
                    reverses_entry_id=item.reverses_entry_id, metadata_json=item.metadata_json, body_digest=item.digest,
                )
            )
            for leg_index, ((account_id, asset_id, side, amount), (debits_after, credits_after)) in enumerate(
                zip(item.legs, after)
            ):
                posting_rows.append(
                    dict(
                        entry_id=item.entry_id, leg_index=leg_index, ledger_id=ledger_id, account_id=account_id,
                        asset_id=asset_id, side=side.value, amount_units=amount,
                        debits_after_units=debits_after, credits_after_units=credits_after,
                    )
                )
        entry_ids = [item.entry_id for item in fresh]
        digests = [item.digest for item in fresh]
        if self.db.dialect == "postgresql":
            raw = conn.connection.driver_connection
            balance_rows = [
                (a, s, b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending, b.version + 1)
                for (a, s), b in sorted(balances.items()) if b.dirty
            ]
            if before_seal is None:
                first_sequence, recorded_at_us, hashes = pg_fast.persist_seal_and_commit(
                    raw, entry_rows, posting_rows, balance_rows, ledger_id, now_us()
                )
            else:
                pg_fast.persist(raw, entry_rows, posting_rows, balance_rows)
                before_seal(conn, ids_in_order)
                first_sequence, recorded_at_us, hashes = pg_fast.seal_and_commit(
                    raw, ledger_id, entry_ids, digests, now_us()
                )
        else:
            sqlite_fast.insert_entries(conn, entry_rows, posting_rows)
            self._store_balances(conn, balances)
            if before_seal is not None:
                before_seal(conn, ids_in_order)
            first_sequence, recorded_at_us, hashes = self._seal(conn, ledger_id, entry_ids, digests)
        written = iter(
            Entry(
                id=item.entry_id, ledger=ledger, sequence=first_sequence + offset,
                idempotency_key=item.request.idempotency_key, kind=item.request.kind,
                effective_at_us=item.effective_at_us, recorded_at_us=recorded_at_us,
                external_ref=item.request.external_ref, reverses_entry_id=item.reverses_entry_id,
                metadata=_metadata_copy(item.request.metadata, item.metadata_json), legs=item.request.legs, body_digest=item.digest,
                hash=hashes[offset],
            )
            for offset, item in enumerate(fresh)
        )
        return [replays[index] if index in replays else next(written) for index in range(len(prepared))]

    def _seal(
        self, conn: Connection, ledger_id: int, entry_ids: list[str], digests: list[str]
    ) -> tuple[int, int, list[str]]:
        """Number and chain-hash entries under the head lock (the Python twin of kogi_seal())."""
        head = conn.execute(
            select(heads_t.c.last_sequence, heads_t.c.last_hash, heads_t.c.last_recorded_at_us)
            .where(heads_t.c.ledger_id == ledger_id).with_for_update()
        ).one()
        sequence, prev_hash = int(head.last_sequence), str(head.last_hash)
        recorded_at_us = max(now_us(), int(head.last_recorded_at_us))
        first_sequence = sequence + 1
        hashes, seal_rows = [], []
        for entry_id, digest in zip(entry_ids, digests):
            sequence += 1
            prev_hash = chain.link_hash(prev_hash, sequence, recorded_at_us, entry_id, digest)
            hashes.append(prev_hash)
            seal_rows.append((ledger_id, sequence, entry_id, recorded_at_us, prev_hash))
        sqlite_fast.insert_seals(conn, seal_rows)
        conn.execute(
            heads_t.update().where(heads_t.c.ledger_id == ledger_id)
            .values(last_sequence=sequence, last_hash=prev_hash, last_recorded_at_us=recorded_at_us)
        )
        return first_sequence, recorded_at_us, hashes

    def _find_replays(
        self, conn: Connection, ledger: str, ledger_id: int, prepared: list[_Prepared]
    ) -> dict[int, Entry]:
        """Entries already recorded under the batch's idempotency keys (or its external refs)."""
        keys = [item.request.idempotency_key for item in prepared]
        refs = [item.request.external_ref for item in prepared if item.request.external_ref is not None]
        condition = entries_t.c.idempotency_key.in_(keys)
        if refs:
            condition = or_(condition, entries_t.c.external_ref.in_(refs))
        existing = {
            row.idempotency_key: row
            for row in conn.execute(
                select(
                    entries_t.c.id, entries_t.c.idempotency_key, entries_t.c.external_ref,
                    entries_t.c.body_digest, entries_t.c.effective_at_us,
                ).where(entries_t.c.ledger_id == ledger_id, condition)
            )
        }
        by_ref = {row.external_ref: row for row in existing.values() if row.external_ref is not None}
        reversed_ids = [item.reverses_entry_id for item in prepared if item.reverses_entry_id is not None]
        if reversed_ids:
            for row in conn.execute(
                select(entries_t.c.id, entries_t.c.idempotency_key, entries_t.c.reverses_entry_id).where(
                    entries_t.c.ledger_id == ledger_id, entries_t.c.reverses_entry_id.in_(reversed_ids)
                )
            ):
                if row.idempotency_key not in existing:
                    raise AlreadyReversed(
                        f"entry {row.reverses_entry_id} was already reversed by {row.id}", reversal_id=row.id
                    )
        replays: dict[int, Entry] = {}
        first_in_batch: dict[str, int] = {}
        for index, item in enumerate(prepared):
            key = item.request.idempotency_key
            row = existing.get(key)
            if row is not None:
                self._check_same(ledger, item, row.body_digest, int(row.effective_at_us))
                replays[index] = replace(self._load_entry(conn, ledger, row.id), replayed=True)
                continue
            ref = item.request.external_ref
            if ref is not None and ref in by_ref:
                raise ExternalRefConflict(
                    f"external reference {ref} is already recorded by entry {by_ref[ref].id}",
                    entry_id=by_ref[ref].id,
                )
            if key in first_in_batch:
                earlier = prepared[first_in_batch[key]]
                if earlier.digest != item.digest:
                    raise IdempotencyConflict(f"idempotency key {key} appears twice in the batch with different content")
                raise ValidationFailed(f"idempotency key {key} appears twice in the batch")
            first_in_batch[key] = index
        return replays

    def _check_same(self, ledger: str, item: _Prepared, stored_digest: str, stored_effective_us: int) -> None:
        digest = item.digest
        if not item.effective_given:
            digest = self._digest(ledger, item.request, stored_effective_us, item.metadata_json, item.reverses_entry_id)
        if digest != stored_digest:
            raise IdempotencyConflict(
                f"idempotency key {item.request.idempotency_key} was used for a different entry"
            )

    def _lock_balances(self, conn: Connection, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], _BalanceState]:
        query = (
            select(
                balances_t.c.account_id, balances_t.c.asset_id, balances_t.c.debits_posted_units,
                balances_t.c.credits_posted_units, balances_t.c.debits_pending_units,
                balances_t.c.credits_pending_units, balances_t.c.version,
            )
            .where(tuple_(balances_t.c.account_id, balances_t.c.asset_id).in_(pairs))
            .order_by(balances_t.c.account_id, balances_t.c.asset_id)
            .with_for_update()
        )
        balances = {
            (int(row.account_id), int(row.asset_id)): _BalanceState(
                row.debits_posted_units, row.credits_posted_units, row.debits_pending_units,
                row.credits_pending_units, int(row.version),
            )
            for row in conn.execute(query)
        }
        if len(balances) != len(pairs):  # pragma: no cover - _open_in created them
            raise RuntimeError("balance rows missing for a write; ledger invariant broken")
        return balances

    def _check_balance(
        self, conn: Connection, pair: tuple[int, int], bal: _BalanceState, key: str,
        uncommitted: dict[int, Account] | None = None,
    ) -> None:
        """Overflow and overdraft checks of one balance row; `uncommitted` are the accounts this
        transaction opened (kept out of the caches until it commits)."""
        account = (uncommitted or {}).get(pair[0]) or self._account_by_id(conn, pair[0])
        for total in (bal.debits_posted + bal.debits_pending, bal.credits_posted + bal.credits_pending):
            if total > MAX_AMOUNT_UNITS:
                raise BalanceOverflow(f"entry {key}: totals of {account.code} would exceed 2^256-1")
        if not account.no_overdraft:
            return
        if account.accounting_type.debit_normal:
            available = bal.debits_posted - bal.credits_posted - bal.credits_pending
        else:
            available = bal.credits_posted - bal.debits_posted - bal.debits_pending
        if available < 0:
            asset = self._asset_by_id(conn, pair[1])
            raise Overdraft(
                f"{key}: account {account.code} would have {available} {asset.code} base units available",
                account=account.code, asset=asset.code,
            )

    def _store_balances(self, conn: Connection, balances: dict[tuple[int, int], _BalanceState]) -> None:
        rows = [
            dict(
                b_account_id=account_id, b_asset_id=asset_id, debits_posted_units=bal.debits_posted,
                credits_posted_units=bal.credits_posted, debits_pending_units=bal.debits_pending,
                credits_pending_units=bal.credits_pending, version=bal.version + 1,
            )
            for (account_id, asset_id), bal in balances.items()
            if bal.dirty
        ]
        if not rows:
            return
        from sqlalchemy import bindparam

        conn.execute(
            balances_t.update()
            .where(balances_t.c.account_id == bindparam("b_account_id"), balances_t.c.asset_id == bindparam("b_asset_id"))
            .values(
                debits_posted_units=bindparam("debits_posted_units"),
                credits_posted_units=bindparam("credits_posted_units"),
                debits_pending_units=bindparam("debits_pending_units"),
                credits_pending_units=bindparam("credits_pending_units"),
                version=bindparam("version"),
            ),
            rows,
        )

    # ---------------------------------------------------------------- reversals

    def reverse(
        self, ledger: str, entry_id: str, *, idempotency_key: str | None = None, reason: str | None = None,
        effective_at: datetime | None = None,
    ) -> Entry:
        """Post the mirror of `entry_id` (sides swapped), linked to it. An entry is reversed once."""
        ledger_id = self._ledger_id_cached(ledger)
        request, _ = self._reversal_request(ledger, entry_id, idempotency_key, reason, effective_at)
        now = now_us()
        self._check_effective(ledger, ledger_id, request, now)
        item = self._prepare_one(ledger, request, entry_id, now)
        self._resolve(ledger_id, [request])
        return self._commit_prepared(ledger, ledger_id, [item])[0]

    def _reversal_request(
        self, ledger: str, entry_id: str, idempotency_key: str | None, reason: str | None,
        effective_at: datetime | None,
    ) -> tuple[EntryRequest, str]:
        """The mirror of `entry_id` (sides swapped) as a request; checks it may be reversed."""
        key = idempotency_key or f"reversal:{entry_id}"
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            original = self._load_entry(conn, ledger, entry_id)
            existing = conn.execute(
                select(entries_t.c.id, entries_t.c.idempotency_key).where(
                    entries_t.c.ledger_id == ledger_id, entries_t.c.reverses_entry_id == entry_id
                )
            ).first()
        if original.reverses_entry_id is not None:
            raise NotReversible(f"entry {entry_id} is itself a reversal; post a new entry instead")
        metadata: dict[str, Any] = {"reason": reason} if reason else {}
        if existing is not None and (existing.idempotency_key != key
                                     or self.get_entry(ledger, existing.id).metadata != metadata):
            # Only an exact repeat replays; another key or another reason meets the reversal already made.
            raise AlreadyReversed(f"entry {entry_id} was already reversed by {existing.id}", reversal_id=existing.id)
        request = EntryRequest(
            idempotency_key=key,
            kind="reversal",
            legs=tuple(Leg(leg.account, leg.asset, leg.side.opposite(), leg.amount_units) for leg in original.legs),
            effective_at=effective_at,
            metadata=metadata,
        )
        return request, entry_id

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
        debit_account, credit_account = self._account_code(debit_account), self._account_code(credit_account)
        legs = (Leg(debit_account, asset, Side.DEBIT, amount_units), Leg(credit_account, asset, Side.CREDIT, amount_units))
        check_key(idempotency_key, "idempotency key", MAX_IDEMPOTENCY_KEY_LENGTH)
        check_kind(kind)
        metadata_json = chain.canonical_metadata(metadata or {})
        expires_at_us = to_us(expires_at) if expires_at else None
        if expires_at_us is not None and expires_at_us <= now_us():
            raise ValidationFailed("expires_at must be in the future")
        if debit_account == credit_account:
            raise SameAccount("a hold needs two different accounts")
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            asset_row = self._asset(conn, ledger_id, asset)
        pairs_wanted = {(leg.account, asset) for leg in legs}
        self._preload_accounts(ledger_id, {debit_account, credit_account}, pairs_wanted)
        opened: list[_Opened] = []

        def work(conn: Connection) -> Hold:
            opened.clear()
            row = conn.execute(
                select(holds_t).where(holds_t.c.ledger_id == ledger_id, holds_t.c.idempotency_key == idempotency_key)
            ).first()
            if row is not None:
                existing = self._hold_from_row(conn, ledger, row)
                same = (existing.debit_account, existing.credit_account, existing.asset, existing.amount_units,
                        existing.kind, existing.expires_at_us, row.metadata_json) == (
                    debit_account, credit_account, asset, amount_units, kind, expires_at_us, metadata_json)
                if not same:
                    raise IdempotencyConflict(f"idempotency key {idempotency_key} was used for a different hold")
                return replace(existing, replayed=True)
            found = self._open_in(conn, ledger_id, {debit_account, credit_account}, pairs_wanted)
            opened.append(found)
            debit_id = self._account_id(ledger_id, debit_account, found)
            credit_id = self._account_id(ledger_id, credit_account, found)
            pairs = sorted({(debit_id, asset_row.id), (credit_id, asset_row.id)})
            balances = self._lock_balances(conn, pairs)
            balances[(debit_id, asset_row.id)].debits_pending += amount_units
            balances[(credit_id, asset_row.id)].credits_pending += amount_units
            for pair in pairs:
                balances[pair].dirty = True
                self._check_balance(conn, pair, balances[pair], idempotency_key, found.by_id)
            hold_id = new_id()
            created_at_us = now_us()
            conn.execute(
                holds_t.insert().values(
                    id=hold_id, ledger_id=ledger_id, idempotency_key=idempotency_key, kind=kind,
                    debit_account_id=debit_id, credit_account_id=credit_id, asset_id=asset_row.id,
                    amount_units=amount_units, status=HoldStatus.PENDING.value, expires_at_us=expires_at_us,
                    created_at_us=created_at_us, resolved_at_us=None, posted_entry_id=None, metadata_json=metadata_json,
                )
            )
            self._store_balances(conn, balances)
            return Hold(
                id=hold_id, ledger=ledger, idempotency_key=idempotency_key, kind=kind, debit_account=debit_account,
                credit_account=credit_account, asset=asset, amount_units=amount_units, status=HoldStatus.PENDING,
                expires_at_us=expires_at_us, created_at_us=created_at_us, resolved_at_us=None, posted_entry_id=None,
                metadata=json.loads(metadata_json),
            )

        hold = self.db.run_write(work, retry_on_integrity=True)
        self._remember(ledger_id, opened[0] if opened else None)
        return hold

    def get_hold(self, ledger: str, hold_id: str) -> Hold:
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            row = conn.execute(select(holds_t).where(holds_t.c.id == hold_id, holds_t.c.ledger_id == ledger_id)).first()
            if row is None:
                raise HoldNotFound(f"hold {hold_id} does not exist")
            return self._hold_from_row(conn, ledger, row)

    def _hold_from_row(self, conn: Connection, ledger: str, row: Any) -> Hold:
        return Hold(
            id=row.id, ledger=ledger, idempotency_key=row.idempotency_key, kind=row.kind,
            debit_account=self._account_by_id(conn, int(row.debit_account_id)).code,
            credit_account=self._account_by_id(conn, int(row.credit_account_id)).code,
            asset=self._asset_by_id(conn, int(row.asset_id)).code, amount_units=row.amount_units,
            status=HoldStatus(row.status), expires_at_us=row.expires_at_us, created_at_us=row.created_at_us,
            resolved_at_us=row.resolved_at_us, posted_entry_id=row.posted_entry_id,
            metadata=json.loads(row.metadata_json),
        )

    def post_hold(
        self, ledger: str, hold_id: str, *, amount_units: int | None = None, idempotency_key: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Entry:
        """Phase two: post all (default) or part of the hold as a journal entry; release the rest."""
        hold = self.get_hold(ledger, hold_id)
        key = idempotency_key or f"hold:{hold_id}:post"
        if hold.status is HoldStatus.POSTED and hold.posted_entry_id:
            entry = self.get_entry(ledger, hold.posted_entry_id)
            if entry.idempotency_key == key and (amount_units is None or amount_units == entry.legs[0].amount_units):
                return replace(entry, replayed=True)
        amount = hold.amount_units if amount_units is None else amount_units
        if amount > hold.amount_units:
            raise HoldAmountExceeded(f"cannot post {amount} of a hold of {hold.amount_units}")
        request = EntryRequest(
            idempotency_key=key, kind=hold.kind,
            legs=(Leg(hold.debit_account, hold.asset, Side.DEBIT, amount),
                  Leg(hold.credit_account, hold.asset, Side.CREDIT, amount)),
            metadata={**hold.metadata, **(metadata or {}), "hold_id": hold_id},
        )
        ledger_id = self._ledger_id_cached(ledger)
        item = self._prepare_one(ledger, request, None, now_us())
        self._resolve(ledger_id, [request])
        debit_id = self._accounts[(ledger_id, hold.debit_account)].id
        credit_id = self._accounts[(ledger_id, hold.credit_account)].id
        asset_id = self._assets[(ledger_id, hold.asset)].id
        item.hold_release = (hold_id, debit_id, credit_id, asset_id, hold.amount_units)

        def resolve(conn: Connection, entry_ids: list[str]) -> None:
            if entry_ids[0] != item.entry_id:
                return  # a replay: the hold was resolved by the original post
            self._resolve_hold(conn, hold_id, HoldStatus.POSTED, entry_ids[0])

        return self._commit_prepared(ledger, ledger_id, [item], before_seal=resolve)[0]

    def _resolve_hold(self, conn: Connection, hold_id: str, status: HoldStatus, entry_id: str | None) -> None:
        row = conn.execute(select(holds_t.c.status, holds_t.c.expires_at_us).where(holds_t.c.id == hold_id)).one()
        if row.status != HoldStatus.PENDING.value:
            raise HoldNotPending(f"hold {hold_id} is {row.status}")
        if status is HoldStatus.POSTED and row.expires_at_us is not None and row.expires_at_us <= now_us():
            raise HoldExpired(f"hold {hold_id} expired")
        result = conn.execute(
            update(holds_t).where(holds_t.c.id == hold_id, holds_t.c.status == HoldStatus.PENDING.value)
            .values(status=status.value, resolved_at_us=now_us(), posted_entry_id=entry_id)
        )
        if result.rowcount != 1:  # pragma: no cover - the balance locks serialise resolvers
            raise HoldNotPending(f"hold {hold_id} is no longer pending")

    def void_hold(self, ledger: str, hold_id: str) -> Hold:
        """Release a pending hold without posting. Voiding a voided hold returns it unchanged
        (`replayed`), also when another void of the same hold commits first (concurrent voids
        all succeed, one of them releases); a hold posted or expired meanwhile is HoldNotPending."""
        hold = self.get_hold(ledger, hold_id)
        if hold.status is HoldStatus.VOIDED:
            return replace(hold, replayed=True)
        released = self._release_holds(ledger, [hold_id], HoldStatus.VOIDED, strict=True)
        hold = self.get_hold(ledger, hold_id)
        return hold if released else replace(hold, replayed=True)

    def expire_holds(self, ledger: str, *, now: datetime | None = None, limit: int = 1_000) -> int:
        """Release pending holds whose expiry has passed; returns how many were expired."""
        moment_us = to_us(now) if now else now_us()
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            ids = [
                row.id for row in conn.execute(
                    select(holds_t.c.id).where(
                        holds_t.c.ledger_id == ledger_id, holds_t.c.status == HoldStatus.PENDING.value,
                        holds_t.c.expires_at_us.is_not(None), holds_t.c.expires_at_us <= moment_us,
                    ).order_by(holds_t.c.id).limit(limit)
                )
            ]
        if not ids:
            return 0
        return self._release_holds(ledger, ids, HoldStatus.EXPIRED, strict=False)

    def _release_holds(self, ledger: str, hold_ids: list[str], status: HoldStatus, *, strict: bool) -> int:
        """Move the still-pending holds among `hold_ids` to `status` and release their pending
        amounts; returns how many moved. Holds resolved meanwhile (by a concurrent writer) are
        skipped; with `strict` (one hold) a hold already in `status` counts as done (0) and one
        in any other state raises HoldNotPending."""
        def work(conn: Connection) -> int:
            rows = conn.execute(
                select(holds_t).where(holds_t.c.id.in_(hold_ids), holds_t.c.status == HoldStatus.PENDING.value)
                .order_by(holds_t.c.id).with_for_update()
            ).all()
            if not rows:
                if strict:
                    current = conn.execute(select(holds_t.c.status).where(holds_t.c.id == hold_ids[0])).scalar_one()
                    if current != status.value:
                        raise HoldNotPending(f"hold {hold_ids[0]} is {current}")
                return 0
            pairs = sorted({(int(r.debit_account_id), int(r.asset_id)) for r in rows}
                           | {(int(r.credit_account_id), int(r.asset_id)) for r in rows})
            balances = self._lock_balances(conn, pairs)
            for row in rows:
                balances[(int(row.debit_account_id), int(row.asset_id))].debits_pending -= row.amount_units
                balances[(int(row.credit_account_id), int(row.asset_id))].credits_pending -= row.amount_units
            for bal in balances.values():
                bal.dirty = True
            conn.execute(
                update(holds_t).where(holds_t.c.id.in_([r.id for r in rows]), holds_t.c.status == HoldStatus.PENDING.value)
                .values(status=status.value, resolved_at_us=now_us())
            )
            self._store_balances(conn, balances)
            return len(rows)

        return self.db.run_write(work)

    def list_holds(self, ledger: str, *, status: HoldStatus | None = None, limit: int = DEFAULT_PAGE_SIZE) -> list[Hold]:
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            query = select(holds_t).where(holds_t.c.ledger_id == ledger_id)
            if status is not None:
                query = query.where(holds_t.c.status == HoldStatus(status).value)
            rows = conn.execute(query.order_by(holds_t.c.created_at_us, holds_t.c.id).limit(_page_limit(limit)))
            return [self._hold_from_row(conn, ledger, row) for row in rows]

    # -------------------------------------------------------------------- reads

    def get_entry(self, ledger: str, entry_id: str) -> Entry:
        with self.db.read() as conn:
            return self._load_entry(conn, ledger, entry_id)

    def get_entry_by_key(self, ledger: str, idempotency_key: str) -> Entry:
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            row = conn.execute(
                select(entries_t.c.id).where(entries_t.c.ledger_id == ledger_id, entries_t.c.idempotency_key == idempotency_key)
            ).first()
            if row is None:
                raise EntryNotFound(f"no entry with idempotency key {idempotency_key}")
            return self._load_entry(conn, ledger, row.id)

    def _load_entry(self, conn: Connection, ledger: str, entry_id: str) -> Entry:
        ledger_id = self._ledger_id(conn, ledger)
        row = conn.execute(
            _sealed_entries().where(entries_t.c.id == entry_id, entries_t.c.ledger_id == ledger_id)
        ).first()
        if row is None:
            raise EntryNotFound(f"entry {entry_id} does not exist")
        legs = tuple(self._legs(conn, [entry_id])[entry_id])
        return self._entry_from_row(ledger, row, legs)

    def _legs(self, conn: Connection, entry_ids: list[str]) -> dict[str, list[Leg]]:
        result: dict[str, list[Leg]] = {entry_id: [] for entry_id in entry_ids}
        rows = conn.execute(
            select(postings_t.c.entry_id, postings_t.c.account_id, postings_t.c.asset_id, postings_t.c.side,
                   postings_t.c.amount_units)
            .where(postings_t.c.entry_id.in_(entry_ids)).order_by(postings_t.c.entry_id, postings_t.c.leg_index)
        )
        for row in rows:
            result[row.entry_id].append(
                Leg(self._account_by_id(conn, int(row.account_id)).code, self._asset_by_id(conn, int(row.asset_id)).code,
                    Side(row.side), row.amount_units)
            )
        return result

    @staticmethod
    def _entry_from_row(ledger: str, row: Any, legs: tuple[Leg, ...]) -> Entry:
        return Entry(
            id=row.id, ledger=ledger, sequence=int(row.sequence), idempotency_key=row.idempotency_key, kind=row.kind,
            effective_at_us=int(row.effective_at_us), recorded_at_us=int(row.recorded_at_us),
            external_ref=row.external_ref, reverses_entry_id=row.reverses_entry_id,
            metadata=json.loads(row.metadata_json), legs=legs, body_digest=row.body_digest, hash=row.hash,
        )

    def list_entries(
        self, ledger: str, *, after_sequence: int = 0, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[Entry]:
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            _check_sequence(after_sequence)
            rows = conn.execute(
                _sealed_entries().where(seals_t.c.ledger_id == ledger_id, seals_t.c.sequence > after_sequence)
                .order_by(seals_t.c.sequence).limit(_page_limit(limit))
            ).all()
            legs = self._legs(conn, [row.id for row in rows]) if rows else {}
            return [self._entry_from_row(ledger, row, tuple(legs[row.id])) for row in rows]

    def head(self, ledger: str) -> tuple[int, str]:
        """(last sequence, last chain hash) of the ledger."""
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            row = conn.execute(select(heads_t).where(heads_t.c.ledger_id == ledger_id)).one()
            return int(row.last_sequence), row.last_hash

    def list_seals(
        self, ledger: str, *, after_sequence: int = 0, to_sequence: int | None = None, limit: int = MAX_SEALS_PAGE
    ) -> list[tuple[int, str]]:
        """(sequence, chain hash hex) of the seals after `after_sequence` up to `to_sequence`, in
        sequence order, at most `limit` — one primary-key range scan, so callers (journal anchoring)
        can stream a long range in bounded pages without loading entries or postings."""
        _check_sequence(after_sequence)
        _check_sequence(to_sequence)
        if not 1 <= limit <= MAX_SEALS_PAGE:
            raise ValidationFailed(f"limit must be between 1 and {MAX_SEALS_PAGE}")
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            query = select(seals_t.c.sequence, seals_t.c.hash).where(
                seals_t.c.ledger_id == ledger_id, seals_t.c.sequence > after_sequence)
            if to_sequence is not None:
                query = query.where(seals_t.c.sequence <= to_sequence)
            rows = conn.execute(query.order_by(seals_t.c.sequence).limit(limit)).all()
            return [(int(row.sequence), row.hash) for row in rows]

    def sequence_at(self, ledger: str, moment: datetime) -> int:
        """The last sequence recorded at or before `moment` (recorded time is monotonic)."""
        with self.db.read() as conn:
            return self._sequence_at(conn, self._ledger_id(conn, ledger), to_us(moment))

    def _sequence_at(self, conn: Connection, ledger_id: int, moment_us: int) -> int:
        value = conn.execute(
            select(func.max(seals_t.c.sequence)).where(
                seals_t.c.ledger_id == ledger_id, seals_t.c.recorded_at_us <= moment_us
            )
        ).scalar()
        return int(value or 0)

    def _head_sequence(self, conn: Connection, ledger_id: int) -> int:
        return int(conn.execute(select(heads_t.c.last_sequence).where(heads_t.c.ledger_id == ledger_id)).scalar_one())

    def _side_sums(
        self, conn: Connection, where: Sequence[Any], group_by: Sequence[Any] = (),
    ) -> dict[tuple[Any, ...], tuple[int, int]]:
        """(Σ debits, Σ credits) of the postings matching `where` (postings joined to their entry
        and seal), per `group_by` key. Exact on both backends: PostgreSQL sums NUMERIC(78) in the
        database; SQLite stores amounts as decimal text (its SUM would go through floats), so
        its rows are summed here."""
        source = postings_t.join(entries_t, entries_t.c.id == postings_t.c.entry_id).join(
            seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
        width = len(group_by)
        if self.db.dialect == "postgresql":
            query = (select(*group_by, postings_t.c.side, func.sum(postings_t.c.amount_units))
                     .select_from(source).where(*where).group_by(*group_by, postings_t.c.side))
        else:
            query = select(*group_by, postings_t.c.side, postings_t.c.amount_units).select_from(source).where(*where)
        sums: dict[tuple[Any, ...], list[int]] = {}
        for row in conn.execute(query):
            total = sums.setdefault(tuple(int(value) for value in row[:width]), [0, 0])
            total[0 if row[width] == Side.DEBIT.value else 1] += int(row[width + 1])
        return {key: (debits, credits) for key, (debits, credits) in sums.items()}

    def get_balance(
        self, ledger: str, account: str, asset: str, *, as_of_sequence: int | None = None,
        as_of: datetime | None = None, effective_as_of: datetime | None = None,
    ) -> Balance:
        """Current balance (with pending amounts and version), or the posted balance as of a
        sequence number / recorded time (history has no pending part: holds are not history),
        or — `effective_as_of` — the posted balance of the postings whose entry is effective at
        or before that time, back-dated ones included, over the journal as this read finds it
        (`as_of_sequence` of the result: the last sequence read; a later back-dated entry can
        change the answer). Cost: one pass over the account's postings in that asset."""
        account = self._account_code(account)
        check_code(asset, "asset code", MAX_ASSET_CODE_LENGTH)
        if effective_as_of is not None and (as_of is not None or as_of_sequence is not None):
            raise ValidationFailed("give at most one of as_of_sequence, as_of and effective_as_of")
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            account_row = self._accounts.get((ledger_id, account)) or self._load_account(conn, ledger_id, account)
            if account_row is None:
                raise AccountNotFound(f"account {account!r} does not exist")
            asset_row = self._asset(conn, ledger_id, asset)
            if effective_as_of is not None:
                head = self._head_sequence(conn, ledger_id)
                debits, credits = self._side_sums(conn, [
                    postings_t.c.account_id == account_row.id, postings_t.c.asset_id == asset_row.id,
                    entries_t.c.effective_at_us <= to_us(effective_as_of), seals_t.c.sequence <= head,
                ]).get((), (0, 0))
                return Balance(account, asset, account_row.accounting_type, debits, credits, 0, 0, 0,
                               as_of_sequence=head)
            if as_of is not None:
                as_of_sequence = self._sequence_at(conn, ledger_id, to_us(as_of))
            _check_sequence(as_of_sequence)
            if as_of_sequence is None:
                row = conn.execute(
                    select(balances_t).where(balances_t.c.account_id == account_row.id, balances_t.c.asset_id == asset_row.id)
                ).first()
                if row is None:
                    return Balance(account, asset, account_row.accounting_type, 0, 0, 0, 0, 0)
                return Balance(
                    account, asset, account_row.accounting_type, row.debits_posted_units, row.credits_posted_units,
                    row.debits_pending_units, row.credits_pending_units, int(row.version),
                )
            # Per (account, asset), posting_seq order is sequence order (see PostingRow), so the
            # newest posting whose entry is sealed at or before the sequence holds the totals.
            row = conn.execute(
                select(postings_t.c.debits_after_units, postings_t.c.credits_after_units)
                .join(seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
                .where(postings_t.c.account_id == account_row.id, postings_t.c.asset_id == asset_row.id,
                       seals_t.c.sequence <= as_of_sequence)
                .order_by(postings_t.c.posting_seq.desc()).limit(1)
            ).first()
            debits, credits = (row.debits_after_units, row.credits_after_units) if row else (0, 0)
            return Balance(account, asset, account_row.accounting_type, debits, credits, 0, 0, 0,
                           as_of_sequence=as_of_sequence)

    def list_balances(self, ledger: str, account: str) -> list[Balance]:
        account = self._account_code(account)
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            account_row = self._accounts.get((ledger_id, account)) or self._load_account(conn, ledger_id, account)
            if account_row is None:
                raise AccountNotFound(f"account {account!r} does not exist")
            rows = conn.execute(select(balances_t).where(balances_t.c.account_id == account_row.id))
            return sorted(
                (
                    Balance(account, self._asset_by_id(conn, int(row.asset_id)).code, account_row.accounting_type,
                            row.debits_posted_units, row.credits_posted_units, row.debits_pending_units,
                            row.credits_pending_units, int(row.version))
                    for row in rows
                ),
                key=lambda balance: balance.asset,
            )

    def statement(
        self, ledger: str, account: str, asset: str, *, start: datetime | None = None, end: datetime | None = None,
        effective_start: datetime | None = None, effective_end: datetime | None = None,
        cursor: str | None = None, limit: int = DEFAULT_PAGE_SIZE,
    ) -> StatementPage:
        """Postings of (account, asset) with a running balance, in sequence order, either recorded
        in [start, end) or — `effective_start` / `effective_end` — whose entry is effective in
        [effective_start, effective_end) (back-dated entries land in their period). Give one pair.

        Recorded-time mode: `balance_after_units` is the account's balance after the posting, as
        recorded. Effective-time mode: the opening balance is the sum of the postings effective
        before `effective_start`; each line's `balance_after_units` is that opening plus the lines
        of the window up to and including it (in sequence order, over pages), so the last line of
        the last page closes at the balance `get_balance(effective_as_of=)` gives just before
        `effective_end`. A back-dated entry posted later changes an effective window (not a
        recorded one); each page reads the journal up to the head it finds.

        Cursor-paginated: pass `next_cursor` back to continue; pages are stable because
        the journal is append-only.
        """
        limit = _page_limit(limit)
        account = self._account_code(account)
        check_code(asset, "asset code", MAX_ASSET_CODE_LENGTH)
        effective = effective_start is not None or effective_end is not None
        if effective and (start is not None or end is not None):
            raise ValidationFailed("give either start/end (recorded time) or effective_start/effective_end")
        after_posting = _decode_cursor(cursor) if cursor else None
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            account_row = self._accounts.get((ledger_id, account)) or self._load_account(conn, ledger_id, account)
            if account_row is None:
                raise AccountNotFound(f"account {account!r} does not exist")
            asset_row = self._asset(conn, ledger_id, asset)
            of_pair = [postings_t.c.account_id == account_row.id, postings_t.c.asset_id == asset_row.id]
            query = (
                select(postings_t.c.posting_seq, seals_t.c.sequence, postings_t.c.leg_index, postings_t.c.entry_id,
                       postings_t.c.side, postings_t.c.amount_units, postings_t.c.debits_after_units,
                       postings_t.c.credits_after_units, entries_t.c.kind, entries_t.c.effective_at_us,
                       seals_t.c.recorded_at_us, entries_t.c.external_ref)
                .join(entries_t, entries_t.c.id == postings_t.c.entry_id)
                .join(seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
                .where(*of_pair)
            )
            window: list[Any] = []
            if effective_start is not None:
                window.append(entries_t.c.effective_at_us >= to_us(effective_start))
            if effective_end is not None:
                window.append(entries_t.c.effective_at_us < to_us(effective_end))
            if effective:
                head = self._head_sequence(conn, ledger_id)
                query = query.where(*window, seals_t.c.sequence <= head)
            if start is not None:
                query = query.where(seals_t.c.recorded_at_us >= to_us(start))
            if end is not None:
                query = query.where(seals_t.c.recorded_at_us < to_us(end))
            if after_posting is not None:
                query = query.where(postings_t.c.posting_seq > after_posting)
            rows = conn.execute(query.order_by(postings_t.c.posting_seq).limit(limit + 1)).all()
            debit_normal = account_row.accounting_type.debit_normal

            def signed(side: str, amount: int) -> int:
                return amount if (side == Side.DEBIT.value) == debit_normal else -amount

            opening = 0
            if effective:
                before = []
                if effective_start is not None:  # effective before the window
                    before.append(entries_t.c.effective_at_us < to_us(effective_start))
                if after_posting is not None:  # the window's lines on earlier pages
                    before.append(and_(*window, postings_t.c.posting_seq <= after_posting))
                if before:
                    debits, credits = self._side_sums(
                        conn, [*of_pair, seals_t.c.sequence <= head, or_(*before)]).get((), (0, 0))
                    opening = signed(Side.DEBIT.value, debits) + signed(Side.CREDIT.value, credits)
            elif rows:
                first = rows[0]
                recorded = first.debits_after_units - first.credits_after_units
                opening = (recorded if debit_normal else -recorded) - signed(first.side, first.amount_units)
            lines = []
            running = opening
            for row in rows[:limit]:
                if effective:
                    running += signed(row.side, row.amount_units)
                    balance_after = running
                else:
                    recorded = row.debits_after_units - row.credits_after_units
                    balance_after = recorded if debit_normal else -recorded
                lines.append(
                    StatementLine(
                        sequence=int(row.sequence), leg_index=int(row.leg_index), entry_id=row.entry_id,
                        kind=row.kind, effective_at_us=int(row.effective_at_us),
                        recorded_at_us=int(row.recorded_at_us), side=Side(row.side), amount_units=row.amount_units,
                        balance_after_units=balance_after, external_ref=row.external_ref,
                    )
                )
            next_cursor = _encode_cursor(rows[limit - 1].posting_seq) if len(rows) > limit else None
            return StatementPage(account, asset, tuple(lines), next_cursor, opening)

    def trial_balance(
        self, ledger: str, *, as_of_sequence: int | None = None, effective_as_of: datetime | None = None,
    ) -> TrialBalance:
        """Σ debits and Σ credits per (asset, accounting type), and per asset over the whole ledger:
        now, after a sequence number, or — `effective_as_of` — over the postings whose entry is
        effective at or before that time (back-dated ones included; `as_of_sequence` of the result
        is the last sequence read). The effective-time report reads every posting of the ledger."""
        if effective_as_of is not None and as_of_sequence is not None:
            raise ValidationFailed("give at most one of as_of_sequence and effective_as_of")
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            head_sequence = self._head_sequence(conn, ledger_id)
            _check_sequence(as_of_sequence)
            if effective_as_of is not None:
                as_of_sequence = head_sequence
                sums = self._side_sums(conn, [
                    postings_t.c.ledger_id == ledger_id, entries_t.c.effective_at_us <= to_us(effective_as_of),
                    seals_t.c.sequence <= head_sequence,
                ], (postings_t.c.account_id, postings_t.c.asset_id))
                rows = [_TrialRow(account_id, asset_id, d, c) for (account_id, asset_id), (d, c) in sums.items()]
            elif as_of_sequence is None or as_of_sequence >= head_sequence:
                as_of_sequence = head_sequence
                rows = conn.execute(
                    select(balances_t.c.account_id, balances_t.c.asset_id, balances_t.c.debits_posted_units.label("d"),
                           balances_t.c.credits_posted_units.label("c"))
                    .where(balances_t.c.ledger_id == ledger_id)
                ).all()
            else:
                ranked = (
                    select(
                        postings_t.c.account_id, postings_t.c.asset_id, postings_t.c.debits_after_units.label("d"),
                        postings_t.c.credits_after_units.label("c"),
                        func.row_number().over(
                            partition_by=(postings_t.c.account_id, postings_t.c.asset_id),
                            order_by=postings_t.c.posting_seq.desc(),
                        ).label("rank"),
                    )
                    .join(seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
                    .where(postings_t.c.ledger_id == ledger_id, seals_t.c.sequence <= as_of_sequence)
                    .subquery()
                )
                rows = conn.execute(
                    select(ranked.c.account_id, ranked.c.asset_id, ranked.c.d, ranked.c.c).where(ranked.c.rank == 1)
                ).all()
            grouped: dict[tuple[str, AccountingType], list[int]] = {}
            totals: dict[str, list[int]] = {}
            for row in rows:
                asset = self._asset_by_id(conn, int(row.asset_id)).code
                account = self._account_by_id(conn, int(row.account_id))
                debits, credits = row.d, row.c
                bucket = grouped.setdefault((asset, account.accounting_type), [0, 0])
                bucket[0] += debits
                bucket[1] += credits
                total = totals.setdefault(asset, [0, 0])
                total[0] += debits
                total[1] += credits
            return TrialBalance(
                as_of_sequence=as_of_sequence,
                rows=tuple(
                    TrialBalanceRow(asset, accounting_type, debits, credits)
                    for (asset, accounting_type), (debits, credits) in sorted(grouped.items())
                ),
                totals={asset: (d, c) for asset, (d, c) in sorted(totals.items())},
            )

    # ------------------------------------------------------------------- verify

    def verify(self, ledger: str) -> VerifyReport:
        """Recompute every body digest and chain link in sequence order, then check that each
        stored balance equals the sum of its postings. Names the first entry that fails."""
        with self.db.read() as conn:
            ledger_id = self._ledger_id(conn, ledger)
            prev_hash = chain.GENESIS_HASH
            expected_sequence = 0
            checked = 0
            sums: dict[tuple[int, int], list[int]] = {}
            for rows, postings in self._entry_chunks(conn, ledger_id):
                for row in rows:
                    expected_sequence += 1
                    legs = postings.get(row.id, [])
                    failure = None
                    if int(row.sequence) != expected_sequence:
                        failure = f"sequence gap: expected {expected_sequence}, found {row.sequence}"
                    else:
                        digest = chain.body_digest(
                            ledger=ledger, idempotency_key=row.idempotency_key, kind=row.kind,
                            effective_at_us=int(row.effective_at_us), external_ref=row.external_ref,
                            reverses_entry_id=row.reverses_entry_id, metadata_json=row.metadata_json,
                            postings=[(self._account_by_id(conn, a).code, self._asset_by_id(conn, s).code, side, amount)
                                      for a, s, side, amount in legs],
                        )
                        if digest != row.body_digest:
                            failure = "content does not match its body digest (entry or postings altered)"
                        else:
                            link = chain.link_hash(prev_hash, int(row.sequence), int(row.recorded_at_us), row.id, digest)
                            if link != row.hash:
                                failure = "chain hash mismatch (entry altered, inserted or removed)"
                    if failure:
                        return VerifyReport(ledger, checked, False, int(row.sequence), row.id, failure)
                    prev_hash = row.hash
                    checked += 1
                    for account_id, asset_id, side, amount in legs:
                        total = sums.setdefault((account_id, asset_id), [0, 0])
                        total[0 if side == "D" else 1] += amount
            head = conn.execute(select(heads_t).where(heads_t.c.ledger_id == ledger_id)).one()
            if int(head.last_sequence) != checked or head.last_hash != prev_hash:
                return VerifyReport(ledger, checked, False, checked + 1, None,
                                    "ledger head does not match the last entry (entries removed?)")
            mismatches = []
            for row in conn.execute(select(balances_t).where(balances_t.c.ledger_id == ledger_id)):
                debits, credits = sums.get((int(row.account_id), int(row.asset_id)), [0, 0])
                if (debits, credits) != (row.debits_posted_units, row.credits_posted_units):
                    account = self._account_by_id(conn, int(row.account_id)).code
                    asset = self._asset_by_id(conn, int(row.asset_id)).code
                    mismatches.append(
                        f"{account} {asset}: stored debits/credits {row.debits_posted_units}/{row.credits_posted_units}"
                        f" != postings {debits}/{credits}"
                    )
            if mismatches:
                return VerifyReport(ledger, checked, False, reason="stored balances differ from the journal",
                                    balance_mismatches=tuple(mismatches))
            return VerifyReport(ledger, checked, True)

    def _entry_chunks(
        self, conn: Connection, ledger_id: int
    ) -> Iterator[tuple[list[Any], dict[str, list[tuple[int, int, str, int]]]]]:
        """Stream entries and their postings in sequence order, a bounded chunk at a time."""
        after = 0
        while True:
            rows = conn.execute(
                _sealed_entries().where(seals_t.c.ledger_id == ledger_id, seals_t.c.sequence > after)
                .order_by(seals_t.c.sequence).limit(VERIFY_CHUNK_ENTRIES)
            ).all()
            if not rows:
                return
            postings: dict[str, list[tuple[int, int, str, int]]] = {}
            for posting in conn.execute(
                select(postings_t.c.entry_id, postings_t.c.account_id, postings_t.c.asset_id, postings_t.c.side,
                       postings_t.c.amount_units)
                .where(postings_t.c.entry_id.in_([row.id for row in rows]))
                .order_by(postings_t.c.entry_id, postings_t.c.leg_index)
            ):
                postings.setdefault(posting.entry_id, []).append(
                    (int(posting.account_id), int(posting.asset_id), posting.side, posting.amount_units)
                )
            yield rows, postings
            after = int(rows[-1].sequence)


@dataclass(frozen=True)
class _TrialRow:
    account_id: int
    asset_id: int
    d: int
    c: int


def _sealed_entries() -> Any:
    """Entries with their seal (sequence, recorded time, chain hash). Every committed entry has one."""
    return select(entries_t, seals_t.c.sequence, seals_t.c.recorded_at_us, seals_t.c.hash).join(
        seals_t, seals_t.c.entry_id == entries_t.c.id
    )


def _metadata_copy(metadata: dict[str, Any], metadata_json: str) -> dict[str, Any]:
    """The stored metadata for a returned Entry: a shallow copy when flat (equal to the JSON
    round trip, much cheaper), the parsed canonical JSON otherwise (no shared nested objects)."""
    if all(type(value) in chain.FLAT_JSON_TYPES for value in metadata.values()):
        return dict(metadata)
    return json.loads(metadata_json)


class _Retry(IntegrityError):
    """Raised inside the optimistic attempt to force the checked path (handled by run_write)."""

    def __init__(self) -> None:
        super().__init__("retry with idempotency check", None, Exception("in-batch duplicate"))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


MAX_INT64 = 2**63 - 1


def _check_sequence(sequence: int | None) -> None:
    if sequence is not None and not 0 <= sequence <= MAX_INT64:
        raise ValidationFailed("sequence numbers are integers from 0 to 2^63-1")


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return limit


def _encode_cursor(posting_seq: int) -> str:
    return base64.urlsafe_b64encode(f"p{posting_seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        if not text.startswith("p"):
            raise ValueError(text)
        posting_seq = int(text[1:])
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("cursor is not valid: pass back a next_cursor unchanged") from exc
    if not 0 <= posting_seq <= MAX_INT64:
        raise InvalidCursor("cursor is not valid: pass back a next_cursor unchanged")
    return posting_seq
