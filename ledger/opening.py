"""Accounts and balance rows opened on first use, and in bulk.

A write names account codes; those that do not exist yet are opened from the ledger's
templates (`holder:*` …) inside the write's own transaction, so a rejected write leaves no
account behind. Before the transaction, a read fills the catalog's caches with the committed
accounts and balance rows the write will touch (`preload`), so that in the common case the
transaction itself runs no lookup at all.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ledger.catalog import Catalog, account_from_row
from ledger.errors import AccountNotFound
from ledger.limits import IN_CLAUSE_CHUNK
from ledger.model import Account, AccountingType, Asset, from_us, now_us
from ledger.schema import accounts_t, balances_t

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_CLAUSE_CHUNK) -> Iterator[Sequence[T]]:
    """`items` in slices of `size` (bounded IN lists and insert batches)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def empty_balance_row(ledger_id: int, account_id: int, asset_id: int) -> dict[str, int]:
    return dict(
        account_id=account_id,
        asset_id=asset_id,
        ledger_id=ledger_id,
        debits_posted_units=0,
        credits_posted_units=0,
        debits_pending_units=0,
        credits_pending_units=0,
        version=0,
    )


@dataclass
class Opened:
    """What a write transaction found or opened. `resolved` maps every account code the write
    names to its account (a snapshot: the bounded caches may forget one meanwhile); `accounts`
    and `pairs` are what the caches did not know, cached once the transaction commits
    (`remember`) — never before: a rolled-back SQLite rowid is reused by the next insert."""

    resolved: dict[str, Account] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    pairs: set[tuple[int, int]] = field(default_factory=set)

    @property
    def by_id(self) -> dict[int, Account]:
        """The accounts the caches did not know, by id (uncommitted ones among them)."""
        return {account.id: account for account in self.accounts.values()}


def preload(
    catalog: Catalog,
    ledger_id: int,
    codes: Iterable[str],
    pairs: Iterable[tuple[str, str]],
    assets: Mapping[str, Asset],
) -> None:
    """Fill the caches with the committed accounts and balance rows a write will touch (a read,
    no transaction of its own to write in). What does not exist yet is opened by the write
    itself (`open_in`), inside its own transaction."""
    missing_codes = {code for code in codes if (ledger_id, code) not in catalog.accounts}
    wanted_pairs = set(pairs)
    if not missing_codes and _pairs_known(catalog, ledger_id, wanted_pairs, assets):
        return
    with catalog.db.read() as conn:
        _load_bulk(catalog, conn, ledger_id, missing_codes, wanted_pairs)


def _pairs_known(
    catalog: Catalog, ledger_id: int, pairs: Iterable[tuple[str, str]], assets: Mapping[str, Asset]
) -> bool:
    for account_code, asset_code in pairs:
        account = catalog.accounts.get((ledger_id, account_code))
        if account is None or (account.id, assets[asset_code].id) not in catalog.balance_rows:
            return False
    return True


def _load_bulk(
    catalog: Catalog, conn: Connection, ledger_id: int, codes: set[str], pairs: set[tuple[str, str]]
) -> None:
    """Fill the caches for many accounts and their balance rows: one query per 1,000 codes."""
    wanted = sorted(codes | {account for account, _ in pairs})
    for chunk in chunks(wanted):
        rows = conn.execute(
            select(accounts_t, balances_t.c.asset_id.label("balance_asset_id"))
            .outerjoin(balances_t, balances_t.c.account_id == accounts_t.c.id)
            .where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
        )
        for row in rows:
            if (ledger_id, row.code) not in catalog.accounts:
                catalog.remember_account(ledger_id, account_from_row(row))
            if row.balance_asset_id is not None:
                catalog.balance_rows[(int(row.id), int(row.balance_asset_id))] = True


