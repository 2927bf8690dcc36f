"""Balances over time: as of a sequence number, a recorded time or an effective time;
account statements; the trial balance.

Recorded history is cheap: each posting stores its (account, asset)'s running totals after
it, and per (account, asset) posting order is sequence order (see PostingRow), so the
newest posting at or before a sequence holds the balance. Effective-time history (back-dated
entries land in their period) sums the postings instead, exactly on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from ledger.backends import Backend
from ledger.catalog import Catalog, page_limit
from ledger.cursor import decode_posting_cursor, encode_posting_cursor
from ledger.errors import ValidationFailed
from ledger.journal import check_sequence, head_sequence, sequence_at_us
from ledger.limits import DEFAULT_PAGE_SIZE, MAX_ASSET_CODE_LENGTH
from ledger.model import (
    Account,
    AccountingType,
    Asset,
    Balance,
    Side,
    StatementLine,
    StatementPage,
    TrialBalance,
    TrialBalanceRow,
    check_code,
    to_us,
)
from ledger.schema import balances_t, entries_t, postings_t, seals_t


@dataclass(frozen=True)
class TotalsRow:
    """Posted totals of one (account, asset) as a report reads them."""

    account_id: int
    asset_id: int
    d: int
    c: int


def signed(account: Account, side: str, amount: int) -> int:
    """`amount` on `side` as it moves the account's balance (debit-normal or credit-normal)."""
    return amount if (side == Side.DEBIT.value) == account.accounting_type.debit_normal else -amount


