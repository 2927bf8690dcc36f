"""Issue 8 (8): effective time — the range a ledger accepts, and reports by effective time.
Every test runs on SQLite and on PostgreSQL (the `store` fixture is parametrised)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from api.problems import ledger_status
from contracts.manifest import Manifest
from indexer.follower import Follower
from ledger import AccountingType, EntryRequest, LedgerStore, transfer_legs
from ledger.config import LedgerSettings
from ledger.errors import EffectiveAtOutOfRange, ValidationFailed
from ledger.limits import MAX_AMOUNT_UNITS
from ledger.policy import EffectiveTimePolicy

TOKEN = "PTK:31337:0xabc"
US = timedelta(microseconds=1)


def created_at(store: LedgerStore) -> datetime:
    with store.db.read() as conn:
        value = conn.execute(text("SELECT created_at FROM ledgers WHERE code = 'main'")).scalar_one()
    if isinstance(value, str):  # SQLite
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def deposit(store: LedgerStore, key: str, holder: str, amount: int, asset: str = "USD", **kw: object):  # type: ignore[no-untyped-def]
    return store.post("main", EntryRequest(key, "deposit", transfer_legs("external:bank", holder, asset, amount), **kw))


def test_effective_at_lies_between_creation_minus_the_window_and_recorded_time_plus_5_minutes(
    store: LedgerStore,
) -> None:
    created = created_at(store)
    earliest = created - timedelta(days=400)
    assert store.effective_time_policy == EffectiveTimePolicy.from_settings()  # the default: 400 days, 5 min
    assert deposit(store, "edge", "holder:a", 1, effective_at=earliest).effective_at == earliest
    assert deposit(store, "soon", "holder:a", 1, effective_at=datetime.now(UTC) + timedelta(minutes=4))
    head = store.head("main")
    for moment in (
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
        earliest - US,
        datetime.now(UTC) + timedelta(minutes=6),
    ):
        with pytest.raises(EffectiveAtOutOfRange) as info:
            deposit(store, "bad", "holder:a", 1, effective_at=moment)
        error = info.value
        assert (error.code, ledger_status(error)) == ("effective-at-out-of-range", 422)
        assert error.extra["earliest"] == earliest.isoformat().replace("+00:00", "Z")
        assert datetime.fromisoformat(error.extra["latest"]) > datetime.now(UTC) + timedelta(minutes=4)
        assert error.extra["earliest"] in error.detail and "400 days" in error.detail
        legs = transfer_legs("external:bank", "holder:a", "USD", 1)
        with pytest.raises(EffectiveAtOutOfRange):  # a batch is refused whole
            store.post_many(
                "main", [EntryRequest("ok", "deposit", legs), EntryRequest("bad", "deposit", legs, effective_at=moment)]
            )
    assert store.head("main") == head

    original = deposit(store, "r", "holder:a", 5)
    with pytest.raises(EffectiveAtOutOfRange):
        store.reverse("main", original.id, effective_at=datetime(2000, 1, 1, tzinfo=UTC))
    reversal = store.reverse("main", original.id, effective_at=created - timedelta(days=1))
    assert reversal.effective_at == created - timedelta(days=1)
    # A replay of an accepted back-dated entry is still accepted.
    assert deposit(store, "edge", "holder:a", 1, effective_at=earliest).replayed
    assert store.verify("main").ok


def test_the_window_is_a_setting_and_the_policy_a_store_parameter(
    store: LedgerStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOGI_BACKDATING_WINDOW_DAYS", "10")
    assert LedgerSettings().backdating_window_days == 10
    assert EffectiveTimePolicy.from_settings().backdating_window == timedelta(days=10)
    assert LedgerStore(store.db, account_code_rules=()).effective_time_policy.backdating_window == timedelta(days=10)
    monkeypatch.setenv("KOGI_BACKDATING_WINDOW_DAYS", "-1")
    with pytest.raises(ValueError):
        LedgerSettings()

    strict = LedgerStore(
        store.db, account_code_rules=(), effective_time_policy=EffectiveTimePolicy(backdating_window=timedelta(days=1))
    )
    with pytest.raises(EffectiveAtOutOfRange):
        deposit(strict, "old", "holder:a", 1, effective_at=created_at(store) - timedelta(days=2))
    deposit(strict, "recent", "holder:a", 1, effective_at=created_at(store) - timedelta(hours=23))


def test_the_chain_indexer_posts_block_times_unbounded(store: LedgerStore) -> None:
    """A backfill replays blocks older than the ledger; a dev chain's clock runs ahead of ours."""
    manifest = Manifest(chain_id=31337, deployer="0x" + "00" * 20, start_block=0)
    follower = Follower(store, rpc=None, manifest=manifest)  # type: ignore[arg-type]  # no RPC is used here
    assert follower.store.effective_time_policy is EffectiveTimePolicy.UNBOUNDED
    assert store.effective_time_policy is not EffectiveTimePolicy.UNBOUNDED  # the caller's store is unchanged
    old = deposit(follower.store, "block-1", "holder:a", 3, effective_at=datetime(2015, 7, 30, tzinfo=UTC))
    ahead = deposit(follower.store, "block-2", "holder:a", 4, effective_at=datetime.now(UTC) + timedelta(days=365))
    assert (old.effective_at.year, ahead.replayed) == (2015, False)
    with pytest.raises(EffectiveAtOutOfRange):
        deposit(store, "api", "holder:a", 3, effective_at=datetime(2015, 7, 30, tzinfo=UTC))
    assert store.get_balance("main", "holder:a", "USD").posted_units == 7  # one store, caches shared