def open_in(
    catalog: Catalog,
    conn: Connection,
    ledger_id: int,
    codes: set[str],
    pairs: Iterable[tuple[str, str]],
    assets: Mapping[str, Asset],
) -> Opened:
    """Inside the write transaction: every account of `codes` (opening template-matched ones
    that do not exist yet) and a balance row for every (account code, asset code) of `pairs`.

    Runs before the write locks any balance row, and inserts in sorted order, so waiting on
    another writer's uncommitted insert of the same key cannot close a lock cycle.
    """
    opened = Opened()
    for code in codes:
        account = catalog.accounts.get((ledger_id, code))
        if account is not None:
            opened.resolved[code] = account
    missing = sorted(code for code in codes if code not in opened.resolved)
    if missing:
        _find_or_open(catalog, conn, ledger_id, missing, opened.accounts)
        opened.resolved.update(opened.accounts)
    new_pairs = set()
    for account_code, asset_code in pairs:
        pair = (opened.resolved[account_code].id, assets[asset_code].id)
        if pair not in catalog.balance_rows:
            new_pairs.add(pair)
    if new_pairs:
        conn.execute(
            catalog.db.insert_ignore(balances_t),
            [empty_balance_row(ledger_id, account_id, asset_id) for account_id, asset_id in sorted(new_pairs)],
        )
        opened.pairs = new_pairs
    return opened


def _find_or_open(
    catalog: Catalog, conn: Connection, ledger_id: int, missing: list[str], found: dict[str, Account]
) -> None:
    """Read the `missing` accounts into `found`; open those that do not exist from the templates
    (AccountNotFound when none matches), then read them back."""
    _select_into(conn, ledger_id, missing, found)
    absent = [code for code in missing if code not in found]
    if not absent:
        return
    templates = catalog.templates_of(conn, ledger_id)
    values = []
    created_at = from_us(now_us())
    for code in absent:
        template = next((t for t in templates if fnmatch.fnmatchcase(code, t.pattern)), None)
        if template is None:
            raise AccountNotFound(f"account {code!r} does not exist and no template matches it")
        values.append(
            dict(
                ledger_id=ledger_id,
                code=code,
                accounting_type=template.accounting_type.value,
                no_overdraft=template.no_overdraft,
                metadata_json="{}",
                created_at=created_at,
            )
        )
    for chunk in chunks(values):
        conn.execute(catalog.db.insert_ignore(accounts_t), list(chunk))
    _select_into(conn, ledger_id, absent, found)


def _select_into(conn: Connection, ledger_id: int, codes: list[str], found: dict[str, Account]) -> None:
    for chunk in chunks(codes):
        for row in conn.execute(
            select(accounts_t).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
        ):
            found[row.code] = account_from_row(row)


def remember(catalog: Catalog, ledger_id: int, opened: Opened | None) -> None:
    """After commit: what the write opened (or first saw) is committed; cache it."""
    if opened is None:
        return
    for account in opened.accounts.values():
        catalog.remember_account(ledger_id, account)
    for pair in opened.pairs:
        catalog.balance_rows[pair] = True


def open_accounts(
    catalog: Catalog,
    ledger: str,
    codes: Sequence[str],
    accounting_type: AccountingType | str,
    *,
    no_overdraft: bool = False,
    assets: Sequence[str] = (),
) -> int:
    """Bulk-open accounts (existing codes are left as they are) with balance rows for
    `assets`, e.g. to import a holder registry. Returns how many codes were given."""
    accounting_type = AccountingType(accounting_type)
    codes = [catalog.account_code(code) for code in codes]
    ledger_id = catalog.ledger_cached(ledger).id
    with catalog.db.read() as conn:
        asset_ids = [catalog.asset(conn, ledger_id, asset).id for asset in assets]
    for chunk in chunks(codes):

        def work(conn: Connection, chunk: Sequence[str] = chunk) -> None:
            created_at = from_us(now_us())
            conn.execute(
                catalog.db.insert_ignore(accounts_t),
                [
                    dict(
                        ledger_id=ledger_id,
                        code=code,
                        accounting_type=accounting_type.value,
                        no_overdraft=no_overdraft,
                        metadata_json="{}",
                        created_at=created_at,
                    )
                    for code in chunk
                ],
            )
            ids = (
                conn.execute(
                    select(accounts_t.c.id).where(accounts_t.c.ledger_id == ledger_id, accounts_t.c.code.in_(chunk))
                )
                .scalars()
                .all()
            )
            if asset_ids:
                conn.execute(
                    catalog.db.insert_ignore(balances_t),
                    [
                        empty_balance_row(ledger_id, int(account_id), asset_id)
                        for account_id in ids
                        for asset_id in asset_ids
                    ],
                )

        catalog.db.run_write(work, retry_on_integrity=True)
    return len(codes)
