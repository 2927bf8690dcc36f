"""Holds: two-phase transfers. Phase one reserves an amount (pending totals of the balance
rows, so the available balance shrinks at once); phase two posts all or part of it as a
journal entry, or voids it, or it expires. A hold changes no posted total until it is posted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from ledger import chain
from ledger.balances import check_balance, lock_balances, store_balances
from ledger.catalog import Catalog, page_limit
from ledger.errors import (
    ExpiryInPast,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    IdempotencyConflict,
    SameAccount,
)
from ledger.journal import Journal
from ledger.limits import DEFAULT_EXPIRE_LIMIT, DEFAULT_PAGE_SIZE, MAX_IDEMPOTENCY_KEY_LENGTH
from ledger.model import (
    Entry,
    EntryRequest,
    Hold,
    HoldStatus,
    Leg,
    Side,
    check_key,
    check_kind,
    new_id,
    now_us,
    to_us,
)
from ledger.opening import Opened, open_in, preload, remember
from ledger.posting import Posting
from ledger.prepare import prepare_one
from ledger.schema import holds_t


@dataclass(frozen=True)
class HoldRequest:
    """A validated `create_hold` call (account codes in their stored form)."""

    ledger: str
    idempotency_key: str
    debit_account: str
    credit_account: str
    asset: str
    amount_units: int
    expires_at_us: int | None
    kind: str
    metadata_json: str


class Holds:
    """Creates, posts, voids, expires and reads holds (posting goes through `Posting`)."""

    def __init__(self, catalog: Catalog, journal: Journal, posting: Posting) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.journal = journal
        self.posting = posting

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
        debit_account = self.catalog.account_code(debit_account)
        credit_account = self.catalog.account_code(credit_account)
        legs = (
            Leg(debit_account, asset, Side.DEBIT, amount_units),
            Leg(credit_account, asset, Side.CREDIT, amount_units),
        )  # validates the amount and codes
        check_key(idempotency_key, "idempotency key", MAX_IDEMPOTENCY_KEY_LENGTH)
        check_kind(kind)
        metadata_json = chain.canonical_metadata(metadata or {})
        request = HoldRequest(
            ledger,
            idempotency_key,
            debit_account,
            credit_account,
            asset,
            amount_units,
            to_us(expires_at) if expires_at else None,
            kind,
            metadata_json,
        )
        if request.expires_at_us is not None and request.expires_at_us <= now_us():
            raise ExpiryInPast("expires_at must be in the future")
        if debit_account == credit_account:
            raise SameAccount("a hold needs two different accounts")
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            asset_row = self.catalog.asset(conn, ledger_id, asset)
        assets = {asset: asset_row}
        pairs_wanted = {(leg.account, asset) for leg in legs}
        preload(self.catalog, ledger_id, {debit_account, credit_account}, pairs_wanted, assets)
        opened: list[Opened] = []

        def work(conn: Connection) -> Hold:
            opened.clear()
            existing = self._existing_hold(conn, ledger_id, request)
            if existing is not None:
                return existing
            found = open_in(self.catalog, conn, ledger_id, {debit_account, credit_account}, pairs_wanted, assets)
            opened.append(found)
            return self._reserve(conn, ledger_id, request, found, asset_row.id)

        hold = self.db.run_write(work, retry_on_integrity=True)
        remember(self.catalog, ledger_id, opened[0] if opened else None)
        return hold

    def _existing_hold(self, conn: Connection, ledger_id: int, request: HoldRequest) -> Hold | None:
        """The hold already created under the request's key (replayed), IdempotencyConflict if it
        differs, None if there is none."""
        row = conn.execute(
            select(holds_t).where(
                holds_t.c.ledger_id == ledger_id, holds_t.c.idempotency_key == request.idempotency_key
            )
        ).first()
        if row is None:
            return None
        existing = self._hold_from_row(conn, request.ledger, row)
        same = (
            existing.debit_account,
            existing.credit_account,
            existing.asset,
            existing.amount_units,
            existing.kind,
            existing.expires_at_us,
            row.metadata_json,
        ) == (
            request.debit_account,
            request.credit_account,
            request.asset,
            request.amount_units,
            request.kind,
            request.expires_at_us,
            request.metadata_json,
        )
        if not same:
            raise IdempotencyConflict(f"idempotency key {request.idempotency_key} was used for a different hold")
        return replace(existing, replayed=True)

    def _reserve(self, conn: Connection, ledger_id: int, request: HoldRequest, found: Opened, asset_id: int) -> Hold:
        """Add the amount to both sides' pending totals (checked), and insert the hold."""
        debit_id = found.resolved[request.debit_account].id
        credit_id = found.resolved[request.credit_account].id
        pairs = sorted({(debit_id, asset_id), (credit_id, asset_id)})
        balances = lock_balances(conn, pairs)
        balances[(debit_id, asset_id)].debits_pending += request.amount_units
        balances[(credit_id, asset_id)].credits_pending += request.amount_units
        for pair in pairs:
            balances[pair].dirty = True
            check_balance(self.catalog, conn, pair, balances[pair], request.idempotency_key, found.by_id)
        hold_id = new_id()
        created_at_us = now_us()
        conn.execute(
            holds_t.insert().values(
                id=hold_id,
                ledger_id=ledger_id,
                idempotency_key=request.idempotency_key,
                kind=request.kind,
                debit_account_id=debit_id,
                credit_account_id=credit_id,
                asset_id=asset_id,
                amount_units=request.amount_units,
                status=HoldStatus.PENDING.value,
                expires_at_us=request.expires_at_us,
                created_at_us=created_at_us,
                resolved_at_us=None,
                posted_entry_id=None,
                metadata_json=request.metadata_json,
            )
        )
        store_balances(conn, balances)
        return Hold(
            id=hold_id,
            ledger=request.ledger,
            idempotency_key=request.idempotency_key,
            kind=request.kind,
            debit_account=request.debit_account,
            credit_account=request.credit_account,
            asset=request.asset,
            amount_units=request.amount_units,
            status=HoldStatus.PENDING,
            expires_at_us=request.expires_at_us,
            created_at_us=created_at_us,
            resolved_at_us=None,
            posted_entry_id=None,
            metadata=json.loads(request.metadata_json),
        )

    def get_hold(self, ledger: str, hold_id: str) -> Hold:
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            row = conn.execute(select(holds_t).where(holds_t.c.id == hold_id, holds_t.c.ledger_id == ledger_id)).first()
            if row is None:
                raise HoldNotFound(f"hold {hold_id} does not exist")
            return self._hold_from_row(conn, ledger, row)

    def _hold_from_row(self, conn: Connection, ledger: str, row: Any) -> Hold:
        return Hold(
            id=row.id,
            ledger=ledger,
            idempotency_key=row.idempotency_key,
            kind=row.kind,
            debit_account=self.catalog.account_by_id(conn, int(row.debit_account_id)).code,
            credit_account=self.catalog.account_by_id(conn, int(row.credit_account_id)).code,
            asset=self.catalog.asset_by_id(conn, int(row.asset_id)).code,
            amount_units=row.amount_units,
            status=HoldStatus(row.status),
            expires_at_us=row.expires_at_us,
            created_at_us=row.created_at_us,
            resolved_at_us=row.resolved_at_us,
            posted_entry_id=row.posted_entry_id,
            metadata=json.loads(row.metadata_json),
        )

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
        hold = self.get_hold(ledger, hold_id)
        key = idempotency_key or f"hold:{hold_id}:post"
        if hold.status is HoldStatus.POSTED and hold.posted_entry_id:
            entry = self.journal.get_entry(ledger, hold.posted_entry_id)
            if entry.idempotency_key == key and (amount_units is None or amount_units == entry.legs[0].amount_units):
                return replace(entry, replayed=True)
        amount = hold.amount_units if amount_units is None else amount_units
        if amount > hold.amount_units:
            raise HoldAmountExceeded(f"cannot post {amount} of a hold of {hold.amount_units}")
        request = EntryRequest(
            idempotency_key=key,
            kind=hold.kind,
            legs=(
                Leg(hold.debit_account, hold.asset, Side.DEBIT, amount),
                Leg(hold.credit_account, hold.asset, Side.CREDIT, amount),
            ),
            metadata={**hold.metadata, **(metadata or {}), "hold_id": hold_id},
        )
        ledger_id = self.catalog.ledger_cached(ledger).id
        item = prepare_one(ledger, request, None, now_us())
        assets = self.posting.resolve(ledger_id, [request])
        debit_id, credit_id = self._account_ids(ledger_id, hold.debit_account, hold.credit_account)
        item.hold_release = (hold_id, debit_id, credit_id, assets[hold.asset].id, hold.amount_units)

        def resolve(conn: Connection, entry_ids: list[str]) -> None:
            if entry_ids[0] != item.entry_id:
                return  # a replay: the hold was resolved by the original post
            self._resolve_hold(conn, hold_id, HoldStatus.POSTED, entry_ids[0])

        return self.posting.commit(ledger, ledger_id, [item], assets, before_seal=resolve)[0]

    def _account_ids(self, ledger_id: int, *codes: str) -> tuple[int, ...]:
        """Ids of accounts that exist (a hold names them): from the caches, else one read."""
        cached = [self.catalog.accounts.get((ledger_id, code)) for code in codes]
        if all(account is not None for account in cached):
            return tuple(account.id for account in cached if account is not None)
        with self.db.read() as conn:
            return tuple(self.catalog.account(conn, ledger_id, code).id for code in codes)

    def _resolve_hold(self, conn: Connection, hold_id: str, status: HoldStatus, entry_id: str | None) -> None:
        row = conn.execute(select(holds_t.c.status, holds_t.c.expires_at_us).where(holds_t.c.id == hold_id)).one()
        if row.status != HoldStatus.PENDING.value:
            raise HoldNotPending(f"hold {hold_id} is {row.status}")
        if status is HoldStatus.POSTED and row.expires_at_us is not None and row.expires_at_us <= now_us():
            raise HoldExpired(f"hold {hold_id} expired")
        result = conn.execute(
            update(holds_t)
            .where(holds_t.c.id == hold_id, holds_t.c.status == HoldStatus.PENDING.value)
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
        released = self._release_holds([hold_id], HoldStatus.VOIDED, strict=True)
        hold = self.get_hold(ledger, hold_id)
        return hold if released else replace(hold, replayed=True)

    def expire_holds(self, ledger: str, *, now: datetime | None = None, limit: int = DEFAULT_EXPIRE_LIMIT) -> int:
        """Release pending holds whose expiry has passed; returns how many were expired."""
        moment_us = to_us(now) if now else now_us()
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            ids = [
                row.id
                for row in conn.execute(
                    select(holds_t.c.id)
                    .where(
                        holds_t.c.ledger_id == ledger_id,
                        holds_t.c.status == HoldStatus.PENDING.value,
                        holds_t.c.expires_at_us.is_not(None),
                        holds_t.c.expires_at_us <= moment_us,
                    )
                    .order_by(holds_t.c.id)
                    .limit(limit)
                )
            ]
        if not ids:
            return 0
        return self._release_holds(ids, HoldStatus.EXPIRED, strict=False)

    def _release_holds(self, hold_ids: list[str], status: HoldStatus, *, strict: bool) -> int:
        """Move the still-pending holds among `hold_ids` to `status` and release their pending
        amounts; returns how many moved. Holds resolved meanwhile (by a concurrent writer) are
        skipped; with `strict` (one hold) a hold already in `status` counts as done (0) and one
        in any other state raises HoldNotPending."""

        def work(conn: Connection) -> int:
            rows = conn.execute(
                select(holds_t)
                .where(holds_t.c.id.in_(hold_ids), holds_t.c.status == HoldStatus.PENDING.value)
                .order_by(holds_t.c.id)
                .with_for_update()
            ).all()
            if not rows:
                if strict:
                    current = conn.execute(select(holds_t.c.status).where(holds_t.c.id == hold_ids[0])).scalar_one()
                    if current != status.value:
                        raise HoldNotPending(f"hold {hold_ids[0]} is {current}")
                return 0
            pairs = sorted(
                {(int(r.debit_account_id), int(r.asset_id)) for r in rows}
                | {(int(r.credit_account_id), int(r.asset_id)) for r in rows}
            )
            balances = lock_balances(conn, pairs)
            for row in rows:
                balances[(int(row.debit_account_id), int(row.asset_id))].debits_pending -= row.amount_units
                balances[(int(row.credit_account_id), int(row.asset_id))].credits_pending -= row.amount_units
            for bal in balances.values():
                bal.dirty = True
            conn.execute(
                update(holds_t)
                .where(holds_t.c.id.in_([r.id for r in rows]), holds_t.c.status == HoldStatus.PENDING.value)
                .values(status=status.value, resolved_at_us=now_us())
            )
            store_balances(conn, balances)
            return len(rows)

        return self.db.run_write(work)

    def list_holds(
        self,
        ledger: str,
        *,
        status: HoldStatus | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
    ) -> list[Hold]:
        with self.db.read() as conn:
            ledger_id = self.catalog.ledger_id(conn, ledger)
            query = select(holds_t).where(holds_t.c.ledger_id == ledger_id)
            if status is not None:
                query = query.where(holds_t.c.status == HoldStatus(status).value)
            rows = conn.execute(query.order_by(holds_t.c.created_at_us, holds_t.c.id).limit(page_limit(limit)))
            return [self._hold_from_row(conn, ledger, row) for row in rows]
