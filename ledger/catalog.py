"""The ledger's catalog: ledgers, assets, accounts and account templates, and their caches.

Everything here is created once and never changes afterwards (re-creating with other
attributes is AlreadyExists), so the rows are cached by code and by id after their first
read: a write resolves its accounts and assets without a query. The caches hold committed
rows only and are bounded (ledger.cache, bounds in ledger.limits); a miss reads the database.
Account codes go through the chart's rules (`account_code`) before every lookup.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger import chain
from ledger.cache import BoundedCache
from ledger.database import Database
from ledger.errors import AccountNotFound, AlreadyExists, AssetNotFound, LedgerNotFound, ValidationFailed
from ledger.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_ASSET_CODE_LENGTH,
    MAX_CACHED_ACCOUNTS,
    MAX_CACHED_ASSETS,
    MAX_CACHED_BALANCE_ROWS,
    MAX_CACHED_LEDGERS,
    MAX_CONTRACT_ADDRESS_LENGTH,
    MAX_INT64,
    MAX_LEDGER_CODE_LENGTH,
    MAX_PAGE_SIZE,
    MAX_SCALE,
    MAX_TEMPLATE_PATTERN_LENGTH,
)
from ledger.model import (
    Account,
    AccountingType,
    AccountTemplate,
    Asset,
    AssetKind,
    check_code,
    from_us,
    now_us,
    to_us,
)
from ledger.policy import AccountCodeRule, account_code_normalizer
from ledger.schema import accounts_t, assets_t, heads_t, ledgers_t, templates_t


@dataclass(frozen=True)
class LedgerRef:
    """A ledger's id and creation time (the lower bound of its effective-time window)."""

    id: int
    created_us: int


