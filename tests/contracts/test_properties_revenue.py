"""Property tests of the revenue share on anvil (hypothesis drives the chain; each example runs
between an evm_snapshot and an evm_revert).

Invariants, after every step of a random sequence of deposits, transfers, claims, mints, burns
and forced transfers:
- Σ claimed + Σ claimable ≤ Σ deposited (credited), and the dust Σ deposited − Σ claimed −
  Σ claimable is at most the number of addresses that ever held tokens (base units);
- a token movement (transfer, forced transfer, mint, burn) never changes anybody's claimable
  amount: revenue already earned stays with its earner, so nothing can be claimed twice;
- a claim pays exactly the claimable amount and leaves zero.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.deploy import transact
from tests.contracts.chain_helpers import TOKEN, USDC, World, expect_revert, world, world_deployed  # noqa: F401

HOLDERS = 4  # investors[0..3]; the treasury (excluded) is the 5th party
EXAMPLES = 40

party = st.integers(min_value=0, max_value=HOLDERS)  # HOLDERS = the excluded treasury
step = st.one_of(
    st.tuples(st.just("deposit"), st.integers(min_value=1, max_value=10_000 * USDC)),
    st.tuples(st.just("transfer"), party, party, st.integers(min_value=1, max_value=100)),
    st.tuples(st.just("forced"), party, party, st.integers(min_value=1, max_value=100)),
    st.tuples(st.just("claim"), st.integers(min_value=0, max_value=HOLDERS - 1)),
    st.tuples(st.just("mint"), party, st.integers(min_value=1, max_value=1_000 * TOKEN)),
    st.tuples(st.just("burn"), party, st.integers(min_value=1, max_value=100)),
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    initial=st.lists(st.integers(min_value=1, max_value=10**6 * TOKEN), min_size=HOLDERS, max_size=HOLDERS),
    steps=st.lists(step, min_size=1, max_size=14),
)
def test_revenue_conservation_and_no_double_claim(world: World, initial: list[int], steps: list) -> None:
    w3 = world.w3
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        _run(world, initial, steps)
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
    world.send(s.functions.mint(admin, 10**30))
    world.send(s.functions.approve(d.address, 2**256 - 1))
    deposited = claimed = 0
    MAGNITUDE, MAX_PER_SHARE = d.functions.MAGNITUDE().call(), d.functions.MAX_PER_SHARE().call()

    def claimables() -> list[int]:
        return [d.functions.claimable(p).call() for p in parties]

    for op in steps:
        before = claimables()
        kind = op[0]
        if kind == "deposit":
            if not _deposit_unless_refused(d, admin, op[1], MAGNITUDE, MAX_PER_SHARE):
                continue
            deposited += op[1]
        elif kind in ("transfer", "forced"):
            src, dst = parties[op[1]], parties[op[2]]
            amount = t.functions.balanceOf(src).call() * op[3] // 100
            if amount == 0 or src == dst:
                continue
            fn = (
                t.functions.transfer(dst, amount)
                if kind == "transfer"
                else t.functions.forcedTransfer(src, dst, amount)
            )
            transact(fn, src if kind == "transfer" else admin)
            ever_held.add(dst)
            assert claimables() == before, f"{kind} changed claimable amounts"
        elif kind == "claim":
            who = parties[op[1]]
            if before[op[1]] == 0:
                continue
            paid_before = s.functions.balanceOf(who).call()
            transact(d.functions.claim(), who)
            paid = s.functions.balanceOf(who).call() - paid_before
            assert paid == before[op[1]]
            assert d.functions.claimable(who).call() == 0
            claimed += paid
        elif kind == "mint":
            world.mint(parties[op[1]], op[2])
            ever_held.add(parties[op[1]])
            assert claimables() == before, "mint changed claimable amounts"
        elif kind == "burn":
            who = parties[op[1]]
            amount = t.functions.balanceOf(who).call() * op[2] // 100
            if amount == 0:
                continue
            world.send(t.functions.burn(who, amount))
            assert claimables() == before, "burn changed claimable amounts"
        owed = sum(claimables())
        assert claimed + owed <= deposited
        assert deposited - claimed - owed <= len(ever_held), "rounding dust above one unit per holder"
        assert d.functions.revenueTotals().call()[1] == claimed
        assert s.functions.balanceOf(d.address).call() == deposited - claimed


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