def test_balance_statement_and_trial_balance_by_effective_time(store: LedgerStore) -> None:
    """Back-dated entries land in their period: sequence order and effective order differ."""
    now = created_at(store)
    day = timedelta(days=1)
    e1 = deposit(store, "e1", "holder:alice", 100, effective_at=now - 30 * day)
    e2 = deposit(store, "e2", "holder:alice", 50)  # effective = recorded time
    e3 = store.post(
        "main",
        EntryRequest(
            "e3", "transfer", transfer_legs("holder:alice", "holder:bob", "USD", 20), effective_at=now - 10 * day
        ),
    )
    e4 = deposit(store, "e4", "holder:alice", 7, effective_at=now - 40 * day)  # recorded last, effective first
    assert [e.sequence for e in (e1, e2, e3, e4)] == [1, 2, 3, 4]

    def balance(moment: datetime, account: str = "holder:alice") -> int:
        result = store.get_balance("main", account, "USD", effective_as_of=moment)
        assert result.as_of_sequence == 4 and result.debits_pending_units == result.credits_pending_units == 0
        return result.posted_units

    assert balance(now - 41 * day) == 0
    assert balance(now - 40 * day) == 7  # at or before: inclusive
    assert balance(now - 20 * day) == 107
    assert balance(now - 10 * day) == 87 and balance(now - 10 * day, "holder:bob") == 20
    assert balance(e2.effective_at) == 137 == store.get_balance("main", "holder:alice", "USD").posted_units
    bank = store.get_balance("main", "external:bank", "USD", effective_as_of=now - 20 * day)
    assert bank.posted_units == 107 and bank.accounting_type is AccountingType.ASSET
    # By sequence the same history reads differently: e4 is the last entry recorded.
    assert store.get_balance("main", "holder:alice", "USD", as_of_sequence=3).posted_units == 130

    start, end = now - 35 * day, now - 5 * day
    page = store.statement("main", "holder:alice", "USD", effective_start=start, effective_end=end)
    assert page.opening_balance_units == 7  # e4: effective before the period
    assert [(line.sequence, line.amount_units, line.balance_after_units) for line in page.lines] == [
        (1, 100, 107),
        (3, 20, 87),
    ]
    assert page.lines[-1].balance_after_units == balance(end - US)
    first = store.statement("main", "holder:alice", "USD", effective_start=start, effective_end=end, limit=1)
    second = store.statement(
        "main", "holder:alice", "USD", effective_start=start, effective_end=end, limit=1, cursor=first.next_cursor
    )
    assert (first.opening_balance_units, [line.balance_after_units for line in first.lines]) == (7, [107])
    assert (second.opening_balance_units, [line.balance_after_units for line in second.lines]) == (107, [87])
    assert second.next_cursor is None
    until = store.statement("main", "holder:alice", "USD", effective_end=end)
    assert [(line.sequence, line.balance_after_units) for line in until.lines] == [(1, 100), (3, 80), (4, 87)]
    since = store.statement("main", "holder:alice", "USD", effective_start=start)
    assert (since.opening_balance_units, [line.sequence for line in since.lines]) == (7, [1, 2, 3])
    assert since.lines[-1].balance_after_units == 137
    empty = store.statement(
        "main", "holder:alice", "USD", effective_start=now - 100 * day, effective_end=now - 50 * day
    )
    assert (empty.lines, empty.opening_balance_units, empty.next_cursor) == ((), 0, None)

    report = store.trial_balance("main", effective_as_of=now - 20 * day)
    assert report.as_of_sequence == 4 and report.balanced and report.totals == {"USD": (107, 107)}
    rows = {(row.asset, row.accounting_type): row for row in report.rows}
    assert rows[("USD", AccountingType.LIABILITY)].credits_units == 107
    assert store.trial_balance("main", effective_as_of=now - 10 * day).totals == {"USD": (127, 127)}
    assert store.trial_balance("main", effective_as_of=now - 50 * day).totals == {}
    assert store.trial_balance("main", effective_as_of=e2.effective_at).totals == store.trial_balance("main").totals


