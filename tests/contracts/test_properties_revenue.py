"""Property tests of the revenue share on anvil (hypothesis drives the chain; each example runs
between an evm_snapshot and an evm_revert).

Invariants, after every step of a random sequence of deposits, transfers, claims, mints, burns
(by the holder) and recoveries (proposed by the agent, executed by the approver after the delay,
with or without the revenue):
- Σ claimed + Σ claimable ≤ Σ deposited (credited), and the dust Σ deposited − Σ claimed −
  Σ claimable is at most the number of addresses that ever held tokens (base units);
- a token movement (transfer, recovery, mint, burn) never changes anybody's claimable amount:
  revenue already earned stays with its earner, so nothing can be claimed twice; a recovery with
  the revenue moves exactly the source's claimable amount to the recipient, nothing else;
- a claim pays exactly the claimable amount and leaves zero.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.deploy import transact
from tests.contracts.chain_helpers import (  # noqa: F401
    TOKEN,
    USDC,
    World,
    expect_revert,
    one_event,
    warp,
    world,
    world_deployed,
)

HOLDERS = 4  # investors[0..3]; the treasury (excluded) is the 5th party
EXAMPLES = 40
REASON = b"LOST_KEYS".ljust(32, b"\0")

party = st.integers(min_value=0, max_value=HOLDERS)  # HOLDERS = the excluded treasury
step = st.one_of(
    st.tuples(st.just("deposit"), st.integers(min_value=1, max_value=10_000 * USDC)),
    st.tuples(st.just("transfer"), party, party, st.integers(min_value=1, max_value=100)),
    st.tuples(st.just("recovery"), party, party, st.integers(min_value=1, max_value=100), st.booleans()),
    st.tuples(st.just("claim"), st.integers(min_value=0, max_value=HOLDERS - 1)),
    st.tuples(st.just("mint"), party, st.integers(min_value=1, max_value=1_000 * TOKEN)),
    st.tuples(st.just("burn"), party, st.integers(min_value=1, max_value=100)),
)


@pytest.fixture()
def depositor(world: World) -> World:
    """Built once per test, before the examples (each reverts to it): the admin, who deposits, holds
    and has approved more revenue tokens than any example can deposit."""
    world.send(world.stablecoin.functions.mint(world.admin, 10**30))
    world.send(world.stablecoin.functions.approve(world.distributor.address, 2**256 - 1))
    return world


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.lists(st.integers(min_value=1, max_value=10**6 * TOKEN), min_size=HOLDERS, max_size=HOLDERS),
    steps=st.lists(step, min_size=1, max_size=14),
)
def test_revenue_conservation_and_no_double_claim(depositor: World, initial: list[int], steps: list) -> None:
    w3 = depositor.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        _run(depositor, initial, steps)
    finally:
        w3.provider.make_request("evm_revert", [snapshot])


def _run(world: World, initial: list[int], steps: list) -> None:
    t, d, s = world.token, world.distributor, world.stablecoin
    parties = [*world.investors[:HOLDERS], world.treasury]
    admin = world.admin
    ever_held: set[str] = set()
    # The HOLDERS investors start with `initial`; the treasury (the last party) starts with nothing.
    for who, amount in zip(parties[:HOLDERS], initial, strict=True):
        world.mint(who, amount)
        ever_held.add(who)
    deposited = claimed = 0
    MAGNITUDE, MAX_PER_SHARE = d.functions.MAGNITUDE().call(), d.functions.MAX_PER_SHARE().call()
    recovery_delay = t.functions.recoveryDelay().call()

    def claimables() -> list[int]:
        return [d.functions.claimable(p).call() for p in parties]

    for op in steps:
        kind = op[0]
        if kind == "deposit":
            if not _deposit_unless_refused(d, admin, op[1], MAGNITUDE, MAX_PER_SHARE):
                continue
            deposited += op[1]
            after = claimables()
        elif kind in ("transfer", "recovery"):
            moved = _transfer_or_recover(world, parties, op, claimables, recovery_delay)
            if moved is None:
                continue
            after = moved
            ever_held.add(parties[op[2]])
        elif kind == "claim":
            who = parties[op[1]]
            owed_before = d.functions.claimable(who).call()
            if owed_before == 0:
                continue
            paid_before = s.functions.balanceOf(who).call()
            transact(d.functions.claim(), who)
            paid = s.functions.balanceOf(who).call() - paid_before
            assert paid == owed_before
            after = claimables()
            assert after[op[1]] == 0
            claimed += paid
        elif kind == "mint":
            before = claimables()
            world.mint(parties[op[1]], op[2])
            ever_held.add(parties[op[1]])
            after = claimables()
            assert after == before, "mint changed claimable amounts"
        elif kind == "burn":
            who = parties[op[1]]
            amount = t.functions.balanceOf(who).call() * op[2] // 100
            if amount == 0:
                continue
            before = claimables()
            world.send(t.functions.burn(who, amount), who)
            after = claimables()
            assert after == before, "burn changed claimable amounts"
        owed = sum(after)
        assert claimed + owed <= deposited
        assert deposited - claimed - owed <= len(ever_held), "rounding dust above one unit per holder"
        assert d.functions.revenueTotals().call()[1] == claimed
        assert s.functions.balanceOf(d.address).call() == deposited - claimed


def _transfer_or_recover(
    world: World, parties: list[str], op: tuple, claimables: Callable[[], list[int]], recovery_delay: int
) -> list[int] | None:
    """Move a percentage of a party's tokens by a transfer or a recovery; the claimable amounts after
    it (checked), or None when there was nothing to move."""
    kind, i, j, percent = op[:4]
    src, dst = parties[i], parties[j]
    amount = world.token.functions.balanceOf(src).call() * percent // 100
    if amount == 0 or src == dst:
        return None
    before = claimables()
    expected = list(before)
    if kind == "transfer":
        transact(world.token.functions.transfer(dst, amount), src)
    else:
        with_revenue = op[4]
        _recover(world, src, dst, amount, with_revenue, recovery_delay)
        if with_revenue:  # every whole unit src could claim, and only that, moves to dst
            expected[i], expected[j] = 0, before[j] + before[i]
    after = claimables()
    assert after == expected, f"{kind} changed claimable amounts"
    return after


def _recover(world: World, src: str, dst: str, amount: int, with_revenue: bool, delay: int) -> None:
    """The agent proposes, the delay passes, the approver executes."""
    t = world.token
    receipt = transact(t.functions.proposeRecovery(src, dst, amount, with_revenue, REASON), world.agent)
    warp(world.w3, delay)
    transact(t.functions.executeRecovery(one_event(t, "RecoveryProposed", receipt)["id"]), world.approver)


def _deposit_unless_refused(d, admin: str, amount: int, magnitude: int, max_per_share: int) -> bool:
    """Deposit `amount` from `admin`; False (nothing deposited) when the token must refuse it, which is
    checked, or when the outcome is decided by the hidden leftover."""
    supply = d.functions.eligibleSupply().call()
    if supply == 0:
        expect_revert(d.functions.deposit(amount), admin, "NoEligibleSupply")
        return False
    # The token refuses a deposit that would lift magnifiedPerShare above MAX_PER_SHARE (a
    # dust-sized eligible supply), so corrections can never overflow. The hidden leftover is
    # < supply, so the new value is `lowest` or `lowest + 1`.
    lowest = d.functions.magnifiedPerShare().call() + amount * magnitude // supply
    if lowest > max_per_share:
        expect_revert(d.functions.deposit(amount), admin, "RevenuePerTokenTooHigh")
        return False
    if lowest == max_per_share:
        return False  # within one unit of the limit: decided by the hidden leftover
    transact(d.functions.deposit(amount), admin)
    return True