def page_limit(limit: int) -> int:
    """`limit` if it is a valid page size, else ValidationFailed (every paged read checks it)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return limit


def account_from_row(row: Any) -> Account:
    return Account(
        id=int(row.id),
        code=row.code,
        accounting_type=AccountingType(row.accounting_type),
        no_overdraft=bool(row.no_overdraft),
        metadata=json.loads(row.metadata_json),
    )


def asset_from_row(row: Any) -> Asset:
    return Asset(
        id=int(row.id),
        code=row.code,
        scale=int(row.scale),
        kind=AssetKind(row.kind),
        chain_id=row.chain_id,
        contract_address=row.contract_address,
    )


class Catalog:
    """Ledgers, assets, accounts and templates of one database, with bounded caches.

    Thread-safe: the caches are dicts of immutable values; two threads loading the same row
    store equal values.
    """

    def __init__(self, database: Database, account_code_rules: Sequence[AccountCodeRule]) -> None:
        self.db = database
        self.account_code_rules = tuple(account_code_rules)
        self.account_code: Callable[[str], str] = account_code_normalizer(self.account_code_rules)
        """A valid account code in its stored form (the chart's rules); ValidationFailed otherwise."""
        self.ledgers: BoundedCache[str, LedgerRef] = BoundedCache(MAX_CACHED_LEDGERS)
        self.assets: BoundedCache[tuple[int, str], Asset] = BoundedCache(MAX_CACHED_ASSETS)
        self.assets_by_id: BoundedCache[int, Asset] = BoundedCache(MAX_CACHED_ASSETS)
        self.accounts: BoundedCache[tuple[int, str], Account] = BoundedCache(MAX_CACHED_ACCOUNTS)
        self.accounts_by_id: BoundedCache[int, Account] = BoundedCache(MAX_CACHED_ACCOUNTS)
        self.balance_rows: BoundedCache[tuple[int, int], bool] = BoundedCache(MAX_CACHED_BALANCE_ROWS)
        """(account id, asset id) pairs whose balance row is committed."""
        self.templates: BoundedCache[int, list[AccountTemplate]] = BoundedCache(MAX_CACHED_LEDGERS)

    # ------------------------------------------------------------------ ledgers

    def create_ledger(self, code: str, name: str | None = None) -> str:
        """Create a ledger namespace (idempotent: an existing code is returned as is)."""
        check_code(code, "ledger code", MAX_LEDGER_CODE_LENGTH)

        def work(conn: Connection) -> None:
            if conn.execute(select(ledgers_t.c.id).where(ledgers_t.c.code == code)).first():
                return
            inserted = conn.execute(
                ledgers_t.insert().values(code=code, name=name or code, created_at=from_us(now_us()))
            ).inserted_primary_key
            assert inserted is not None
            ledger_id = inserted[0]
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

    def ledger(self, conn: Connection, ledger: str) -> LedgerRef:
        """The ledger named `ledger` (LedgerNotFound if there is none)."""
        cached = self.ledgers.get(ledger)
        if cached is not None:
            return cached
        row = conn.execute(select(ledgers_t.c.id, ledgers_t.c.created_at).where(ledgers_t.c.code == ledger)).first()
        if row is None:
            raise LedgerNotFound(f"ledger {ledger!r} does not exist")
        created_at = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
        ref = LedgerRef(int(row.id), to_us(created_at))  # SQLite returns created_at naive (UTC)
        self.ledgers[ledger] = ref
        return ref

    def ledger_id(self, conn: Connection, ledger: str) -> int:
        return self.ledger(conn, ledger).id

    def ledger_cached(self, ledger: str) -> LedgerRef:
        """`ledger()` without a connection at hand: opens a read only on a cache miss."""
        cached = self.ledgers.get(ledger)
        if cached is not None:
            return cached
        with self.db.read() as conn:
            return self.ledger(conn, ledger)

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
            check_code(contract_address, "contract address", MAX_CONTRACT_ADDRESS_LENGTH)
        wanted = (scale, kind, chain_id, contract_address)

        def work(conn: Connection) -> Asset:
            ledger_id = self.ledger_id(conn, ledger)
            existing = self.load_asset(conn, ledger_id, code)
            if existing is not None:
                if (existing.scale, existing.kind, existing.chain_id, existing.contract_address) != wanted:
                    raise AlreadyExists(f"asset {code} exists with different attributes")
                return existing
            conn.execute(
                assets_t.insert().values(
                    ledger_id=ledger_id,
                    code=code,
                    scale=scale,
                    kind=kind.value,
                    chain_id=chain_id,
                    contract_address=contract_address,
                    created_at=from_us(now_us()),
                )
            )
            asset = self.load_asset(conn, ledger_id, code)
            assert asset is not None
            return asset

        return self.db.run_write(work, retry_on_integrity=True)

    def get_asset(self, ledger: str, code: str) -> Asset:
        with self.db.read() as conn:
            return self.asset(conn, self.ledger_id(conn, ledger), code)

    def list_assets(self, ledger: str) -> list[Asset]:
        with self.db.read() as conn:
            ledger_id = self.ledger_id(conn, ledger)
            rows = conn.execute(select(assets_t).where(assets_t.c.ledger_id == ledger_id).order_by(assets_t.c.code))
            return [asset_from_row(row) for row in rows]

    def load_asset(self, conn: Connection, ledger_id: int, code: str) -> Asset | None:
        """The asset from the database (cached), or None."""
        row = conn.execute(select(assets_t).where(assets_t.c.ledger_id == ledger_id, assets_t.c.code == code)).first()
        if row is None:
            return None
        asset = asset_from_row(row)
        self.assets[(ledger_id, code)] = asset
        self.assets_by_id[asset.id] = asset
        return asset

    def asset(self, conn: Connection, ledger_id: int, code: str) -> Asset:
        """The asset `code` of the ledger (AssetNotFound if it is not registered)."""
        asset = self.assets.get((ledger_id, code)) or self.load_asset(conn, ledger_id, code)
        if asset is None:
            raise AssetNotFound(f"asset {code!r} is not registered in this ledger")
        return asset

    def asset_by_id(self, conn: Connection, asset_id: int) -> Asset:
        """An asset the journal refers to (it exists: ids come from committed rows)."""
        asset = self.assets_by_id.get(asset_id)
        if asset is None:
            asset = asset_from_row(conn.execute(select(assets_t).where(assets_t.c.id == asset_id)).one())
            self.assets_by_id[asset_id] = asset
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
        code = self.account_code(code)
        accounting_type = AccountingType(accounting_type)
        metadata_json = chain.canonical_metadata(metadata or {})

        def work(conn: Connection) -> Account:
            ledger_id = self.ledger_id(conn, ledger)
            existing = self.load_account(conn, ledger_id, code)
            if existing is not None:
                if (existing.accounting_type, existing.no_overdraft) != (accounting_type, no_overdraft):
                    raise AlreadyExists(f"account {code} exists with different attributes")
                return existing
            conn.execute(
                accounts_t.insert().values(
                    ledger_id=ledger_id,
                    code=code,
                    accounting_type=accounting_type.value,
                    no_overdraft=no_overdraft,
                    metadata_json=metadata_json,
                    created_at=from_us(now_us()),
                )
            )
            account = self.load_account(conn, ledger_id, code)
            assert account is not None
            return account

        return self.db.run_write(work, retry_on_integrity=True)

    def get_account(self, ledger: str, code: str) -> Account:
        code = self.account_code(code)
        with self.db.read() as conn:
            return self.account(conn, self.ledger_id(conn, ledger), code)

    def list_accounts(
        self, ledger: str, *, prefix: str | None = None, after: str | None = None, limit: int = DEFAULT_PAGE_SIZE
    ) -> list[Account]:
        limit = page_limit(limit)
        with self.db.read() as conn:
            ledger_id = self.ledger_id(conn, ledger)
            query = select(accounts_t).where(accounts_t.c.ledger_id == ledger_id)
            if prefix:
                query = query.where(accounts_t.c.code.startswith(prefix, autoescape=True))
            if after:
                query = query.where(accounts_t.c.code > after)
            rows = conn.execute(query.order_by(accounts_t.c.code).limit(limit))
            return [account_from_row(row) for row in rows]

    def remember_account(self, ledger_id: int, account: Account) -> None:
        """Cache a committed account by code and by id."""
        self.accounts[(ledger_id, account.code)] = account
        self.accounts_by_id[account.id] = account

    def load_account(self, conn: Connection, ledger_id: int, code: str) -> Account | None:
        """The account from the database (cached), or None."""
        row = conn.execute(
            select(accounts_t).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code == code)
        ).first()
        if row is None:
            return None
        account = account_from_row(row)
        self.remember_account(ledger_id, account)
        return account

    def account(self, conn: Connection, ledger_id: int, code: str) -> Account:
        """The account `code` (already in its stored form) of the ledger: AccountNotFound if there is
        none. The one "load account or raise" of every read that names an account."""
        account = self.accounts.get((ledger_id, code)) or self.load_account(conn, ledger_id, code)
        if account is None:
            raise AccountNotFound(f"account {code!r} does not exist")
        return account

    def account_by_id(self, conn: Connection, account_id: int) -> Account:
        """An account the journal refers to (it exists: ids come from committed rows)."""
        account = self.accounts_by_id.get(account_id)
        if account is None:
            account = account_from_row(conn.execute(select(accounts_t).where(accounts_t.c.id == account_id)).one())
            self.accounts_by_id[account_id] = account
        return account

    # ---------------------------------------------------------------- templates

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
        if not pattern or len(pattern) > MAX_TEMPLATE_PATTERN_LENGTH:
            raise ValidationFailed(f"template pattern must be 1-{MAX_TEMPLATE_PATTERN_LENGTH} characters")
        template = AccountTemplate(pattern, AccountingType(accounting_type), no_overdraft, priority)

        def work(conn: Connection) -> AccountTemplate:
            ledger_id = self.ledger_id(conn, ledger)
            row = conn.execute(
                select(templates_t).where(templates_t.c.ledger_id == ledger_id, templates_t.c.pattern == pattern)
            ).first()
            if row is None:
                conn.execute(
                    templates_t.insert().values(
                        ledger_id=ledger_id,
                        pattern=pattern,
                        accounting_type=template.accounting_type.value,
                        no_overdraft=no_overdraft,
                        priority=priority,
                    )
                )
            elif (row.accounting_type, row.no_overdraft, row.priority) != (
                template.accounting_type.value,
                no_overdraft,
                priority,
            ):
                raise AlreadyExists(f"template {pattern} exists with different attributes")
            self.templates.pop(ledger_id, None)
            return template

        return self.db.run_write(work, retry_on_integrity=True)

    def list_account_templates(self, ledger: str) -> list[AccountTemplate]:
        with self.db.read() as conn:
            return list(self.load_templates(conn, self.ledger_id(conn, ledger)))

    def load_templates(self, conn: Connection, ledger_id: int) -> list[AccountTemplate]:
        """The ledger's templates in matching order (priority, then age), from the database."""
        rows = conn.execute(
            select(templates_t)
            .where(templates_t.c.ledger_id == ledger_id)
            .order_by(templates_t.c.priority, templates_t.c.id)
        )
        return [
            AccountTemplate(row.pattern, AccountingType(row.accounting_type), bool(row.no_overdraft), row.priority)
            for row in rows
        ]

    def templates_of(self, conn: Connection, ledger_id: int) -> list[AccountTemplate]:
        """The ledger's templates, cached until `add_account_template` changes them."""
        templates = self.templates.get(ledger_id)
        if templates is None:
            templates = self.templates[ledger_id] = self.load_templates(conn, ledger_id)
        return templates
