"""Property tests for FundingRound, driving anvil with hypothesis.

Each example runs between evm_snapshot and evm_revert, so examples are independent and share one
deployed environment (stablecoin, registry, token, round implementation). Example counts are modest
so the file stays well under three minutes on a shared machine.

Properties:
- the hard cap is never exceeded, whatever the sequence of investments (partial fill is exact);
- a failed (or cancelled-before-success) round refunds every investor exactly their contribution
  and mints no token;
- released-to-treasury + fees + refunds == raised, for any milestone split, fee, number of released
  milestones and cancellation point, with no stablecoin left in the round;
- a permit nonce can be used once per investor, whatever the order and re-signing.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.deploy import deploy_contract
from contracts.funding import RoundState, latest_timestamp, send, warp_to
from tests.contracts.funding_support import ANY, build_funding_env, reverts

pytestmark = pytest.mark.chain

PROPERTY_SETTINGS = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=False,
)
BIG = 10**15  # stablecoin base units minted to each investor once


@pytest.fixture()
def env(w3):
    env = build_funding_env(w3)
    env.implementation = deploy_contract(w3, "FundingRound").address
    for investor in env.investors:
        send(env.stablecoin.functions.mint(investor, BIG), env.admin)
    return env


class ChainSnapshot:
    """evm_snapshot on enter, evm_revert on exit: one hypothesis example's chain changes vanish."""

    def __init__(self, w3):
        self.w3 = w3

    def __enter__(self):
        self.id = self.w3.provider.make_request("evm_snapshot", [])["result"]
        return self

    def __exit__(self, *exc):
        self.w3.provider.make_request("evm_revert", [self.id])
        return False


def open_round(env, **overrides):
    now = latest_timestamp(env.w3)
    round_ = env.round(start_time_s=now + 5, end_time_s=now + 10_000, **overrides)
    for investor in env.investors:
        send(env.stablecoin.functions.approve(round_.address, 2**256 - 1), investor)
    return round_


def invest_all(env, round_, investments):
    """Invest `(investor index, amount)` pairs that are all valid; returns contributions per investor."""
    contributions = [0, 0, 0]
    for who, amount in investments:
        env.invest(round_, env.investors[who], amount)
        contributions[who] += amount
    return contributions


investment = st.tuples(st.integers(0, 2), st.integers(1, 400))


