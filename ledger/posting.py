"""Posting journal entries: validate, digest, write in one transaction, seal.

Write path (one database transaction per call, all-or-nothing):
  1. validate (balance per asset) and digest every entry in memory (no database work);
     read the assets and the committed accounts and balance rows into the caches;
  2. main transaction (`Posting.write`): idempotency / external-ref check; open the template
     accounts and balance rows that do not exist yet (inserted in sorted order before any row
     lock is taken, so a rejected entry leaves no account behind); lock the balance rows of the
     batch in (account_id, asset_id) order, apply all legs in memory (running totals,
     overdraft and overflow checks), insert entries + postings and update each
     (account, asset) balance once; then, as the LAST step, seal: lock the ledger head
     row, give each entry its sequence number, recorded time and chain hash (an
     `entry_seals` row), move the head, commit. Only sealing + commit are serialised
     per ledger; everything before overlaps between writers on different accounts.
Every transaction takes its row locks in that same global order (balances sorted,
then the head), so concurrent writers queue instead of deadlocking; transient
failures are retried by `Database.run_write` (safe: writes are idempotent).
The first attempt is optimistic (no idempotency lookup); any ledger error or unique
violation sends the batch down the checked path, which finds replays first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledger import chain
from ledger.backends import Backend, BeforeSeal, PendingWrite
from ledger.balances import BalanceState, Pair, check_balance
from ledger.catalog import Catalog, LedgerRef
from ledger.errors import (
    AlreadyReversed,
    ExternalRefConflict,
    IdempotencyConflict,
    LedgerError,
    NotReversible,
    ValidationFailed,
)
from ledger.journal import Journal
from ledger.limits import MAX_ENTRIES_PER_BATCH
from ledger.model import Asset, Entry, EntryRequest, Leg, Side, now_us, to_us
from ledger.opening import Opened, open_in, preload, remember
from ledger.policy import EffectiveTimePolicy
from ledger.prepare import EntryBody, Prepared, digest, entry_body, prepare_one
from ledger.schema import entries_t

SPOT_CHECK_EVERY = 64
"""`post_many(bodies=…)` re-derives every 64th precomputed body (and the first) before writing."""


class RetryChecked(IntegrityError):
    """Raised inside the optimistic attempt to force the checked path (handled by run_write)."""

    def __init__(self) -> None:
        super().__init__("retry with idempotency check", None, Exception("in-batch duplicate"))


def metadata_copy(metadata: dict[str, Any], metadata_json: str) -> dict[str, Any]:
    """The stored metadata for a returned Entry: a shallow copy when flat (equal to the JSON
    round trip, much cheaper), the parsed canonical JSON otherwise (no shared nested objects)."""
    if all(type(value) in chain.FLAT_JSON_TYPES for value in metadata.values()):
        return dict(metadata)
    parsed: dict[str, Any] = json.loads(metadata_json)
    return parsed


class Posting:
    """Posts entries and reversals into a catalog's ledgers under an effective-time policy."""

    def __init__(self, catalog: Catalog, journal: Journal, backend: Backend, policy: EffectiveTimePolicy) -> None:
        self.catalog = catalog
        self.db = catalog.db
        self.journal = journal
        self.backend = backend
        self.policy = policy

    def check_effective(self, ledger: str, ref: LedgerRef, request: EntryRequest, now: int) -> None:
        """The effective-time policy on a request that names its effective time."""
        if request.effective_at is not None:
            self.policy.check(
                to_us(request.effective_at), ledger=ledger, ledger_created_us=ref.created_us, recorded_us=now
            )

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
        """Post a batch in ONE transaction: all entries or none (see LedgerStore.post_many)."""
        if not requests and not reverse:
            return []
        if len(requests) + len(reverse) > MAX_ENTRIES_PER_BATCH:
            raise ValidationFailed(f"a batch holds at most {MAX_ENTRIES_PER_BATCH} entries")
        ref = self.catalog.ledger_cached(ledger)
        reversals = [
            reversal_request(self.journal, ledger, entry_id, None, reverse_reason, None) for entry_id in reverse
        ]
        prepared = [prepare_one(ledger, request, entry_id, now_us()) for request, entry_id in reversals]
        if bodies is not None and len(bodies) != len(requests):
            raise ValidationFailed(f"{len(bodies)} precomputed bodies for {len(requests)} requests")
        prepared += self.prepare(ledger, ref, requests, bodies) if requests else []
        assets = self.resolve(ref.id, [item.request for item in prepared])
        return self.commit(ledger, ref.id, prepared, assets, before_seal=in_transaction)

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
        ref = self.catalog.ledger_cached(ledger)
        request, _ = reversal_request(self.journal, ledger, entry_id, idempotency_key, reason, effective_at)
        now = now_us()
        self.check_effective(ledger, ref, request, now)
        item = prepare_one(ledger, request, entry_id, now)
        assets = self.resolve(ref.id, [request])
        return self.commit(ledger, ref.id, [item], assets)[0]

    def prepare(
        self, ledger: str, ref: LedgerRef, requests: Sequence[EntryRequest], bodies: Sequence[EntryBody] | None = None
    ) -> list[Prepared]:
        """Validate (effective time, balance per asset) and digest each request: no database work."""
        prepared = []
        default_effective_us = now_us()
        for index, request in enumerate(requests):
            self.check_effective(ledger, ref, request, default_effective_us)
            normalized = self.normalized(request)
            body = None
            if bodies is not None:
                body = bodies[index]
                if request.effective_at is None:
                    raise ValidationFailed("a precomputed body needs the request's effective_at")
                if index % SPOT_CHECK_EVERY == 0 and entry_body(ledger, request) != body:
                    raise ValidationFailed(f"entry {request.idempotency_key}: its precomputed body does not match")
                if normalized is not request:
                    body = None  # its account codes changed (chart rules): digest the stored form
            prepared.append(prepare_one(ledger, normalized, None, default_effective_us, body))
        return prepared

    def normalized(self, request: EntryRequest) -> EntryRequest:
        """`request` with its account codes in their stored form (the chart's rules); the same
        object when nothing changes (the common case: one cached lookup per leg)."""
        codes = [self.catalog.account_code(leg.account) for leg in request.legs]
        if all(code == leg.account for code, leg in zip(codes, request.legs, strict=True)):
            return request
        return replace(
            request, legs=tuple(replace(leg, account=code) for code, leg in zip(codes, request.legs, strict=True))
        )

    def resolve(self, ledger_id: int, requests: Sequence[EntryRequest]) -> dict[str, Asset]:
        """Every asset the requests name (AssetNotFound otherwise), by code — a snapshot the write
        uses, whatever the bounded caches forget meanwhile — and, into the caches, the committed
        accounts and balance rows they touch; the write opens the others."""
        pairs = {(leg.account, leg.asset) for request in requests for leg in request.legs}
        assets: dict[str, Asset] = {}
        for _, asset_code in pairs:
            cached = self.catalog.assets.get((ledger_id, asset_code))
            if cached is not None:
                assets[asset_code] = cached
        unknown = {asset_code for _, asset_code in pairs if asset_code not in assets}
        if unknown:
            with self.db.read() as conn:
                for asset_code in unknown:
                    assets[asset_code] = self.catalog.asset(conn, ledger_id, asset_code)
        preload(self.catalog, ledger_id, {account for account, _ in pairs}, pairs, assets)
        return assets

    def commit(
        self,
        ledger: str,
        ledger_id: int,
        prepared: list[Prepared],
        assets: Mapping[str, Asset],
        *,
        before_seal: BeforeSeal | None = None,
    ) -> list[Entry]:
        """Run the write transaction (optimistic first, then checked) and cache what it opened."""
        state = {"optimistic": True}
        opened: list[Opened] = []

        def work(conn: Connection) -> list[Entry]:
            optimistic = state["optimistic"]
            state["optimistic"] = False
            opened.clear()
            try:
                return self.write(
                    conn,
                    ledger,
                    ledger_id,
                    prepared,
                    check_existing=not optimistic,
                    before_seal=before_seal,
                    opened=opened,
                    assets=assets,
                )
            except LedgerError:
                if optimistic:  # maybe a replay: decide with the idempotency check first
                    raise RetryChecked() from None
                raise

        entries = self.db.run_write(work, retry_on_integrity=True)
        remember(self.catalog, ledger_id, opened[0] if opened else None)
        return entries

    def write(
        self,
        conn: Connection,
        ledger: str,
        ledger_id: int,
        prepared: list[Prepared],
        *,
        check_existing: bool,
        assets: Mapping[str, Asset],
        before_seal: BeforeSeal | None = None,
        opened: list[Opened] | None = None,
    ) -> list[Entry]:
        """The main write transaction body (see the module docstring for the lock order).

        `before_seal(conn, entry_ids)` runs inside the transaction after the entries are
        written and before they are sealed (on PostgreSQL the seal commits). The accounts and
        balance rows the entries open are appended to `opened` (cached after the commit).
        """
        replays = self._replays(conn, ledger, ledger_id, prepared, check_existing)
        fresh = [item for index, item in enumerate(prepared) if index not in replays]
        ids_in_order = [replays[index].id if index in replays else item.entry_id for index, item in enumerate(prepared)]
        if not fresh:
            if before_seal is not None:
                before_seal(conn, ids_in_order)
            return [replays[index] for index in range(len(prepared))]
        # Open what the entries need and does not exist yet (template accounts, balance rows),
        # then resolve every leg to ids.
        found = open_in(
            self.catalog,
            conn,
            ledger_id,
            {leg.account for item in fresh for leg in item.request.legs},
            {(leg.account, leg.asset) for item in fresh for leg in item.request.legs},
            assets,
        )
        if opened is not None:
            opened.append(found)
        resolved = found.resolved
        for item in fresh:
            item.legs = [
                (resolved[leg.account].id, assets[leg.asset].id, leg.side, leg.amount_units)
                for leg in item.request.legs
            ]
        balances = self.backend.lock_for_write(conn, _pairs_to_lock(fresh))
        running = self._apply(conn, fresh, balances, found.by_id if found.accounts else None)
        entry_rows, posting_rows = _rows(ledger_id, fresh, running)
        sealed = self.backend.persist_and_seal(
            conn, PendingWrite(ledger_id, entry_rows, posting_rows, balances, before_seal, ids_in_order)
        )
        written = iter(
            Entry(
                id=item.entry_id,
                ledger=ledger,
                sequence=sealed.first_sequence + offset,
                idempotency_key=item.request.idempotency_key,
                kind=item.request.kind,
                effective_at_us=item.effective_at_us,
                recorded_at_us=sealed.recorded_at_us,
                external_ref=item.request.external_ref,
                reverses_entry_id=item.reverses_entry_id,
                metadata=metadata_copy(item.request.metadata, item.metadata_json),
                legs=item.request.legs,
                body_digest=item.digest,
                hash=sealed.hashes[offset],
            )
            for offset, item in enumerate(fresh)
        )
        return [replays[index] if index in replays else next(written) for index in range(len(prepared))]

    def _replays(
        self, conn: Connection, ledger: str, ledger_id: int, prepared: list[Prepared], check_existing: bool
    ) -> dict[int, Entry]:
        """The checked path: entries already recorded (by index in the batch). The optimistic path
        only refuses in-batch duplicate keys (RetryChecked: the checked path decides)."""
        if check_existing:
            return find_replays(self.journal, conn, ledger, ledger_id, prepared)
        seen: set[str] = set()
        for item in prepared:
            if item.request.idempotency_key in seen:
                raise RetryChecked()  # in-batch duplicate: take the checked path
            seen.add(item.request.idempotency_key)
        return {}

    def _apply(
        self,
        conn: Connection,
        fresh: list[Prepared],
        balances: dict[Pair, BalanceState],
        uncommitted: dict[int, Any] | None,
    ) -> list[list[tuple[int, int]]]:
        """Apply every leg (and hold release) to the locked balances in order, checking each
        touched row after each entry; the running (debits, credits) after every leg."""
        running: list[list[tuple[int, int]]] = []
        for item in fresh:
            if item.hold_release is not None:
                _, debit_id, credit_id, asset_id, held = item.hold_release
                balances[(debit_id, asset_id)].debits_pending -= held
                balances[(credit_id, asset_id)].credits_pending -= held
                balances[(debit_id, asset_id)].dirty = balances[(credit_id, asset_id)].dirty = True
            after: list[tuple[int, int]] = []
            touched: set[Pair] = set()
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
                check_balance(self.catalog, conn, pair, balances[pair], item.request.idempotency_key, uncommitted)
            running.append(after)
        return running


