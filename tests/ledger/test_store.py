"""Every ledger rule, on SQLite and on PostgreSQL (the `store` fixture is parametrised)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ledger import AccountingType, EntryRequest, Hold, HoldStatus, LedgerStore, Leg, Side, entry_body, transfer_legs
from ledger.chart import DEFAULT_ACCOUNT_CODE_RULES
from ledger.errors import (
    AccountNotFound,
    AlreadyExists,
    AlreadyReversed,
    AssetNotFound,
    BalanceOverflow,
    ExternalRefConflict,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InvalidAmount,
    LedgerNotFound,
    NotReversible,
    Overdraft,
    UnbalancedEntry,
    ValidationFailed,
)
from ledger.limits import MAX_AMOUNT_UNITS
from ledger.model import check_code, from_us

TOKEN = "PTK:31337:0xabc"


def deposit(store: LedgerStore, key: str, holder: str, amount: int, asset: str = "USD", **kw: object) -> object:
    return store.post("main", EntryRequest(key, "deposit", transfer_legs("external:bank", holder, asset, amount), **kw))


def cold(store: LedgerStore) -> LedgerStore:
    """Another process's store on the same database and chart: empty caches."""
    return LedgerStore(store.db, account_code_rules=store.account_code_rules)


def row_count(store: LedgerStore, table: str) -> int:
    with store.db.read() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_post_returns_a_sequenced_hashed_entry_and_moves_balances(store: LedgerStore) -> None:
    entry = deposit(store, "d1", "holder:alice", 1250, metadata={"note": "first"})
    assert entry.sequence == 1 and len(entry.hash) == 64 and not entry.replayed
    alice = store.get_balance("main", "holder:alice", "USD")
    bank = store.get_balance("main", "external:bank", "USD")
    assert (alice.posted_units, alice.available_units, alice.version) == (1250, 1250, 1)
    assert bank.posted_units == 1250  # asset account: debit-normal
    assert store.get_entry("main", entry.id).legs == entry.legs
    assert store.get_account("main", "holder:alice").accounting_type is AccountingType.LIABILITY


def test_multi_leg_entry_balances_per_asset(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 10_000)
    legs = (
        Leg("holder:alice", "USD", Side.DEBIT, 10_000),
        Leg("holder:bob", "USD", Side.CREDIT, 9_700),
        Leg("platform:fees", "USD", Side.CREDIT, 300),
        Leg("chain:31337:mint", TOKEN, Side.DEBIT, 5 * 10**18),
        Leg("holder:alice", TOKEN, Side.CREDIT, 5 * 10**18),
    )
    store.post("main", EntryRequest("inv1", "investment", legs))
    assert store.get_balance("main", "platform:fees", "USD").posted_units == 300
    assert store.get_balance("main", "holder:alice", TOKEN).posted_units == 5 * 10**18


def test_unbalanced_zero_negative_and_unknown_inputs_write_nothing(store: LedgerStore) -> None:
    with pytest.raises(UnbalancedEntry):
        store.post(
            "main",
            EntryRequest(
                "u1", "transfer", (Leg("external:bank", "USD", Side.DEBIT, 10), Leg("holder:a", "USD", Side.CREDIT, 9))
            ),
        )
    with pytest.raises(UnbalancedEntry):  # balanced in total but not per asset
        store.post(
            "main",
            EntryRequest(
                "u2", "transfer", (Leg("external:bank", "USD", Side.DEBIT, 10), Leg("holder:a", TOKEN, Side.CREDIT, 10))
            ),
        )
    for amount in (0, -5):
        with pytest.raises(InvalidAmount):
            deposit(store, "bad", "holder:a", amount)
    with pytest.raises(AssetNotFound):
        deposit(store, "u3", "holder:a", 5, asset="EUR")
    with pytest.raises(AccountNotFound):
        store.post("main", EntryRequest("u4", "transfer", transfer_legs("external:bank", "nobody:x", "USD", 5)))
    with pytest.raises(ValidationFailed):
        store.post("main", EntryRequest("u5", "transfer", (Leg("external:bank", "USD", Side.DEBIT, 5),)))
    with pytest.raises(LedgerNotFound):
        store.post("other", EntryRequest("u6", "transfer", transfer_legs("external:bank", "holder:a", "USD", 5)))
    assert row_count(store, "journal_entries") == 0 and row_count(store, "postings") == 0
    assert store.verify("main").ok


def test_overdraft_is_rejected_using_available_balance(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    with pytest.raises(Overdraft) as info:
        store.post("main", EntryRequest("t1", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 101)))
    assert info.value.extra["account"] == "holder:alice"
    store.create_hold(
        "main",
        idempotency_key="h1",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=60,
    )
    with pytest.raises(Overdraft):  # 100 posted - 60 pending = 40 available
        store.post("main", EntryRequest("t2", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 41)))
    store.post("main", EntryRequest("t3", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 40)))
    assert store.get_balance("main", "holder:alice", "USD").available_units == 0


