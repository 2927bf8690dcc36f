"""Hypothesis drives random ledger operations and compares against a plain in-memory model.

After every step: each (account, asset) balance (posted and pending), the trial balance
and the hash chain must match. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledger import Database, EntryRequest, LedgerStore, Leg, Side
from ledger.errors import AlreadyReversed, HoldNotPending, Overdraft
from ledger.migrate import upgrade
from tests.ledger.conftest import make_database_url

ACCOUNTS = {  # code -> (debit_normal, no_overdraft)
    "external:bank": (True, False),
    "chain:mint": (False, False),
    "holder:a": (False, True),
    "holder:b": (False, True),
    "holder:c": (False, True),
    "round:r1:escrow": (False, True),
}
ASSETS = ["USD", "TOK"]
amounts = st.one_of(st.integers(1, 1_000), st.integers(1, 2**200))


@dataclass
class ModelBalance:
    debits: int = 0
    credits: int = 0
    debits_pending: int = 0
    credits_pending: int = 0

    def available(self, debit_normal: bool) -> int:
        if debit_normal:
            return self.debits - self.credits - self.credits_pending
        return self.credits - self.debits - self.debits_pending


@dataclass
class Model:
    balances: dict[tuple[str, str], ModelBalance] = field(default_factory=dict)
    entries: dict[str, tuple[Leg, ...]] = field(default_factory=dict)  # id -> legs
    reversed: set[str] = field(default_factory=set)
    holds: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)  # pending only

    def bal(self, account: str, asset: str) -> ModelBalance:
        return self.balances.setdefault((account, asset), ModelBalance())

    def would_overdraw(self, legs: tuple[Leg, ...]) -> bool:
        trial: dict[tuple[str, str], ModelBalance] = {}
        for leg in legs:
            key = (leg.account, leg.asset)
            current = trial.setdefault(key, ModelBalance(**vars(self.bal(*key))))
            if leg.side is Side.DEBIT:
                current.debits += leg.amount_units
            else:
                current.credits += leg.amount_units
        return any(
            ACCOUNTS[account][1] and value.available(ACCOUNTS[account][0]) < 0 for (account, _), value in trial.items()
        )

    def apply(self, legs: tuple[Leg, ...]) -> None:
        for leg in legs:
            if leg.side is Side.DEBIT:
                self.bal(leg.account, leg.asset).debits += leg.amount_units
            else:
                self.bal(leg.account, leg.asset).credits += leg.amount_units


class LedgerMachine(RuleBasedStateMachine):
    backend = "sqlite"
    tmp_dir = ""
    postgres_server = None
    entries = Bundle("entries")
    keys = itertools.count()

    @initialize()
    def setup(self) -> None:
        from pathlib import Path

        url = make_database_url(self.backend, Path(self.tmp_dir), self.postgres_server)
        self.database = Database(url)
        upgrade(self.database.write_engine)
        self.store = LedgerStore(self.database, account_code_rules=())  # the core's rules, free-form codes
        self.store.create_ledger("main")
        for asset in ASSETS:
            self.store.create_asset("main", asset, 2, "fiat")
        for code, (debit_normal, no_overdraft) in ACCOUNTS.items():
            self.store.create_account("main", code, "asset" if debit_normal else "liability", no_overdraft=no_overdraft)
        self.model = Model()
        self.requests: dict[str, EntryRequest] = {}

    def teardown(self) -> None:
        if hasattr(self, "database"):
            self.database.dispose()

    def _post(self, legs: tuple[Leg, ...]) -> str | None:
        key = f"k{next(self.keys)}"
        request = EntryRequest(key, "transfer", legs)
        if self.model.would_overdraw(legs):
            with pytest.raises(Overdraft):
                self.store.post("main", request)
            return None
        entry = self.store.post("main", request)
        self.model.apply(legs)
        self.model.entries[entry.id] = legs
        self.requests[entry.id] = request
        return entry.id

    @rule(
        target=entries,
        source=st.sampled_from(sorted(ACCOUNTS)),
        target_account=st.sampled_from(sorted(ACCOUNTS)),
        asset=st.sampled_from(ASSETS),
        amount=amounts,
    )
    def transfer(self, source: str, target_account: str, asset: str, amount: int) -> str:
        legs = (Leg(source, asset, Side.DEBIT, amount), Leg(target_account, asset, Side.CREDIT, amount))
        return self._post(legs) or "none"

    @rule(target=entries, amount=amounts, fee=st.integers(0, 100))
    def investment_with_fee(self, amount: int, fee: int) -> str:
        legs = (
            Leg("external:bank", "USD", Side.DEBIT, amount + fee),
            Leg("round:r1:escrow", "USD", Side.CREDIT, amount),
            *((Leg("holder:c", "USD", Side.CREDIT, fee),) if fee else ()),
            Leg("chain:mint", "TOK", Side.DEBIT, amount),
            Leg("holder:a", "TOK", Side.CREDIT, amount),
        )
        return self._post(legs) or "none"

    @rule(entry_id=entries)
    def replay_is_idempotent(self, entry_id: str) -> None:
        if entry_id == "none":
            return
        replay = self.store.post("main", self.requests[entry_id])
        assert replay.replayed and replay.id == entry_id

    @rule(entry_id=entries)
    def reverse(self, entry_id: str) -> None:
        if entry_id == "none":
            return
        mirror = tuple(
            Leg(leg.account, leg.asset, leg.side.opposite(), leg.amount_units) for leg in self.model.entries[entry_id]
        )
        if entry_id in self.model.reversed:
            with pytest.raises(AlreadyReversed):
                self.store.reverse("main", entry_id, idempotency_key=f"again-{next(self.keys)}")
        elif self.model.would_overdraw(mirror):
            with pytest.raises(Overdraft):
                self.store.reverse("main", entry_id)
        else:
            self.store.reverse("main", entry_id)
            self.model.apply(mirror)
            self.model.reversed.add(entry_id)

    @rule(
        debit=st.sampled_from(["holder:a", "holder:b", "round:r1:escrow"]),
        credit=st.sampled_from(["holder:c", "external:bank"]),
        asset=st.sampled_from(ASSETS),
        amount=amounts,
    )
    def create_hold(self, debit: str, credit: str, asset: str, amount: int) -> None:
        key = f"h{next(self.keys)}"
        balance = self.model.bal(debit, asset)
        if balance.available(False) < amount:
            with pytest.raises(Overdraft):
                self.store.create_hold(
                    "main",
                    idempotency_key=key,
                    debit_account=debit,
                    credit_account=credit,
                    asset=asset,
                    amount_units=amount,
                )
            return
        hold = self.store.create_hold(
            "main", idempotency_key=key, debit_account=debit, credit_account=credit, asset=asset, amount_units=amount
        )
        balance.debits_pending += amount
        self.model.bal(credit, asset).credits_pending += amount
        self.model.holds[hold.id] = (debit, credit, asset, amount)

    def _release(self, hold_id: str) -> tuple[str, str, str, int]:
        debit, credit, asset, amount = self.model.holds.pop(hold_id)
        self.model.bal(debit, asset).debits_pending -= amount
        self.model.bal(credit, asset).credits_pending -= amount
        return debit, credit, asset, amount

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data(), part=st.floats(0.01, 1.0))
    def post_hold(self, data: st.DataObject, part: float) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)))
        amount = max(1, int(self.model.holds[hold_id][3] * part)) if part < 1 else self.model.holds[hold_id][3]
        entry = self.store.post_hold("main", hold_id, amount_units=amount)
        debit, credit, asset, _ = self._release(hold_id)
        legs = (Leg(debit, asset, Side.DEBIT, amount), Leg(credit, asset, Side.CREDIT, amount))
        self.model.apply(legs)
        self.model.entries[entry.id] = legs

    @precondition(lambda self: bool(self.model.holds))
    @rule(data=st.data())
    def void_hold(self, data: st.DataObject) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.model.holds)))
        self.store.void_hold("main", hold_id)
        self._release(hold_id)
        with pytest.raises(HoldNotPending):
            self.store.post_hold("main", hold_id)

    @invariant()
    def balances_trial_balance_and_chain_match_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        totals: dict[str, list[int]] = {}
        for account in ACCOUNTS:
            for asset in ASSETS:
                stored = self.store.get_balance("main", account, asset)
                expected = self.model.bal(account, asset)
                assert (
                    stored.debits_posted_units,
                    stored.credits_posted_units,
                    stored.debits_pending_units,
                    stored.credits_pending_units,
                ) == (expected.debits, expected.credits, expected.debits_pending, expected.credits_pending), account
                total = totals.setdefault(asset, [0, 0])
                total[0] += expected.debits
                total[1] += expected.credits
        trial = self.store.trial_balance("main")
        assert trial.balanced
        assert {a: tuple(t) for a, t in totals.items() if t != [0, 0]} == {
            a: t for a, t in trial.totals.items() if t != (0, 0)
        }
        assert self.store.verify("main").ok


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_ledger_matches_the_model(backend: str, tmp_path: object, request: pytest.FixtureRequest) -> None:
    LedgerMachine.backend = backend
    LedgerMachine.tmp_dir = str(tmp_path)
    LedgerMachine.postgres_server = request.getfixturevalue("postgres_server") if backend == "postgresql" else None
    runner = LedgerMachine.TestCase()
    runner.settings = settings(
        max_examples=25 if backend == "sqlite" else 12,
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner.runTest()