def _pairs_to_lock(fresh: list[Prepared]) -> list[Pair]:
    """Every balance row the entries touch (hold releases included), in lock order."""
    return sorted(
        {(a, s) for item in fresh for a, s, _, _ in item.legs}
        | {
            pair
            for item in fresh
            if item.hold_release
            for pair in ((item.hold_release[1], item.hold_release[3]), (item.hold_release[2], item.hold_release[3]))
        }
    )


def _rows(
    ledger_id: int, fresh: list[Prepared], running: list[list[tuple[int, int]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The journal_entries and postings rows of the new entries."""
    entry_rows: list[dict[str, Any]] = []
    posting_rows: list[dict[str, Any]] = []
    for item, after in zip(fresh, running, strict=True):
        request = item.request
        entry_rows.append(
            dict(
                id=item.entry_id,
                ledger_id=ledger_id,
                idempotency_key=request.idempotency_key,
                kind=request.kind,
                effective_at_us=item.effective_at_us,
                external_ref=request.external_ref,
                reverses_entry_id=item.reverses_entry_id,
                metadata_json=item.metadata_json,
                body_digest=item.digest,
            )
        )
        for leg_index, ((account_id, asset_id, side, amount), (debits_after, credits_after)) in enumerate(
            zip(item.legs, after, strict=True)
        ):
            posting_rows.append(
                dict(
                    entry_id=item.entry_id,
                    leg_index=leg_index,
                    ledger_id=ledger_id,
                    account_id=account_id,
                    asset_id=asset_id,
                    side=side.value,
                    amount_units=amount,
                    debits_after_units=debits_after,
                    credits_after_units=credits_after,
                )
            )
    return entry_rows, posting_rows


# -------------------------------------------------------------- replays and reversals


def find_replays(
    journal: Journal, conn: Connection, ledger: str, ledger_id: int, prepared: list[Prepared]
) -> dict[int, Entry]:
    """Entries already recorded under the batch's idempotency keys, by index in the batch; an
    external reference or a reversal already recorded by another entry is a conflict."""
    keys = [item.request.idempotency_key for item in prepared]
    refs = [item.request.external_ref for item in prepared if item.request.external_ref is not None]
    condition: ColumnElement[bool] = entries_t.c.idempotency_key.in_(keys)
    if refs:
        condition = or_(condition, entries_t.c.external_ref.in_(refs))
    existing = {
        row.idempotency_key: row
        for row in conn.execute(
            select(
                entries_t.c.id,
                entries_t.c.idempotency_key,
                entries_t.c.external_ref,
                entries_t.c.body_digest,
                entries_t.c.effective_at_us,
            ).where(entries_t.c.ledger_id == ledger_id, condition)
        )
    }
    by_ref = {row.external_ref: row for row in existing.values() if row.external_ref is not None}
    _check_not_reversed(conn, ledger_id, prepared, existing)
    replays: dict[int, Entry] = {}
    first_in_batch: dict[str, int] = {}
    for index, item in enumerate(prepared):
        key = item.request.idempotency_key
        row = existing.get(key)
        if row is not None:
            check_same(ledger, item, row.body_digest, int(row.effective_at_us))
            replays[index] = replace(journal.load_entry(conn, ledger, row.id), replayed=True)
            continue
        ref = item.request.external_ref
        if ref is not None and ref in by_ref:
            raise ExternalRefConflict(
                f"external reference {ref} is already recorded by entry {by_ref[ref].id}",
                entry_id=by_ref[ref].id,
            )
        if key in first_in_batch:
            if prepared[first_in_batch[key]].digest != item.digest:
                raise IdempotencyConflict(f"idempotency key {key} appears twice in the batch with different content")
            raise ValidationFailed(f"idempotency key {key} appears twice in the batch")
        first_in_batch[key] = index
    return replays


def _check_not_reversed(
    conn: Connection, ledger_id: int, prepared: list[Prepared], existing: Mapping[str, Any]
) -> None:
    """AlreadyReversed if an entry the batch reverses was reversed by an entry not of this batch."""
    reversed_ids = [item.reverses_entry_id for item in prepared if item.reverses_entry_id is not None]
    if not reversed_ids:
        return
    for row in conn.execute(
        select(entries_t.c.id, entries_t.c.idempotency_key, entries_t.c.reverses_entry_id).where(
            entries_t.c.ledger_id == ledger_id, entries_t.c.reverses_entry_id.in_(reversed_ids)
        )
    ):
        if row.idempotency_key not in existing:
            raise AlreadyReversed(f"entry {row.reverses_entry_id} was already reversed by {row.id}", reversal_id=row.id)


def check_same(ledger: str, item: Prepared, stored_digest: str, stored_effective_us: int) -> None:
    """IdempotencyConflict unless `item` is the entry stored under its key (an item without an
    effective time takes the stored one: a replay later in time is still the same entry)."""
    item_digest = item.digest
    if not item.effective_given:
        item_digest = digest(ledger, item.request, stored_effective_us, item.metadata_json, item.reverses_entry_id)
    if item_digest != stored_digest:
        raise IdempotencyConflict(f"idempotency key {item.request.idempotency_key} was used for a different entry")


def reversal_request(
    journal: Journal,
    ledger: str,
    entry_id: str,
    idempotency_key: str | None,
    reason: str | None,
    effective_at: datetime | None,
) -> tuple[EntryRequest, str]:
    """The mirror of `entry_id` (sides swapped) as a request; checks it may be reversed."""
    key = idempotency_key or f"reversal:{entry_id}"
    with journal.db.read() as conn:
        ledger_id = journal.catalog.ledger_id(conn, ledger)
        original = journal.load_entry(conn, ledger, entry_id)
        existing = conn.execute(
            select(entries_t.c.id, entries_t.c.idempotency_key).where(
                entries_t.c.ledger_id == ledger_id, entries_t.c.reverses_entry_id == entry_id
            )
        ).first()
    if original.reverses_entry_id is not None:
        raise NotReversible(f"entry {entry_id} is itself a reversal; post a new entry instead")
    metadata: dict[str, Any] = {"reason": reason} if reason else {}
    if existing is not None and (
        existing.idempotency_key != key or journal.get_entry(ledger, existing.id).metadata != metadata
    ):
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
