"""Revenue share (built into PortfolioToken; `world.distributor` is the token): pro-rata accrual,
O(1) corrections on transfers, exclusions (platform only, never an investor), claims (only by a
holder that could receive a mint), fee-on-transfer and hooked revenue tokens, dust sweep on a clock
deposits cannot restart, revenue moved by a two-key recovery, roles, events."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.types import TxReceipt

from contracts.core import PortfolioSpec
from contracts.deploy import deploy_contract
from tests.contracts.chain_helpers import (  # noqa: F401
    KP,
    MAX_UINT64,
    TOKEN,
    US,
    USDC,
    World,
    events,
    expect_revert,
    now,
    one_event,
    role,
    warp,
    world,
    world_deployed,
)

ZERO = "0x" + "00" * 20
M = 2**128
DAY = 24 * 3600
HOUR = 3600
LOST_KEYS = Web3.keccak(text="LOST_KEYS")


def near(got: int, exact: int) -> bool:
    """Pro-rata shares are floored: a holder may get one base unit less than the exact share."""
    return exact - 1 <= got <= exact


def claimable(world: World, who: str) -> int:
    return world.distributor.functions.claimable(who).call()


def recover(world: World, lost: str, to: str, amount: int, with_revenue: bool) -> TxReceipt:
    """The agent proposes a recovery, the delay passes, the approver executes it."""
    t = world.token
    r = world.send(t.functions.proposeRecovery(lost, to, amount, with_revenue, LOST_KEYS), world.agent)
    request_id = one_event(t, "RecoveryProposed", r)["id"]
    warp(world.w3, t.functions.recoveryDelay().call())
    return world.send(t.functions.executeRecovery(request_id), world.approver)


def test_initial_state(world: World) -> None:
    d = world.distributor
    assert d.address == world.token.address  # the revenue share lives in the token
    assert d.functions.revenueToken().call() == world.stablecoin.address
    assert d.functions.excludedAccounts().call() == [world.treasury]
    assert d.functions.isExcluded(world.treasury).call() is True
    # the dust-sweep clock started when the token was initialised
    created_at = world.w3.eth.get_block(world.portfolio.block_number)["timestamp"]
    assert d.functions.dustSweepSchedule().call() == [created_at, 30 * DAY]
    assert d.functions.magnifiedPerShare().call() == 0
    assert d.functions.revenueTotals().call() == [0, 0]


def test_deposit_requires_eligible_supply(world: World) -> None:
    d = world.distributor
    world.fund(world.admin, 100, d.address)
    expect_revert(d.functions.deposit(100), world.admin, "NoEligibleSupply")
    world.mint(world.treasury, 10 * TOKEN)  # excluded holder only: still nothing eligible
    expect_revert(d.functions.deposit(100), world.admin, "NoEligibleSupply")
    expect_revert(d.functions.deposit(0), world.admin, "ZeroAmount")


def test_deposit_splits_pro_rata_and_emits(world: World) -> None:
    d = world.distributor
    a, b = world.investors[:2]
    world.mint(a, 30 * TOKEN)
    world.mint(b, 10 * TOKEN)
    world.mint(world.treasury, 60 * TOKEN)  # excluded
    assert d.functions.eligibleSupply().call() == 40 * TOKEN
    r = world.deposit(1_000 * USDC)
    ev = one_event(d, "RevenueDeposited", r)
    assert ev["depositor"] == world.admin and ev["amountSent"] == ev["amountCredited"] == 1_000 * USDC
    assert ev["eligibleSupply"] == 40 * TOKEN
    assert ev["magnifiedPerShare"] == d.functions.magnifiedPerShare().call() == 1_000 * USDC * M // (40 * TOKEN)
    assert near(claimable(world, a), 750 * USDC)
    assert near(claimable(world, b), 250 * USDC)
    assert claimable(world, world.treasury) == 0
    assert d.functions.revenueTotals().call()[0] == 1_000 * USDC


def test_transfer_keeps_past_revenue_with_the_sender(world: World) -> None:
    t = world.token
    a, b, c = world.investors[:3]
    world.mint(a, 50 * TOKEN)
    world.mint(b, 50 * TOKEN)
    world.deposit(100 * USDC)
    world.send(t.functions.transfer(c, 50 * TOKEN), a)
    assert near(claimable(world, a), 50 * USDC)
    assert claimable(world, c) == 0
    world.deposit(100 * USDC)
    assert near(claimable(world, a), 50 * USDC)
    assert near(claimable(world, b), 100 * USDC)
    assert near(claimable(world, c), 50 * USDC)


def test_claim_pays_and_cannot_be_repeated(world: World) -> None:
    d, s = world.distributor, world.stablecoin
    a, b = world.investors[:2]
    world.mint(a, 1 * TOKEN)
    world.mint(b, 3 * TOKEN)
    world.deposit(400 * USDC)
    before = s.functions.balanceOf(a).call()
    r = world.send(d.functions.claim(), a)
    paid = one_event(d, "RevenueClaimed", r)
    assert paid["holder"] == a and near(paid["amount"], 100 * USDC)
    assert s.functions.balanceOf(a).call() - before == paid["amount"]
    assert d.functions.revenueTotals().call()[1] == paid["amount"]
    expect_revert(d.functions.claim(), a, "NothingToClaim", a)
    # moving the tokens after a claim does not create a second claim anywhere
    world.send(world.token.functions.transfer(world.investors[2], 1 * TOKEN), a)
    expect_revert(d.functions.claim(), world.investors[2], "NothingToClaim", world.investors[2])
    expect_revert(d.functions.claim(), a, "NothingToClaim", a)


def test_mint_and_burn_after_revenue_do_not_change_past_accrual(world: World) -> None:
    a, b = world.investors[:2]
    world.mint(a, 10 * TOKEN)
    world.deposit(100 * USDC)
    world.mint(b, 10 * TOKEN)
    assert claimable(world, b) == 0
    world.send(world.token.functions.burn(a, 10 * TOKEN), a)
    assert near(claimable(world, a), 100 * USDC)
    world.deposit(100 * USDC)
    assert near(claimable(world, a), 100 * USDC)
    assert near(claimable(world, b), 100 * USDC)


def test_fee_on_transfer_token_credits_what_arrives(world: World, w3) -> None:
    fot = deploy_contract(w3, "MockFeeOnTransferToken", 100)  # 1 % fee
    p = world.create_portfolio("FOT", "FOT", revenue_token=fot.address)
    d = p.distributor
    world.send(p.token.functions.mint(world.investors[0], TOKEN))
    world.send(fot.functions.mint(world.admin, 1_000 * USDC))
    world.send(fot.functions.approve(d.address, 2**256 - 1))
    r = world.send(d.functions.deposit(1_000 * USDC))
    ev = one_event(d, "RevenueDeposited", r)
    assert ev["amountSent"] == 1_000 * USDC and ev["amountCredited"] == 990 * USDC
    assert d.functions.revenueTotals().call()[0] == 990 * USDC
    assert near(d.functions.claimable(world.investors[0]).call(), 990 * USDC)


def test_exclusion_stops_and_resumes_accrual(world: World) -> None:
    """An escrow account (no tokens, not an investor) is excluded by the platform; what it then holds
    leaves the eligible supply and earns nothing; re-included, it accrues from then on, nothing retroactive."""
    d, reg = world.distributor, world.registry
    a, b, escrow = world.investors[0], world.investors[1], world.outsider
    world.mint(a, 10 * TOKEN)
    world.mint(b, 10 * TOKEN)
    r = world.send(d.functions.setExcluded(escrow, True))  # the platform (admin here)
    assert one_event(d, "ExclusionSet", r) == {"account": escrow, "excluded": True, "balance": 0}
    assert d.functions.isExcluded(escrow).call() is True
    world.send(reg.functions.setInvestor(escrow, MAX_UINT64, US, True))  # cleared to hold tokens
    world.mint(escrow, 20 * TOKEN)
    assert d.functions.eligibleSupply().call() == 20 * TOKEN
    world.deposit(100 * USDC)
    assert claimable(world, escrow) == 0
    assert near(claimable(world, a), 50 * USDC)
    assert near(claimable(world, b), 50 * USDC)
    r = world.send(d.functions.setExcluded(escrow, False))
    assert one_event(d, "ExclusionSet", r) == {"account": escrow, "excluded": False, "balance": 20 * TOKEN}
    assert claimable(world, escrow) == 0
    assert d.functions.eligibleSupply().call() == 40 * TOKEN
    world.deposit(200 * USDC)
    assert near(claimable(world, escrow), 100 * USDC)
    assert near(claimable(world, a), 100 * USDC)
    assert near(claimable(world, b), 100 * USDC)
    expect_revert(d.functions.setExcluded(escrow, False), world.admin, "ExclusionUnchanged", escrow, False)


def test_an_excluded_account_keeps_what_it_had_earned(world: World) -> None:
    """Revenue earned before the exclusion stays claimable (frozen), whatever is deposited after."""
    d, reg, s = world.distributor, world.registry, world.stablecoin
    a, b = world.investors[:2]
    world.mint(a, 10 * TOKEN)
    world.mint(b, 10 * TOKEN)
    world.deposit(100 * USDC)
    # a leaves: sells its tokens and its KYC lapses; only then may the platform exclude it
    world.send(world.token.functions.transfer(b, 10 * TOKEN), a)
    world.send(reg.functions.setInvestor(a, 1, US, True))
    earned = claimable(world, a)
    assert near(earned, 50 * USDC)
    world.send(d.functions.setExcluded(a, True))
    world.deposit(100 * USDC)
    assert claimable(world, a) == earned
    assert near(claimable(world, b), 150 * USDC)
    world.send(reg.functions.setInvestor(a, MAX_UINT64, US, True))  # renewed: it may claim again
    before = s.functions.balanceOf(a).call()
    world.send(d.functions.claim(), a)
    assert s.functions.balanceOf(a).call() - before == earned
    assert claimable(world, a) == 0


def test_only_the_platform_excludes_and_never_an_investor_or_a_holder(world: World) -> None:
    d, reg = world.distributor, world.registry
    a, b, newcomer = world.investors[0], world.investors[1], world.outsider
    world.mint(a, 10 * TOKEN)
    expect_revert(d.functions.setExcluded(a, True), world.admin, "ExclusionNotAllowed", a)  # holder + investor
    expect_revert(d.functions.setExcluded(b, True), world.admin, "ExclusionNotAllowed", b)  # investor, no tokens yet
    world.send(reg.functions.setInvestor(a, 1, US, True))  # KYC lapsed, but still a holder
    expect_revert(d.functions.setExcluded(a, True), world.admin, "ExclusionNotAllowed", a)
    expect_revert(d.functions.setExcluded(ZERO, True), world.admin, "ZeroAddress")
    platform = role(d, "PLATFORM_ROLE")
    # neither a holder nor a creator co-admin without PLATFORM_ROLE (the creator could stop an investor's revenue)
    co_admin = world.investors[3]
    world.send(d.functions.grantRole(b"\x00" * 32, co_admin))
    world.send(d.functions.grantRole(role(d, "ISSUER_ROLE"), co_admin))
    for key in (b, co_admin, world.agent, world.approver):
        expect_revert(d.functions.setExcluded(newcomer, True), key, "AccessControlUnauthorizedAccount", key, platform)
        expect_revert(
            d.functions.setExcluded(world.treasury, False), key, "AccessControlUnauthorizedAccount", key, platform
        )
    assert d.functions.excludedAccounts().call() == [world.treasury]


def test_excluded_list_is_bounded(world: World, w3) -> None:
    d = world.distributor
    extra = [w3.eth.account.create().address for _ in range(8)]
    for who in extra[:7]:
        world.send(d.functions.setExcluded(who, True))
    assert len(d.functions.excludedAccounts().call()) == 8
    expect_revert(d.functions.setExcluded(extra[7], True), world.admin, "TooManyExcluded", 8)
    world.send(d.functions.setExcluded(extra[0], False))
    assert extra[0] not in d.functions.excludedAccounts().call()
    assert len(d.functions.excludedAccounts().call()) == 7


def test_dust_sweep_only_after_deadline_and_only_surplus(world: World, w3) -> None:
    d, s = world.distributor, world.stablecoin
    a, b, c = world.investors[:3]
    for who in (a, b, c):
        world.mint(who, 1)
    world.deposit(100)  # 100 / 3 per unit of token: 33 each, 1 unit stays as the holders' fractions
    assert sum(claimable(world, x) for x in (a, b, c)) == 99
    world.send(s.functions.mint(d.address, 5))  # stray tokens sent without deposit
    clock_started_at = d.functions.dustSweepSchedule().call()[0]
    expect_revert(d.functions.sweepDust(world.admin), world.admin, "SweepTooEarly", clock_started_at + 30 * DAY)
    warp(w3, 30 * DAY)
    assert d.functions.sweepableDust().call() == 5
    issuer = role(world.token, "ISSUER_ROLE")
    expect_revert(d.functions.sweepDust(a), a, "AccessControlUnauthorizedAccount", a, issuer)
    expect_revert(d.functions.sweepDust(ZERO), world.admin, "ZeroAddress")
    r = world.send(d.functions.sweepDust(world.treasury))
    assert one_event(d, "DustSwept", r) == {"to": world.treasury, "amount": 5, "issuer": world.admin}
    assert d.functions.sweepableDust().call() == 0  # the holders' revenue and their fractions stay
    # the sweep restarts the clock: new stray tokens wait another full delay
    swept_at = w3.eth.get_block(r["blockNumber"])["timestamp"]
    assert d.functions.dustSweepSchedule().call() == [swept_at, 30 * DAY]
    expect_revert(d.functions.sweepDust(world.treasury), world.admin, "SweepTooEarly", swept_at + 30 * DAY)
    warp(w3, 30 * DAY)
    expect_revert(d.functions.sweepDust(world.treasury), world.admin, "NothingToSweep")
    world.send(s.functions.mint(d.address, 2))
    # holders are still paid in full after the sweep
    for who in (a, b, c):
        world.send(d.functions.claim(), who)
    assert s.functions.balanceOf(d.address).call() == 1 + 2  # the holders' fractions and the new strays


def test_a_tiny_deposit_cannot_postpone_the_dust_sweep(world: World, w3) -> None:
    """Deposits do not move the sweep clock: a 1-unit deposit just before the deadline changes nothing."""
    d, s = world.distributor, world.stablecoin
    world.mint(world.investors[0], TOKEN)
    world.send(s.functions.mint(d.address, 5))  # stray tokens sent without deposit
    schedule = d.functions.dustSweepSchedule().call()
    warp(w3, schedule[0] + schedule[1] - now(w3) - HOUR)
    r = world.deposit(1, depositor=world.investors[1])  # anyone may deposit
    assert one_event(d, "RevenueDeposited", r)["amountCredited"] == 1
    assert d.functions.dustSweepSchedule().call() == schedule
    expect_revert(d.functions.sweepDust(world.treasury), world.admin, "SweepTooEarly", schedule[0] + schedule[1])
    warp(w3, HOUR)
    world.deposit(1, depositor=world.investors[1])  # not even one just before the sweep
    r = world.send(d.functions.sweepDust(world.treasury))
    assert one_event(d, "DustSwept", r)["amount"] == 5


def test_a_frozen_holder_cannot_claim_but_keeps_accruing(world: World) -> None:
    d, reg, s = world.distributor, world.registry, world.stablecoin
    a, b = world.investors[:2]
    world.mint(a, 10 * TOKEN)
    world.mint(b, 10 * TOKEN)
    world.deposit(100 * USDC)
    world.send(reg.functions.setFrozen(a, True))
    expect_revert(d.functions.claim(), a, "TransferRestricted", 4)
    world.deposit(100 * USDC)  # a still accrues while frozen
    assert near(claimable(world, a), 100 * USDC)
    world.send(d.functions.claim(), b)  # the others are not affected
    assert claimable(world, b) == 0
    world.send(reg.functions.setFrozen(a, False))
    owed = claimable(world, a)
    r = world.send(d.functions.claim(), a)
    assert one_event(d, "RevenueClaimed", r) == {"holder": a, "amount": owed}
    assert s.functions.balanceOf(a).call() == owed
    assert claimable(world, a) == 0


def test_claim_checks_the_holder_like_a_mint_recipient(world: World) -> None:
    """Expired KYC (2) and a blocked country (7) block a claim; a missing accreditation (8) does not."""
    d, t, reg = world.distributor, world.token, world.registry
    expired, blocked, unaccredited = world.investors[:3]
    for who in (expired, blocked, unaccredited):
        world.mint(who, 10 * TOKEN)
    world.deposit(300 * USDC)
    world.send(reg.functions.setInvestor(expired, 1, US, True))
    world.send(reg.functions.setInvestor(blocked, MAX_UINT64, KP, True))
    world.send(reg.functions.setCountryBlocked(t.address, KP, True))
    world.send(reg.functions.setAccreditationRequired(t.address, True))
    world.send(reg.functions.setInvestor(unaccredited, MAX_UINT64, US, False))
    expect_revert(d.functions.claim(), expired, "TransferRestricted", 2)
    expect_revert(d.functions.claim(), blocked, "TransferRestricted", 7)
    r = world.send(d.functions.claim(), unaccredited)
    assert near(one_event(d, "RevenueClaimed", r)["amount"], 100 * USDC)
    # both keep their revenue until they are cleared again
    world.send(reg.functions.setInvestor(expired, MAX_UINT64, US, True))
    world.send(reg.functions.setCountryBlocked(t.address, KP, False))
    for who in (expired, blocked):
        assert near(claimable(world, who), 100 * USDC)
        world.send(d.functions.claim(), who)
        assert claimable(world, who) == 0


def test_recovery_moves_the_claimable_only_when_asked(world: World) -> None:
    """A frozen, lost wallet cannot claim; a recovery with `withRevenue` hands its revenue to the replacement."""
    d, t, reg = world.distributor, world.token, world.registry
    lost, new = world.investors[:2]
    world.mint(lost, 10 * TOKEN)
    world.deposit(70 * USDC)
    world.send(reg.functions.setFrozen(lost, True))
    expect_revert(d.functions.claim(), lost, "TransferRestricted", 4)
    # tokens only: the revenue earned so far stays with the lost wallet
    r = recover(world, lost, new, 10 * TOKEN, with_revenue=False)
    assert events(d, "ClaimableMoved", r) == []
    earned = claimable(world, lost)
    assert near(earned, 70 * USDC)
    assert claimable(world, new) == 0
    world.deposit(30 * USDC)  # accrues to the new wallet, which now holds the tokens
    assert claimable(world, lost) == earned
    assert near(claimable(world, new), 30 * USDC)
    new_before = claimable(world, new)
    # revenue only (amount 0): every whole unit the lost wallet can claim moves
    r = recover(world, lost, new, 0, with_revenue=True)
    assert events(t, "Transfer", r) == [] and events(t, "ForcedTransfer", r) == []
    assert one_event(d, "ClaimableMoved", r) == {"agent": world.approver, "from": lost, "to": new, "amount": earned}
    assert claimable(world, lost) == 0
    assert claimable(world, new) == new_before + earned
    # nothing left to move: the recovery runs but moves nothing
    r = recover(world, lost, new, 0, with_revenue=True)
    assert events(d, "ClaimableMoved", r) == []
    assert claimable(world, new) == new_before + earned
    r = world.send(d.functions.claim(), new)
    assert one_event(d, "RevenueClaimed", r)["amount"] == new_before + earned


def test_recovery_with_revenue_moves_tokens_and_revenue_at_once(world: World) -> None:
    d, t = world.distributor, world.token
    lost, new = world.investors[:2]
    world.mint(lost, 10 * TOKEN)
    world.deposit(70 * USDC)
    earned = claimable(world, lost)
    r = recover(world, lost, new, 10 * TOKEN, with_revenue=True)
    assert one_event(t, "ForcedTransfer", r)["amount"] == 10 * TOKEN
    moved = one_event(d, "ClaimableMoved", r)
    assert (moved["agent"], moved["from"], moved["to"], moved["amount"]) == (world.approver, lost, new, earned)
    assert near(earned, 70 * USDC)
    assert claimable(world, lost) == 0 and claimable(world, new) == earned
    assert t.functions.balanceOf(new).call() == 10 * TOKEN
    expect_revert(d.functions.claim(), lost, "NothingToClaim", lost)


@pytest.mark.parametrize("into_eligible", [True, False], ids=["into-eligible-supply", "out-of-eligible-supply"])
def test_a_revenue_token_hook_cannot_make_the_pool_owe_more_than_it_holds(
    world: World, w3, into_eligible: bool
) -> None:
    """The revenue token's transferFrom calls back into the portfolio token and moves 20 tokens
    between the excluded treasury and an investor. The deposit divides by the eligible supply read
    after the transfer, so what the holders can claim adds up to the deposit and no more."""
    hook = deploy_contract(w3, "TestReentrantERC20")
    p = world.create_portfolio("Hooked", "HOOK", revenue_token=hook.address)
    t, a, b = p.token, world.investors[0], world.investors[1]
    world.send(t.functions.mint(a, 10 * TOKEN))
    world.send(t.functions.mint(b, 20 * TOKEN))
    world.send(t.functions.mint(world.treasury, 20 * TOKEN))  # excluded at creation
    source, target = (world.treasury, b) if into_eligible else (b, world.treasury)
    world.send(t.functions.approve(hook.address, 20 * TOKEN), source)
    world.send(hook.functions.arm(t.address, t.encode_abi("transferFrom", args=[source, target, 20 * TOKEN])))
    world.send(hook.functions.mint(world.admin, 900 * USDC))
    world.send(hook.functions.approve(t.address, 2**256 - 1))
    assert t.functions.eligibleSupply().call() == 30 * TOKEN
    r = world.send(t.functions.deposit(900 * USDC))
    assert t.functions.balanceOf(source).call() == 0  # the hook did run
    supply_after = 50 * TOKEN if into_eligible else 10 * TOKEN
    assert t.functions.eligibleSupply().call() == supply_after
    assert one_event(t, "RevenueDeposited", r)["eligibleSupply"] == supply_after
    held = hook.functions.balanceOf(t.address).call()
    assert held == 900 * USDC
    owed = {who: t.functions.claimable(who).call() for who in (a, b, world.treasury)}
    assert sum(owed.values()) <= held
    assert owed[world.treasury] == 0
    if into_eligible:
        assert near(owed[a], 180 * USDC) and near(owed[b], 720 * USDC)
    else:
        assert near(owed[a], 900 * USDC) and owed[b] == 0
    for who in (a, b):
        if owed[who]:
            world.send(t.functions.claim(), who)
    assert hook.functions.balanceOf(t.address).call() == held - sum(owed.values())


def test_revenue_disabled_without_revenue_token(world: World, w3) -> None:
    p = world.create_portfolio("N", "N")
    t = p.token
    assert t.functions.revenueToken().call() == ZERO
    expect_revert(t.functions.deposit(1), world.admin, "RevenueDisabled")
    expect_revert(t.functions.setExcluded(world.outsider, True), world.admin, "RevenueDisabled")
    expect_revert(t.functions.sweepDust(world.admin), world.admin, "RevenueDisabled")
    assert t.functions.sweepableDust().call() == 0


def test_sweep_delay_bounds(world: World) -> None:
    for delay in (60, 3651 * DAY):
        spec = PortfolioSpec(
            admin=world.admin,
            treasury=world.treasury,
            name="X",
            symbol="X",
            revenue_token=world.stablecoin.address,
            dust_sweep_delay_s=delay,
        )
        expect_revert(
            world.core.factory.functions.createPortfolio(spec.as_tuple()),
            world.admin,
            "DelayOutOfRange",
            delay,
            DAY,
            3650 * DAY,
        )


def test_claim_gas_is_independent_of_holder_count(world: World, w3) -> None:
    d = world.distributor
    a = world.investors[0]
    world.mint(a, 1 * TOKEN)
    world.deposit(10 * USDC)
    world.send(d.functions.claim(), a)
    world.deposit(10 * USDC)
    few = world.send(d.functions.claim(), a)["gasUsed"]
    holders = [w3.eth.account.create().address for _ in range(120)]
    from contracts.core import verify_investors

    verify_investors(world.core, holders)
    for h in holders:
        world.mint(h, TOKEN)
    world.deposit(10 * USDC)
    many = world.send(d.functions.claim(), a)["gasUsed"]
    assert few == many


def test_accounting_can_never_overflow_a_transfer(world: World) -> None:
    """Supply is capped at 2^96 and a deposit may not push magnifiedPerShare above 2^150, so
    magnifiedPerShare × any amount fits the int248 corrections: transfers cannot be bricked."""
    t, a = world.token, world.investors[0]
    limit = t.functions.SUPPLY_LIMIT().call()
    assert limit == 2**96 and t.functions.MAX_PER_SHARE().call() == 2**150
    expect_revert(t.functions.mint(a, limit + 1), world.admin, "CapExceeded", limit, limit + 1)
    world.mint(a, 1)  # an absurdly small eligible supply: one base unit
    world.fund(world.admin, 10 * USDC, t.address)
    per_share = 10 * USDC * M
    expect_revert(t.functions.deposit(10 * USDC), world.admin, "RevenuePerTokenTooHigh", per_share, 2**150)
    world.deposit(4 * USDC)  # 4e6 * 2^128 < 2^150: accepted
    world.mint(world.investors[1], limit - 1)
    world.send(t.functions.transfer(a, limit - 1), world.investors[1])  # the largest possible movement
    assert near(claimable(world, a), 4 * USDC)


def test_typed_readers(world: World) -> None:
    from contracts.core import investor_status, restriction_code, revenue_state

    a = world.investors[0]
    world.mint(a, 10 * TOKEN)
    world.deposit(5 * USDC)
    state = revenue_state(world.token)
    assert state.revenue_token == world.stablecoin.address
    assert state.total_deposited_units == 5 * USDC and state.total_claimed_units == 0
    assert state.eligible_supply_units == 10 * TOKEN and state.excluded == (world.treasury,)
    assert state.dust_sweep_delay_s == 30 * DAY
    assert state.sweep_clock_started_at_s == world.token.functions.dustSweepSchedule().call()[0] > 0
    status = investor_status(world.core, a)
    assert status.country == 840 and status.accredited and not status.frozen
    assert restriction_code(world.token, a, world.outsider, 1) == 2