class History:
    """Balance reads, statements and trial balances over a catalog's ledgers."""

    def __init__(self, catalog: Catalog, backend: Backend) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.backend = backend

    def sequence_at(self, ledger: str, moment: datetime) -> int:
        """The last sequence recorded at or before `moment` (recorded time is monotonic)."""
        with self.db.read() as conn:
            return sequence_at_us(conn, self.catalog.ledger_id(conn, ledger), to_us(moment))

    def side_sums(
        self,
        conn: Connection,
        where: Sequence[Any],
        group_by: Sequence[Any] = (),
    ) -> dict[tuple[Any, ...], tuple[int, int]]:
        """(Σ debits, Σ credits) of the postings matching `where` (postings joined to their entry
        and seal), per `group_by` key; exact on both backends (ledger.backends)."""
        source = postings_t.join(entries_t, entries_t.c.id == postings_t.c.entry_id).join(
            seals_t, seals_t.c.entry_id == postings_t.c.entry_id
        )
        width = len(group_by)
        sums: dict[tuple[Any, ...], list[int]] = {}
        for row in conn.execute(self.backend.side_sums_select(source, where, group_by)):
            total = sums.setdefault(tuple(int(value) for value in row[:width]), [0, 0])
            total[0 if row[width] == Side.DEBIT.value else 1] += int(row[width + 1])
        return {key: (debits, credits) for key, (debits, credits) in sums.items()}

    # ----------------------------------------------------------------- balances

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
        """Current balance (with pending amounts and version), or the posted balance as of a
        sequence number / recorded time (history has no pending part: holds are not history),
        or — `effective_as_of` — the posted balance of the postings whose entry is effective at
        or before that time, back-dated ones included, over the journal as this read finds it
        (`as_of_sequence` of the result: the last sequence read; a later back-dated entry can
        change the answer). Cost: one pass over the account's postings in that asset."""
        account = self.catalog.account_code(account)
        check_code(asset, "asset code", MAX_ASSET_CODE_LENGTH)
        if effective_as_of is not None and (as_of is not None or as_of_sequence is not None):
            raise ValidationFailed("give at most one of as_of_sequence, as_of and effective_as_of")
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            account_row = self.catalog.account(conn, ledger_id, account)
            asset_row = self.catalog.asset(conn, ledger_id, asset)
            if effective_as_of is not None:
                return self._effective_balance(conn, ledger_id, account_row, asset_row, effective_as_of)
            if as_of is not None:
                as_of_sequence = sequence_at_us(conn, ledger_id, to_us(as_of))
            check_sequence(as_of_sequence)
            if as_of_sequence is None:
                return self._current_balance(conn, account_row, asset_row)
            return self._recorded_balance(conn, account_row, asset_row, as_of_sequence)

    def _effective_balance(
        self,
        conn: Connection,
        ledger_id: int,
        account: Account,
        asset: Asset,
        effective_as_of: datetime,
    ) -> Balance:
        head = head_sequence(conn, ledger_id)
        debits, credits = self.side_sums(
            conn,
            [
                postings_t.c.account_id == account.id,
                postings_t.c.asset_id == asset.id,
                entries_t.c.effective_at_us <= to_us(effective_as_of),
                seals_t.c.sequence <= head,
            ],
        ).get((), (0, 0))
        return Balance(account.code, asset.code, account.accounting_type, debits, credits, 0, 0, 0, as_of_sequence=head)

    def _current_balance(self, conn: Connection, account: Account, asset: Asset) -> Balance:
        row = conn.execute(
            select(balances_t).where(balances_t.c.account_id == account.id, balances_t.c.asset_id == asset.id)
        ).first()
        if row is None:
            return Balance(account.code, asset.code, account.accounting_type, 0, 0, 0, 0, 0)
        return Balance(
            account.code,
            asset.code,
            account.accounting_type,
            row.debits_posted_units,
            row.credits_posted_units,
            row.debits_pending_units,
            row.credits_pending_units,
            int(row.version),
        )

    def _recorded_balance(self, conn: Connection, account: Account, asset: Asset, as_of_sequence: int) -> Balance:
        # Per (account, asset), posting_seq order is sequence order (see PostingRow), so the
        # newest posting whose entry is sealed at or before the sequence holds the totals.
        row = conn.execute(
            select(postings_t.c.debits_after_units, postings_t.c.credits_after_units)
            .join(seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
            .where(
                postings_t.c.account_id == account.id,
                postings_t.c.asset_id == asset.id,
                seals_t.c.sequence <= as_of_sequence,
            )
            .order_by(postings_t.c.posting_seq.desc())
            .limit(1)
        ).first()
        debits, credits = (row.debits_after_units, row.credits_after_units) if row else (0, 0)
        return Balance(
            account.code, asset.code, account.accounting_type, debits, credits, 0, 0, 0, as_of_sequence=as_of_sequence
        )

    def list_balances(self, ledger: str, account: str) -> list[Balance]:
        account = self.catalog.account_code(account)
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            account_row = self.catalog.account(conn, ledger_id, account)
            rows = conn.execute(select(balances_t).where(balances_t.c.account_id == account_row.id))
            return sorted(
                (
                    Balance(
                        account,
                        self.catalog.asset_by_id(conn, int(row.asset_id)).code,
                        account_row.accounting_type,
                        row.debits_posted_units,
                        row.credits_posted_units,
                        row.debits_pending_units,
                        row.credits_pending_units,
                        int(row.version),
                    )
                    for row in rows
                ),
                key=lambda balance: balance.asset,
            )

    # --------------------------------------------------------------- statements

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
        limit = page_limit(limit)
        account = self.catalog.account_code(account)
        check_code(asset, "asset code", MAX_ASSET_CODE_LENGTH)
        effective = effective_start is not None or effective_end is not None
        if effective and (start is not None or end is not None):
            raise ValidationFailed("give either start/end (recorded time) or effective_start/effective_end")
        after_posting = decode_posting_cursor(cursor) if cursor else None
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            page = _StatementQuery(
                self,
                conn,
                ledger_id,
                self.catalog.account(conn, ledger_id, account),
                self.catalog.asset(conn, ledger_id, asset),
                after_posting,
            )
            if effective:
                return page.effective(effective_start, effective_end, limit)
            return page.recorded(start, end, limit)

    # ------------------------------------------------------------ trial balance

    def trial_balance(
        self,
        ledger: str,
        *,
        as_of_sequence: int | None = None,
        effective_as_of: datetime | None = None,
    ) -> TrialBalance:
        """Σ debits and Σ credits per (asset, accounting type), and per asset over the whole ledger:
        now, after a sequence number, or — `effective_as_of` — over the postings whose entry is
        effective at or before that time (back-dated ones included; `as_of_sequence` of the result
        is the last sequence read). The effective-time report reads every posting of the ledger."""
        if effective_as_of is not None and as_of_sequence is not None:
            raise ValidationFailed("give at most one of as_of_sequence and effective_as_of")
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            head = head_sequence(conn, ledger_id)
            check_sequence(as_of_sequence)
            if effective_as_of is not None:
                as_of_sequence = head
                sums = self.side_sums(
                    conn,
                    [
                        postings_t.c.ledger_id == ledger_id,
                        entries_t.c.effective_at_us <= to_us(effective_as_of),
                        seals_t.c.sequence <= head,
                    ],
                    (postings_t.c.account_id, postings_t.c.asset_id),
                )
                rows: Sequence[Any] = [
                    TotalsRow(account_id, asset_id, d, c) for (account_id, asset_id), (d, c) in sums.items()
                ]
            elif as_of_sequence is None or as_of_sequence >= head:
                as_of_sequence = head
                rows = _current_totals(conn, ledger_id)
            else:
                rows = _totals_at(conn, ledger_id, as_of_sequence)
            return self._group(conn, as_of_sequence, rows)

    def _group(self, conn: Connection, as_of_sequence: int, rows: Sequence[Any]) -> TrialBalance:
        """Totals rows (account_id, asset_id, d, c) grouped per (asset, accounting type) and per asset."""
        grouped: dict[tuple[str, AccountingType], list[int]] = {}
        totals: dict[str, list[int]] = {}
        for row in rows:
            asset = self.catalog.asset_by_id(conn, int(row.asset_id)).code
            account = self.catalog.account_by_id(conn, int(row.account_id))
            bucket = grouped.setdefault((asset, account.accounting_type), [0, 0])
            bucket[0] += row.d
            bucket[1] += row.c
            total = totals.setdefault(asset, [0, 0])
            total[0] += row.d
            total[1] += row.c
        return TrialBalance(
            as_of_sequence=as_of_sequence,
            rows=tuple(
                TrialBalanceRow(asset, accounting_type, debits, credits)
                for (asset, accounting_type), (debits, credits) in sorted(grouped.items())
            ),
            totals={asset: (d, c) for asset, (d, c) in sorted(totals.items())},
        )


def _current_totals(conn: Connection, ledger_id: int) -> Sequence[Any]:
    return conn.execute(
        select(
            balances_t.c.account_id,
            balances_t.c.asset_id,
            balances_t.c.debits_posted_units.label("d"),
            balances_t.c.credits_posted_units.label("c"),
        ).where(balances_t.c.ledger_id == ledger_id)
    ).all()


def _totals_at(conn: Connection, ledger_id: int, as_of_sequence: int) -> Sequence[Any]:
    """Each (account, asset)'s totals after its newest posting sealed at or before the sequence."""
    ranked = (
        select(
            postings_t.c.account_id,
            postings_t.c.asset_id,
            postings_t.c.debits_after_units.label("d"),
            postings_t.c.credits_after_units.label("c"),
            func.row_number()
            .over(
                partition_by=(postings_t.c.account_id, postings_t.c.asset_id),
                order_by=postings_t.c.posting_seq.desc(),
            )
            .label("rank"),
        )
        .join(seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
        .where(postings_t.c.ledger_id == ledger_id, seals_t.c.sequence <= as_of_sequence)
        .subquery()
    )
    return conn.execute(
        select(ranked.c.account_id, ranked.c.asset_id, ranked.c.d, ranked.c.c).where(ranked.c.rank == 1)
    ).all()


class _StatementQuery:
    """One statement page of (account, asset): the query, its opening balance, its lines."""

    def __init__(
        self,
        history: History,
        conn: Connection,
        ledger_id: int,
        account: Account,
        asset: Asset,
        after_posting: int | None,
    ) -> None:
        self.history, self.conn, self.ledger_id = history, conn, ledger_id
        self.account, self.asset, self.after_posting = account, asset, after_posting
        self.of_pair = [postings_t.c.account_id == account.id, postings_t.c.asset_id == asset.id]
        self.query = (
            select(
                postings_t.c.posting_seq,
                seals_t.c.sequence,
                postings_t.c.leg_index,
                postings_t.c.entry_id,
                postings_t.c.side,
                postings_t.c.amount_units,
                postings_t.c.debits_after_units,
                postings_t.c.credits_after_units,
                entries_t.c.kind,
                entries_t.c.effective_at_us,
                seals_t.c.recorded_at_us,
                entries_t.c.external_ref,
            )
            .join(entries_t, entries_t.c.id == postings_t.c.entry_id)
            .join(seals_t, seals_t.c.entry_id == postings_t.c.entry_id)
            .where(*self.of_pair)
        )

    def _rows(self, limit: int) -> Sequence[Any]:
        query = self.query
        if self.after_posting is not None:
            query = query.where(postings_t.c.posting_seq > self.after_posting)
        return self.conn.execute(query.order_by(postings_t.c.posting_seq).limit(limit + 1)).all()

    def recorded(self, start: datetime | None, end: datetime | None, limit: int) -> StatementPage:
        """Lines recorded in [start, end), each with the balance recorded after it."""
        if start is not None:
            self.query = self.query.where(seals_t.c.recorded_at_us >= to_us(start))
        if end is not None:
            self.query = self.query.where(seals_t.c.recorded_at_us < to_us(end))
        rows = self._rows(limit)
        opening = 0
        if rows:
            first = rows[0]
            opening = self._recorded_after(first) - signed(self.account, first.side, first.amount_units)
        lines = [self._line(row, self._recorded_after(row)) for row in rows[:limit]]
        return self._page(rows, lines, opening, limit)

    def effective(self, effective_start: datetime | None, effective_end: datetime | None, limit: int) -> StatementPage:
        """Lines effective in [effective_start, effective_end), with a running balance from the
        postings effective before the window (and the window's lines on earlier pages)."""
        window: list[Any] = []
        if effective_start is not None:
            window.append(entries_t.c.effective_at_us >= to_us(effective_start))
        if effective_end is not None:
            window.append(entries_t.c.effective_at_us < to_us(effective_end))
        head = head_sequence(self.conn, self.ledger_id)
        self.query = self.query.where(*window, seals_t.c.sequence <= head)
        rows = self._rows(limit)
        before = []
        if effective_start is not None:  # effective before the window
            before.append(entries_t.c.effective_at_us < to_us(effective_start))
        if self.after_posting is not None:  # the window's lines on earlier pages
            before.append(and_(*window, postings_t.c.posting_seq <= self.after_posting))
        opening = 0
        if before:
            debits, credits = self.history.side_sums(
                self.conn, [*self.of_pair, seals_t.c.sequence <= head, or_(*before)]
            ).get((), (0, 0))
            opening = signed(self.account, Side.DEBIT.value, debits) + signed(self.account, Side.CREDIT.value, credits)
        lines = []
        running = opening
        for row in rows[:limit]:
            running += signed(self.account, row.side, row.amount_units)
            lines.append(self._line(row, running))
        return self._page(rows, lines, opening, limit)

    def _recorded_after(self, row: Any) -> int:
        recorded = int(row.debits_after_units - row.credits_after_units)
        return recorded if self.account.accounting_type.debit_normal else -recorded

    def _line(self, row: Any, balance_after: int) -> StatementLine:
        return StatementLine(
            sequence=int(row.sequence),
            leg_index=int(row.leg_index),
            entry_id=row.entry_id,
            kind=row.kind,
            effective_at_us=int(row.effective_at_us),
            recorded_at_us=int(row.recorded_at_us),
            side=Side(row.side),
            amount_units=row.amount_units,
            balance_after_units=balance_after,
            external_ref=row.external_ref,
        )

    def _page(self, rows: Sequence[Any], lines: list[StatementLine], opening: int, limit: int) -> StatementPage:
        next_cursor = encode_posting_cursor(rows[limit - 1].posting_seq) if len(rows) > limit else None
        return StatementPage(self.account.code, self.asset.code, tuple(lines), next_cursor, opening)