def test_amounts_are_exact_up_to_2_256_minus_1(store: LedgerStore) -> None:
    deposit(store, "max", "holder:whale", MAX_AMOUNT_UNITS, asset=TOKEN)
    balance = store.get_balance("main", "holder:whale", TOKEN)
    assert balance.posted_units == MAX_AMOUNT_UNITS > 2**63
    store.post("main", EntryRequest("t", "transfer", transfer_legs("holder:whale", "holder:b", TOKEN, 2**200 + 1)))
    assert store.get_balance("main", "holder:b", TOKEN).posted_units == 2**200 + 1
    assert store.get_balance("main", "holder:whale", TOKEN).posted_units == MAX_AMOUNT_UNITS - 2**200 - 1
    with pytest.raises(BalanceOverflow):  # the bank's cumulative debits would pass 2^256-1
        deposit(store, "over", "holder:c", 1, asset=TOKEN)
    assert store.trial_balance("main").totals[TOKEN] == (MAX_AMOUNT_UNITS + 2**200 + 1,) * 2
    assert store.verify("main").ok


def test_idempotent_replay_returns_the_original_and_conflict_is_typed(store: LedgerStore) -> None:
    first = deposit(store, "same", "holder:alice", 500, external_ref="bank:tx:1")
    again = deposit(store, "same", "holder:alice", 500, external_ref="bank:tx:1")
    assert again.replayed and again.id == first.id and again.sequence == first.sequence
    with pytest.raises(IdempotencyConflict):
        deposit(store, "same", "holder:alice", 501, external_ref="bank:tx:1")
    with pytest.raises(ExternalRefConflict):
        deposit(store, "other-key", "holder:alice", 500, external_ref="bank:tx:1")
    assert store.get_balance("main", "holder:alice", "USD").posted_units == 500
    assert store.head("main")[0] == 1


def test_replay_with_explicit_effective_time_must_match(store: LedgerStore) -> None:
    moment = datetime.now(UTC).replace(microsecond=678901) - timedelta(days=1)  # inside the accepted range
    first = deposit(store, "e1", "holder:a", 5, effective_at=moment)
    assert first.effective_at == moment
    assert deposit(store, "e1", "holder:a", 5).replayed  # omitted time: the stored one stands
    with pytest.raises(IdempotencyConflict):
        deposit(store, "e1", "holder:a", 5, effective_at=moment + timedelta(seconds=1))


def test_batch_is_all_or_nothing(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    good = [EntryRequest(f"b{i}", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 10)) for i in range(5)]
    bad = EntryRequest("b-bad", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 1_000))
    with pytest.raises(Overdraft):
        store.post_many("main", [*good, bad])
    with pytest.raises(AccountNotFound):  # nothing of the rejected batch remains, not even bob's account
        store.get_balance("main", "holder:bob", "USD")
    assert store.head("main")[0] == 1
    entries = store.post_many("main", good)
    assert [e.sequence for e in entries] == [2, 3, 4, 5, 6]
    replayed = store.post_many(
        "main", [*good, EntryRequest("b5", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 1))]
    )
    assert [e.replayed for e in replayed] == [True] * 5 + [False]
    assert store.get_balance("main", "holder:bob", "USD").posted_units == 51
    assert store.get_balance("main", "holder:bob", "USD").version == 2  # once per batch, not per entry


def test_large_batches_replay_and_keep_exact_amounts(store: LedgerStore) -> None:
    """Batches from COPY_MIN_ENTRIES on take PostgreSQL's COPY path: same rows, same replays."""
    from ledger.backends.postgres import COPY_MIN_ENTRIES

    big = 2**256 - 10**6  # leaves room for the small ones on the same accounts
    count = COPY_MIN_ENTRIES + 36
    batch = [
        EntryRequest(
            f"L{i}", "deposit", transfer_legs("external:bank", f"holder:{i % 7}", "USD", big if i == 0 else i + 1)
        )
        for i in range(count)
    ]
    entries = store.post_many("main", batch)
    assert [e.sequence for e in entries] == list(range(1, count + 1)) and not any(e.replayed for e in entries)
    extra = EntryRequest("L-extra", "deposit", transfer_legs("external:bank", "holder:1", "USD", 5))
    again = store.post_many("main", [*batch, extra])  # a unique violation sends it down the checked path
    assert [e.replayed for e in again] == [True] * count + [False]
    assert store.get_balance("main", "holder:0", "USD").posted_units == big + sum(i + 1 for i in range(7, count, 7))
    assert [leg.amount_units for leg in store.get_entry("main", entries[0].id).legs] == [big, big]
    assert store.trial_balance("main").balanced and store.verify("main").ok