@PROPERTY_SETTINGS
@given(
    hard_cap=st.integers(10, 1_000),
    soft_fraction=st.integers(1, 100),
    investments=st.lists(investment, min_size=1, max_size=10),
)
def test_hard_cap_is_never_exceeded(env, hard_cap, soft_fraction, investments):
    soft_cap = max(1, hard_cap * soft_fraction // 100)
    with ChainSnapshot(env.w3):
        round_ = open_round(
            env, hard_cap_units=hard_cap, soft_cap_units=soft_cap, min_investment_units=1, max_investment_units=hard_cap
        )
        f = round_.functions
        raised = 0
        for who, amount in investments:
            investor = env.investors[who]
            room = hard_cap - raised
            if room == 0:
                with reverts(round_, "InvalidState", RoundState.SUCCEEDED):
                    env.invest(round_, investor, amount)
                continue
            accepted = min(amount, room)
            if f.contributionOf(investor).call() + accepted > hard_cap:  # cannot happen: max == hard cap
                raise AssertionError("per-investor max below the hard cap")
            env.invest(round_, investor, amount)
            raised += accepted
            assert f.totalRaised().call() == raised <= hard_cap
            assert env.stablecoin.functions.balanceOf(round_.address).call() == raised
        assert sum(f.contributionOf(i).call() for i in env.investors) == raised
        if raised == hard_cap:
            assert f.state().call() == RoundState.SUCCEEDED


@PROPERTY_SETTINGS
@given(investments=st.lists(investment, min_size=1, max_size=8), cancel=st.booleans(), order=st.permutations([0, 1, 2]))
def test_failed_round_refunds_every_investor_exactly(env, investments, cancel, order):
    with ChainSnapshot(env.w3):
        total = sum(amount for _, amount in investments)
        round_ = open_round(
            env,
            soft_cap_units=total + 1,
            hard_cap_units=total + 1,
            min_investment_units=1,
            max_investment_units=total + 1,
        )
        f = round_.functions
        contributions = invest_all(env, round_, investments)
        if cancel:
            send(f.cancel(), env.issuer)
            assert f.state().call() == RoundState.CANCELLED
        else:
            warp_to(env.w3, f.endTime().call())
            assert f.state().call() == RoundState.FAILED
        for who in order:
            investor = env.investors[who]
            before = env.stablecoin.functions.balanceOf(investor).call()
            if contributions[who] == 0:
                with reverts(round_, "NothingToRefund", investor):
                    send(f.claimRefund(), investor)
                continue
            send(f.claimRefund(), investor)
            assert env.stablecoin.functions.balanceOf(investor).call() - before == contributions[who]
            assert env.stablecoin.functions.balanceOf(investor).call() == BIG
        assert env.stablecoin.functions.balanceOf(round_.address).call() == 0
        assert f.refundedTotal().call() == f.totalRaised().call() == total
        assert env.token.functions.totalSupply().call() == 0


@st.composite
def milestone_splits(draw):
    count = draw(st.integers(1, 5))
    cuts = sorted(draw(st.lists(st.integers(1, 9_999), min_size=count - 1, max_size=count - 1, unique=True)))
    bounds = [0, *cuts, 10_000]
    return tuple(b - a for a, b in pairwise(bounds))


@PROPERTY_SETTINGS
@given(
    investments=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 10**9)), min_size=1, max_size=6),
    split=milestone_splits(),
    fee_bps=st.integers(0, 1_000),
    released_fraction=st.integers(0, 100),
    order=st.permutations([0, 1, 2]),
)
def test_released_plus_fees_plus_refunds_equals_raised(env, investments, split, fee_bps, released_fraction, order):
    with ChainSnapshot(env.w3):
        total = sum(amount for _, amount in investments)
        round_ = open_round(
            env,
            soft_cap_units=max(1, total // 2),
            hard_cap_units=total,
            min_investment_units=1,
            max_investment_units=total,
            fee_bps=fee_bps,
            milestone_bps=split,
        )
        f = round_.functions
        contributions = invest_all(env, round_, investments)
        assert f.state().call() == RoundState.SUCCEEDED  # hard cap reached exactly
        to_release = len(split) * released_fraction // 100
        for index in range(to_release):
            send(f.approveMilestoneAsIssuer(index), env.issuer)
            send(f.approveMilestoneAsArbiter(index), env.arbiter)
            send(f.releaseMilestone(index), env.admin)
        if to_release < len(split):
            send(f.cancel(), env.arbiter)
            pool = f.cancelRefundPool().call()
            for who in order:
                if contributions[who]:
                    amount = f.refundableOf(env.investors[who]).call()
                    assert amount >= contributions[who] * pool // total
                    send(f.claimRefund(), env.investors[who])
        else:
            assert f.state().call() == RoundState.CLOSED
        released = f.releasedToTreasury().call()
        fees = f.feesPaid().call()
        refunds = f.refundedTotal().call()
        assert released + fees + refunds == f.totalRaised().call() == total
        assert env.stablecoin.functions.balanceOf(env.treasury).call() == released
        assert env.stablecoin.functions.balanceOf(env.fee_recipient).call() == fees
        assert env.stablecoin.functions.balanceOf(round_.address).call() == 0
        assert fees <= (released + fees) * fee_bps // 10_000 + len(split)  # per-tranche floors only


@PROPERTY_SETTINGS
@given(uses=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(1, 50)), min_size=1, max_size=10))
def test_permit_nonce_is_single_use(env, uses):
    with ChainSnapshot(env.w3):
        round_ = open_round(env, min_investment_units=1)
        used: set[tuple[int, int]] = set()
        for who, nonce, amount in uses:
            investor = env.investors[who]
            if (who, nonce) in used:
                # the very same nonce, freshly signed (even for another amount), is refused
                with reverts(round_, "PermitNonceUsed", investor, nonce):
                    env.invest(round_, investor, amount, nonce=nonce)
            else:
                env.invest(round_, investor, amount, nonce=nonce)
                used.add((who, nonce))
            assert round_.functions.nonceUsed(investor, nonce).call()
        # the other investor's nonces are independent: a never-used pair still works
        fresh = next(n for n in range(10) if (1, n) not in used)
        env.invest(round_, env.investors[1], 1, nonce=fresh)
        with reverts(round_, "PermitNonceUsed", ANY):
            env.invest(round_, env.investors[1], 1, nonce=fresh)
