"""Balance rows inside a write: lock them in order, change them in memory, check, write back.

One row per (account, asset) holds the posted and pending totals on each side. A write locks
every row it touches in (account id, asset id) order — the one global lock order, so that
concurrent writers queue instead of deadlocking — applies its changes to `BalanceState`s in
memory, checks each touched row once (`check_balance`), and writes each dirty row once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.engine import Connection

from ledger.catalog import Catalog
from ledger.errors import BalanceOverflow, Overdraft
from ledger.limits import MAX_AMOUNT_UNITS
from ledger.model import Account
from ledger.schema import balances_t

Pair = tuple[int, int]
"""(account id, asset id): the key of a balance row."""


@dataclass
class BalanceState:
    """A locked balance row as the write changes it (`dirty`: write it back)."""

    debits_posted: int
    credits_posted: int
    debits_pending: int
    credits_pending: int
    version: int
    dirty: bool = False


def lock_balances(conn: Connection, pairs: list[Pair]) -> dict[Pair, BalanceState]:
    """Lock the balance rows of `pairs` (sorted) in (account, asset) order and read them.

    Every pair must have its row (the write opened the missing ones before locking)."""
    query = (
        select(
            balances_t.c.account_id,
            balances_t.c.asset_id,
            balances_t.c.debits_posted_units,
            balances_t.c.credits_posted_units,
            balances_t.c.debits_pending_units,
            balances_t.c.credits_pending_units,
            balances_t.c.version,
        )
        .where(tuple_(balances_t.c.account_id, balances_t.c.asset_id).in_(pairs))
        .order_by(balances_t.c.account_id, balances_t.c.asset_id)
        .with_for_update()
    )
    balances = {
        (int(row.account_id), int(row.asset_id)): BalanceState(
            row.debits_posted_units,
            row.credits_posted_units,
            row.debits_pending_units,
            row.credits_pending_units,
            int(row.version),
        )
        for row in conn.execute(query)
    }
    check_all_locked(balances, pairs)
    return balances


def check_all_locked(balances: dict[Pair, BalanceState], pairs: list[Pair]) -> None:
    if len(balances) != len(pairs):  # pragma: no cover - the write opened them
        raise RuntimeError("balance rows missing for a write; ledger invariant broken")


def store_balances(conn: Connection, balances: dict[Pair, BalanceState]) -> None:
    """Write every dirty row back (one executemany), its version moved on by one."""
    rows = [
        dict(
            b_account_id=account_id,
            b_asset_id=asset_id,
            debits_posted_units=bal.debits_posted,
            credits_posted_units=bal.credits_posted,
            debits_pending_units=bal.debits_pending,
            credits_pending_units=bal.credits_pending,
            version=bal.version + 1,
        )
        for (account_id, asset_id), bal in balances.items()
        if bal.dirty
    ]
    if not rows:
        return
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


def check_balance(
    catalog: Catalog,
    conn: Connection,
    pair: Pair,
    bal: BalanceState,
    key: str,
    uncommitted: dict[int, Account] | None = None,
) -> None:
    """Overflow and overdraft checks of one balance row after a change; `uncommitted` are the
    accounts this transaction opened (kept out of the caches until it commits)."""
    account = (uncommitted or {}).get(pair[0]) or catalog.account_by_id(conn, pair[0])
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
        asset = catalog.asset_by_id(conn, pair[1])
        raise Overdraft(
            f"{key}: account {account.code} would have {available} {asset.code} base units available",
            account=account.code,
            asset=asset.code,
        )