def test_duplicate_keys_inside_one_batch_are_rejected(store: LedgerStore) -> None:
    one = EntryRequest("dup", "deposit", transfer_legs("external:bank", "holder:a", "USD", 1))
    two = EntryRequest("dup", "deposit", transfer_legs("external:bank", "holder:a", "USD", 2))
    with pytest.raises(IdempotencyConflict):
        store.post_many("main", [one, two])
    with pytest.raises(ValidationFailed):
        store.post_many("main", [one, one])
    assert store.head("main")[0] == 0


def test_hold_post_in_part_releases_the_rest(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 1_000)
    hold = store.create_hold(
        "main",
        idempotency_key="h1",
        debit_account="holder:alice",
        credit_account="holder:shop",
        asset="USD",
        amount_units=400,
    )
    assert hold.status is HoldStatus.PENDING
    assert store.create_hold(
        "main",
        idempotency_key="h1",
        debit_account="holder:alice",
        credit_account="holder:shop",
        asset="USD",
        amount_units=400,
    ).replayed
    with pytest.raises(IdempotencyConflict):
        store.create_hold(
            "main",
            idempotency_key="h1",
            debit_account="holder:alice",
            credit_account="holder:shop",
            asset="USD",
            amount_units=401,
        )
    alice = store.get_balance("main", "holder:alice", "USD")
    assert (alice.posted_units, alice.debits_pending_units, alice.available_units) == (1_000, 400, 600)
    with pytest.raises(HoldAmountExceeded):
        store.post_hold("main", hold.id, amount_units=401)
    entry = store.post_hold("main", hold.id, amount_units=250)
    assert entry.legs[0].amount_units == 250
    assert store.post_hold("main", hold.id, amount_units=250).replayed
    alice = store.get_balance("main", "holder:alice", "USD")
    assert (alice.posted_units, alice.debits_pending_units, alice.available_units) == (750, 0, 750)
    assert store.get_balance("main", "holder:shop", "USD").credits_pending_units == 0
    assert store.get_hold("main", hold.id).status is HoldStatus.POSTED
    with pytest.raises(HoldNotPending):
        store.void_hold("main", hold.id)