def test_effective_sums_are_exact_up_to_2_256(store: LedgerStore) -> None:
    now = created_at(store)
    half = 2**255
    deposit(store, "t1", "holder:whale", half + 3, asset=TOKEN, effective_at=now - timedelta(days=3))
    deposit(store, "t2", "holder:whale", half - 5, asset=TOKEN, effective_at=now - timedelta(days=2))
    deposit(store, "t3", "holder:whale", 1, asset=TOKEN, effective_at=now - timedelta(days=1))
    assert (
        store.get_balance("main", "holder:whale", TOKEN, effective_as_of=now - timedelta(days=2)).posted_units
        == MAX_AMOUNT_UNITS - 1
    )
    assert store.trial_balance("main", effective_as_of=now - timedelta(days=2)).totals == {
        TOKEN: (MAX_AMOUNT_UNITS - 1, MAX_AMOUNT_UNITS - 1)
    }
    page = store.statement("main", "holder:whale", TOKEN, effective_start=now - timedelta(days=2), limit=1)
    assert page.opening_balance_units == half + 3
    nxt = store.statement(
        "main", "holder:whale", TOKEN, effective_start=now - timedelta(days=2), limit=1, cursor=page.next_cursor
    )
    assert nxt.opening_balance_units == MAX_AMOUNT_UNITS - 1 and nxt.lines[0].balance_after_units == MAX_AMOUNT_UNITS


def test_as_of_modes_are_mutually_exclusive(store: LedgerStore) -> None:
    deposit(store, "d", "holder:a", 1)
    moment = datetime.now(UTC)
    for call in (
        lambda: store.get_balance("main", "holder:a", "USD", as_of_sequence=1, effective_as_of=moment),
        lambda: store.get_balance("main", "holder:a", "USD", as_of=moment, effective_as_of=moment),
        lambda: store.statement("main", "holder:a", "USD", start=moment, effective_end=moment),
        lambda: store.statement("main", "holder:a", "USD", end=moment, effective_start=moment),
        lambda: store.trial_balance("main", as_of_sequence=1, effective_as_of=moment),
    ):
        with pytest.raises(ValidationFailed, match="give"):
            call()