def test_void_and_expiry_release_pending_amounts(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    now = datetime.now(UTC)
    voided = store.create_hold(
        "main",
        idempotency_key="h-void",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=30,
    )
    expiring = store.create_hold(
        "main",
        idempotency_key="h-exp",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=50,
        expires_at=now + timedelta(hours=1),
    )
    assert store.void_hold("main", voided.id).status is HoldStatus.VOIDED
    assert store.void_hold("main", voided.id).replayed
    assert store.expire_holds("main", now=now) == 0
    assert store.expire_holds("main", now=now + timedelta(hours=2)) == 1
    assert store.get_hold("main", expiring.id).status is HoldStatus.EXPIRED
    assert store.get_balance("main", "holder:alice", "USD").available_units == 100
    with pytest.raises(HoldNotPending):
        store.post_hold("main", expiring.id)


def test_posting_an_expired_but_unswept_hold_fails(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    expires_at = datetime.now(UTC) + timedelta(milliseconds=100)
    hold = store.create_hold(
        "main",
        idempotency_key="h",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=10,
        expires_at=expires_at,
    )
    while datetime.now(UTC) <= expires_at:  # the deadline passes; no sweep has run
        time.sleep(0.01)
    with pytest.raises(HoldExpired):
        store.post_hold("main", hold.id)
    assert store.get_balance("main", "holder:bob", "USD").posted_units == 0
    assert store.head("main")[0] == 1


def test_reversal_mirrors_the_entry_once(store: LedgerStore) -> None:
    original = deposit(store, "d1", "holder:alice", 700)
    reversal = store.reverse("main", original.id, reason="bank recalled")
    assert reversal.kind == "reversal" and reversal.reverses_entry_id == original.id
    assert [leg.side for leg in reversal.legs] == [Side.CREDIT, Side.DEBIT]
    assert store.get_balance("main", "holder:alice", "USD").posted_units == 0
    assert store.reverse("main", original.id, reason="bank recalled").replayed
    with pytest.raises(AlreadyReversed):
        store.reverse("main", original.id, idempotency_key="second-try")
    with pytest.raises(NotReversible):  # a reversal is not reversed (409 not-reversible since 32fefdb)
        store.reverse("main", reversal.id)
    assert store.verify("main").ok


def test_journal_rows_reject_update_and_delete_in_the_database(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 5)
    for statement in (
        "UPDATE journal_entries SET kind = 'x'",
        "DELETE FROM journal_entries",
        "UPDATE postings SET amount_units = amount_units",
        "DELETE FROM postings",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.db.write() as conn:
                conn.execute(text(statement))
    if store.db.dialect == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with store.db.write() as conn:
                conn.execute(text("TRUNCATE postings"))
    assert row_count(store, "postings") == 2


def test_balance_history_by_sequence_and_time(store: LedgerStore) -> None:
    first = deposit(store, "d1", "holder:alice", 100)
    second = deposit(store, "d2", "holder:alice", 50)
    store.post("main", EntryRequest("t", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 30)))
    assert store.get_balance("main", "holder:alice", "USD", as_of_sequence=0).posted_units == 0
    assert store.get_balance("main", "holder:alice", "USD", as_of_sequence=1).posted_units == 100
    assert store.get_balance("main", "holder:alice", "USD", as_of_sequence=2).posted_units == 150
    assert store.get_balance("main", "holder:alice", "USD").posted_units == 120
    assert store.get_balance("main", "holder:alice", "USD", as_of=second.recorded_at).posted_units == 150
    before = first.recorded_at - timedelta(microseconds=1)
    assert store.get_balance("main", "holder:alice", "USD", as_of=before).posted_units == 0


def test_statement_pages_with_running_balance(store: LedgerStore) -> None:
    for i in range(7):
        deposit(store, f"d{i}", "holder:alice", 10 * (i + 1))
    store.post("main", EntryRequest("t", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 5)))
    lines, cursor, pages = [], None, 0
    while True:
        page = store.statement("main", "holder:alice", "USD", cursor=cursor, limit=3)
        if pages == 1:
            assert page.opening_balance_units == 60
        lines.extend(page.lines)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert [line.balance_after_units for line in lines] == [10, 30, 60, 100, 150, 210, 280, 275]
    assert lines[-1].side is Side.DEBIT and lines[-1].amount_units == 5
    start_us = lines[2].recorded_at_us
    end_us = lines[5].recorded_at_us
    window = store.statement("main", "holder:alice", "USD", start=from_us(start_us), end=from_us(end_us))
    assert all(start_us <= line.recorded_at_us < end_us for line in window.lines)
    assert [line.sequence for line in window.lines] == [3, 4, 5]
    with pytest.raises(ValidationFailed):
        store.statement("main", "holder:alice", "USD", cursor="!!not-a-cursor")


def test_trial_balance_now_and_as_of(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    store.post("main", EntryRequest("fee", "fee", transfer_legs("holder:alice", "platform:fees", "USD", 7)))
    deposit(store, "d2", "holder:bob", 20, asset=TOKEN)
    now = store.trial_balance("main")
    assert now.balanced and now.as_of_sequence == 3
    assert now.totals == {"USD": (107, 107), TOKEN: (20, 20)}
    by_type = {(row.asset, row.accounting_type): row for row in now.rows}
    assert by_type[("USD", AccountingType.INCOME)].credits_units == 7
    assert by_type[("USD", AccountingType.LIABILITY)].net_debit_units == -93
    past = store.trial_balance("main", as_of_sequence=1)
    assert past.totals == {"USD": (100, 100)} and past.balanced


def test_accounts_assets_and_templates_are_idempotent_but_not_silently_changed(store: LedgerStore) -> None:
    assert store.create_asset("main", "USD", 2, "fiat").code == "USD"
    with pytest.raises(AlreadyExists):
        store.create_asset("main", "USD", 6, "fiat")
    store.create_account("main", "portfolio:p1:treasury", "liability", no_overdraft=True)
    with pytest.raises(AlreadyExists):
        store.create_account("main", "portfolio:p1:treasury", "asset")
    with pytest.raises(ValidationFailed):
        store.create_account("main", "bad code with spaces", "asset")
    codes = [account.code for account in store.list_accounts("main", prefix="portfolio:")]
    assert codes == ["portfolio:p1:treasury"]


def test_verify_detects_a_tampered_amount(store: LedgerStore) -> None:
    for i in range(5):
        deposit(store, f"d{i}", "holder:alice", 100 + i)
    target = store.get_entry_by_key("main", "d2")
    report = store.verify("main")
    assert report.ok and report.entries_checked == 5
    tamper_posting_amount(store, target.id, 999_999)
    report = store.verify("main")
    assert not report.ok and report.first_bad_entry_id == target.id and report.first_bad_sequence == 3


def tamper_posting_amount(store: LedgerStore, entry_id: str, amount: int) -> None:
    """Change a stored amount the way a superuser could: with the append-only triggers bypassed."""
    with store.db.write() as conn:
        if store.db.dialect == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(
                text("UPDATE postings SET amount_units = :a WHERE entry_id = :e AND leg_index = 1"),
                {"a": amount, "e": entry_id},
            )
        else:
            conn.execute(text("DROP TRIGGER postings_no_update"))
            conn.execute(
                text("UPDATE postings SET amount_units = :a WHERE entry_id = :e AND leg_index = 1"),
                {"a": str(amount), "e": entry_id},
            )
            conn.execute(
                text(
                    "CREATE TRIGGER postings_no_update BEFORE UPDATE ON postings "
                    "BEGIN SELECT RAISE(ABORT, 'kogi: journal is append-only (UPDATE on postings rejected)'); END"
                )
            )


def test_bad_read_inputs_are_validation_errors_not_database_errors(store: LedgerStore) -> None:
    import base64

    forged = base64.urlsafe_b64encode(f"{10**30}:1".encode()).decode()
    with pytest.raises(ValidationFailed):
        store.statement("main", "external:bank", "USD", cursor=forged)
    with pytest.raises(ValidationFailed):
        store.get_balance("main", "external:bank", "USD", as_of_sequence=2**64)
    with pytest.raises(ValidationFailed):
        store.get_account("main", "bad\x00code")
    with pytest.raises(ValidationFailed):
        store.create_asset("main", "BIG", 2, "fiat", chain_id=2**70)


def test_hold_input_is_checked_before_any_account_is_opened(store: LedgerStore) -> None:
    past = datetime.now(UTC) - timedelta(seconds=5)
    with pytest.raises(ValidationFailed):
        store.create_hold(
            "main",
            idempotency_key="h",
            debit_account="holder:new1",
            credit_account="holder:new2",
            asset="USD",
            amount_units=1,
            expires_at=past,
        )
    with pytest.raises(ValidationFailed):
        store.create_hold(
            "main",
            idempotency_key="h",
            debit_account="holder:new1",
            credit_account="holder:new1",
            asset="USD",
            amount_units=1,
        )
    assert store.list_accounts("main", prefix="holder:new") == []


def test_a_fresh_store_can_reverse_and_post_holds_it_has_never_seen(store: LedgerStore) -> None:
    """Another process's store (cold caches) must reverse entries and post holds by id alone."""
    entry = deposit(store, "d1", "holder:alice", 100)
    hold = store.create_hold(
        "main",
        idempotency_key="h1",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=40,
    )
    posted = cold(store).post_hold("main", hold.id)
    assert posted.legs[0].amount_units == 40
    reversal = cold(store).reverse("main", posted.id)
    assert reversal.reverses_entry_id == posted.id
    assert store.get_balance("main", "holder:alice", "USD").posted_units == 100
    with pytest.raises(Overdraft):  # a fresh store enforces the same rules
        cold(store).post("main", EntryRequest("x", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 101)))
    assert entry.sequence == 1
    assert store.verify("main").ok


def test_post_many_reverses_and_posts_atomically_with_the_callers_own_writes(store: LedgerStore) -> None:
    """The indexer's reorg: orphaned entries reversed, canonical ones posted, its cursor moved —
    one transaction. A failing hook (a lost lease) leaves nothing behind."""
    orphaned = [deposit(store, f"old{i}", "holder:alice", 10 + i) for i in range(3)]
    canonical = [EntryRequest("new0", "deposit", transfer_legs("external:bank", "holder:bob", "USD", 7))]
    seen: list[list[str]] = []

    def lost_lease(conn: object, entry_ids: list[str]) -> None:
        seen.append(entry_ids)
        raise RuntimeError("lease lost")

    head_before = store.head("main")
    with pytest.raises(RuntimeError, match="lease lost"):
        store.post_many("main", canonical, reverse=[e.id for e in reversed(orphaned)], in_transaction=lost_lease)
    assert store.head("main") == head_before
    assert store.get_balance("main", "holder:alice", "USD").posted_units == 33

    marks: list[list[str]] = []
    results = store.post_many(
        "main",
        canonical,
        reverse=[e.id for e in reversed(orphaned)],
        reverse_reason="reorg",
        in_transaction=lambda conn, ids: marks.append(ids),
    )
    assert [r.reverses_entry_id for r in results] == [e.id for e in reversed(orphaned)] + [None]
    assert marks == [[r.id for r in results]] and results[0].metadata == {"reason": "reorg"}
    assert store.get_balance("main", "holder:alice", "USD").posted_units == 0
    assert store.get_balance("main", "holder:bob", "USD").posted_units == 7
    again = store.post_many("main", canonical, reverse=[e.id for e in reversed(orphaned)], reverse_reason="reorg")
    assert all(entry.replayed for entry in again)
    assert store.verify("main").ok


def test_codes_have_no_slash_so_each_is_one_url_path_segment(store: LedgerStore) -> None:
    """Issue 8 (6): `…/accounts/{code}/balances/{asset}` is only unambiguous without '/' in codes."""
    for call in (
        lambda: store.create_account("main", "portfolio:p/1:treasury", "liability"),
        lambda: store.create_asset("main", "USD/EUR", 2, "fiat"),
        lambda: deposit(store, "slash", "holder:a/b", 5),
        lambda: store.get_balance("main", "external:bank", "US/D"),
    ):
        with pytest.raises(ValidationFailed, match="letters, digits and : . _ @ -"):
            call()
    assert store.list_accounts("main", prefix="portfolio:") == [] and store.head("main")[0] == 0
    # The codes the platform builds pass (see ledger/chart.py).
    for code in (
        "PTK:31337:0xabc",
        "RGT:1:0xab:0x1",
        "ERC20:1:0xab",
        "ETH:1",
        "round:1:0xab:escrow",
        "portfolio:1:7:treasury",
        "splitter:1:0xab:pool",
        "external:1:world",
        "chain:1:mint",
    ):
        check_code(code, "code")


def _race(count: int, call: Callable[[int], object]) -> list[object]:
    """Run `call(i)` for i < count on as many threads, released together; results or exceptions."""
    barrier = threading.Barrier(count)

    def run(index: int) -> object:
        barrier.wait()
        try:
            return call(index)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each caller got
            return exc

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_concurrent_voids_of_one_hold_all_succeed_and_release_once(store: LedgerStore) -> None:
    """Issue 8 (4): a repeated void is an idempotent success, also when the voids race."""
    deposit(store, "d1", "holder:alice", 100)
    hold = store.create_hold(
        "main",
        idempotency_key="h",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=60,
    )
    results = _race(16, lambda _: store.void_hold("main", hold.id))
    assert all(isinstance(result, Hold) and result.status is HoldStatus.VOIDED for result in results), results
    assert sum(not result.replayed for result in results) == 1  # type: ignore[union-attr]
    alice = store.get_balance("main", "holder:alice", "USD")
    bob = store.get_balance("main", "holder:bob", "USD")
    assert (alice.posted_units, alice.debits_pending_units, alice.available_units) == (100, 0, 100)
    assert (bob.posted_units, bob.credits_pending_units) == (0, 0)
    assert alice.version == 3  # deposit, hold, one release
    assert store.verify("main").ok


def test_a_void_racing_a_post_of_the_same_hold_loses_with_409_or_wins_whole(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    hold = store.create_hold(
        "main",
        idempotency_key="h",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=60,
    )
    results = _race(8, lambda i: store.void_hold("main", hold.id) if i % 2 else store.post_hold("main", hold.id))
    voids, posts = results[1::2], results[0::2]
    final = store.get_hold("main", hold.id)
    if final.status is HoldStatus.VOIDED:
        assert all(isinstance(result, Hold) for result in voids), voids
        assert all(isinstance(result, HoldNotPending) for result in posts), posts
        assert store.get_balance("main", "holder:bob", "USD").posted_units == 0
    else:
        assert final.status is HoldStatus.POSTED
        assert all(isinstance(result, HoldNotPending) and not isinstance(result, HoldExpired) for result in voids), (
            voids
        )
        assert {result.id for result in posts} == {final.posted_entry_id}  # type: ignore[union-attr]
        assert store.get_balance("main", "holder:bob", "USD").posted_units == 60
    alice = store.get_balance("main", "holder:alice", "USD")
    assert (alice.debits_pending_units, store.get_balance("main", "holder:bob", "USD").credits_pending_units) == (0, 0)
    assert store.verify("main").ok


def test_voiding_a_posted_or_expired_hold_is_still_409(store: LedgerStore) -> None:
    deposit(store, "d1", "holder:alice", 100)
    now = datetime.now(UTC)
    posted = store.create_hold(
        "main",
        idempotency_key="p",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=10,
    )
    expired = store.create_hold(
        "main",
        idempotency_key="e",
        debit_account="holder:alice",
        credit_account="holder:bob",
        asset="USD",
        amount_units=10,
        expires_at=now + timedelta(hours=1),
    )
    store.post_hold("main", posted.id)
    assert store.expire_holds("main", now=now + timedelta(hours=2)) == 1
    for hold_id, status in ((posted.id, "posted"), (expired.id, "expired")):
        with pytest.raises(HoldNotPending, match=status):
            store.void_hold("main", hold_id)


def _trace(store: LedgerStore) -> tuple[list[str], int, int, int]:
    """Everything a rejected write could have left: accounts, balance rows, entries, holds."""
    codes = [account.code for account in store.list_accounts("main", limit=1_000)]
    return codes, row_count(store, "balances"), row_count(store, "journal_entries"), row_count(store, "holds")


def test_rejected_entries_and_holds_open_no_account(store: LedgerStore) -> None:
    """Issue 8 (5): a 422 unbalanced entry or a 409 overdraft/overflow leaves no trace — not even
    the template accounts (or balance rows) it names."""
    deposit(store, "d1", "holder:alice", 100)
    deposit(store, "whale", "holder:whale", MAX_AMOUNT_UNITS, asset=TOKEN)
    before = _trace(store)
    with pytest.raises(UnbalancedEntry):
        store.post(
            "main",
            EntryRequest(
                "u",
                "transfer",
                (Leg("holder:alice", "USD", Side.DEBIT, 10), Leg("holder:new-unbalanced", "USD", Side.CREDIT, 9)),
            ),
        )
    with pytest.raises(Overdraft):  # alice overdrawn; the new account is the credit side
        store.post(
            "main", EntryRequest("o", "transfer", transfer_legs("holder:alice", "holder:new-overdraft", "USD", 101))
        )
    with pytest.raises(Overdraft):  # the new account itself would be overdrawn
        store.post("main", EntryRequest("o2", "transfer", transfer_legs("holder:new-empty", "holder:alice", "USD", 1)))
    with pytest.raises(BalanceOverflow):  # the bank's cumulative token debits would pass 2^256-1
        deposit(store, "over", "holder:new-overflow", 1, asset=TOKEN)
    with pytest.raises(Overdraft):  # alice's first token balance row would be opened by this one
        store.post("main", EntryRequest("o3", "transfer", transfer_legs("holder:alice", "holder:new-token", TOKEN, 1)))
    with pytest.raises(Overdraft):
        store.create_hold(
            "main",
            idempotency_key="h-o",
            debit_account="holder:new-hold",
            credit_account="holder:bob",
            asset="USD",
            amount_units=1,
        )
    with pytest.raises(BalanceOverflow):
        store.create_hold(
            "main",
            idempotency_key="h-x",
            debit_account="external:bank",
            credit_account="holder:new-h2",
            asset=TOKEN,
            amount_units=1,
        )
    with pytest.raises(Overdraft):  # a batch: the good entries' new accounts go too
        store.post_many(
            "main",
            [
                EntryRequest("g", "deposit", transfer_legs("external:bank", "holder:new-good", "USD", 5)),
                EntryRequest("b", "transfer", transfer_legs("holder:alice", "holder:new-bad", "USD", 1_000)),
            ],
        )
    assert _trace(store) == before
    assert store.list_accounts("main", prefix="holder:new") == []
    with pytest.raises(AccountNotFound):
        store.get_account("main", "holder:new-overdraft")
    # Cold stores see the same; a later write opens the account for real (SQLite reuses a rolled-back
    # rowid: the store must not have remembered the rejected account under it).
    assert cold(store).list_accounts("main", prefix="holder:new") == []
    deposit(store, "later", "holder:carol", 7)
    deposit(store, "later2", "holder:new-overdraft", 3)
    assert store.get_balance("main", "holder:carol", "USD").posted_units == 7
    assert store.get_balance("main", "holder:new-overdraft", "USD").posted_units == 3
    assert cold(store).get_balance("main", "holder:carol", "USD").posted_units == 7
    assert store.verify("main").ok


def test_concurrent_first_writes_open_a_template_account_once(store: LedgerStore) -> None:
    """Writers opening the same new account inside their transactions queue on the insert."""
    results = _race(
        12,
        lambda i: (
            deposit(store, f"c{i}", "holder:shared", 10 + i)
            if i % 3
            else store.post(
                "main",
                EntryRequest(f"c{i}", "transfer", transfer_legs("holder:never-funded", "holder:shared", "USD", 1)),
            )
        ),
    )
    assert sum(isinstance(result, Overdraft) for result in results) == 4, results
    assert not [result for result in results if isinstance(result, Exception) and not isinstance(result, Overdraft)]
    assert store.get_balance("main", "holder:shared", "USD").posted_units == sum(10 + i for i in range(12) if i % 3)
    assert [a.code for a in store.list_accounts("main", prefix="holder:")] == ["holder:shared"]
    assert store.verify("main").ok


ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # an EIP-55 checksummed address


def test_the_platform_chart_stores_holder_addresses_in_lower_case(store: LedgerStore) -> None:
    """Issue 8 (5): `holder:<chain id>:0x<40 hex>` is a rule of the default chart (ledger.chart);
    every write and read that takes an account code accepts any spelling of the address."""
    platform = LedgerStore(store.db, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)  # the default chart's rules
    assert platform.account_code_rules == DEFAULT_ACCOUNT_CODE_RULES and store.account_code_rules == ()
    checksummed = f"holder:31337:{ADDRESS}"
    lower, upper = checksummed.lower(), f"holder:31337:0x{ADDRESS[2:].upper()}"
    entry = platform.post("main", EntryRequest("d", "deposit", transfer_legs("external:bank", checksummed, "USD", 100)))
    assert entry.legs[1].account == lower
    same_deposit = EntryRequest("d", "deposit", transfer_legs("external:bank", lower, "USD", 100))
    assert platform.post("main", same_deposit).replayed
    other = "holder:1:0x" + "Ab" * 20
    hold = platform.create_hold(
        "main", idempotency_key="h", debit_account=upper, credit_account=other, asset="USD", amount_units=30
    )
    assert (hold.debit_account, hold.credit_account) == (lower, other.lower())
    assert platform.create_hold(
        "main", idempotency_key="h", debit_account=lower, credit_account=other.lower(), asset="USD", amount_units=30
    ).replayed
    for spelling in (checksummed, lower, upper):
        assert platform.get_account("main", spelling).code == lower
        balance = platform.get_balance("main", spelling, "USD")
        assert (balance.account, balance.posted_units, balance.available_units) == (lower, 100, 70)
        assert platform.get_balance("main", spelling, "USD", as_of_sequence=1).posted_units == 100
        assert [b.posted_units for b in platform.list_balances("main", spelling)] == [100]
        assert [line.amount_units for line in platform.statement("main", spelling, "USD").lines] == [100]
    assert (
        platform.create_account("main", "holder:5:0x" + "CD" * 20, "liability", no_overdraft=True).code
        == "holder:5:0x" + "cd" * 20
    )
    assert (
        platform.create_account("main", "holder:5:0x" + "cd" * 20, "liability", no_overdraft=True).id
        == platform.get_account("main", "holder:5:0x" + "Cd" * 20).id
    )
    platform.open_accounts("main", ["holder:6:0x" + "EF" * 20], "liability", no_overdraft=True, assets=["USD"])
    assert [a.code for a in platform.list_accounts("main", prefix="holder:")] == [
        other.lower(),
        lower,
        "holder:5:0x" + "cd" * 20,
        "holder:6:0x" + "ef" * 20,
    ]
    # A precomputed body (indexer.reader) of a request the chart rewrites is digested again.
    request = EntryRequest(
        "b", "deposit", transfer_legs("external:bank", upper, "USD", 5), effective_at=datetime.now(UTC)
    )
    posted = platform.post_many("main", [request], bodies=[entry_body("main", request)])[0]
    assert (
        posted.legs[1].account == lower
        and posted.body_digest
        == entry_body("main", replace(request, legs=transfer_legs("external:bank", lower, "USD", 5))).digest
    )
    assert platform.verify("main").ok


@pytest.mark.parametrize(
    "code",
    [
        "holder:31337:0xA11CE",  # short
        "holder:31337:0x" + "g" * 40,  # not hex
        "holder:31337:0x" + "a" * 41,  # long
        "holder:31337:" + "a" * 40,  # no 0x
        "holder:0x" + "a" * 40,  # no chain id
        "holder:0:0x" + "a" * 40,  # chain ids start at 1
        "holder:alice",
        "holder:",
    ],
)
def test_the_platform_chart_rejects_holder_codes_without_a_real_address(store: LedgerStore, code: str) -> None:
    platform = LedgerStore(store.db, account_code_rules=DEFAULT_ACCOUNT_CODE_RULES)
    deposit(store, "d1", "holder:alice", 10)  # the core store has no code rules: free-form holders
    before = _trace(store)
    for call in (
        lambda: platform.post("main", EntryRequest("x", "deposit", transfer_legs("external:bank", code, "USD", 1))),
        lambda: platform.post_many(
            "main", [EntryRequest("x", "deposit", transfer_legs(code, "external:bank", "USD", 1))]
        ),
        lambda: platform.create_hold(
            "main", idempotency_key="h", debit_account="external:bank", credit_account=code, asset="USD", amount_units=1
        ),
        lambda: platform.create_account("main", code, "liability"),
        lambda: platform.open_accounts("main", [code], "liability"),
        lambda: platform.get_account("main", code),
        lambda: platform.get_balance("main", code, "USD"),
        lambda: platform.list_balances("main", code),
        lambda: platform.statement("main", code, "USD"),
    ):
        with pytest.raises(ValidationFailed, match=r"holder:<chain id>:0x<40 hex digits>"):
            call()
    assert _trace(store) == before
