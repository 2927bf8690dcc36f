"""Revenue share (built into PortfolioToken; `world.distributor` is the token): pro-rata accrual,
O(1) corrections on transfers, exclusions, claims, fee-on-transfer crediting, dust sweep after the
deadline, lost-wallet recovery, roles, events."""

from __future__ import annotations

from contracts.core import PortfolioSpec, deploy_portfolio
from contracts.deploy import deploy_contract
from tests.contracts.chain_helpers import (  # noqa: F401
    TOKEN,
    USDC,
    World,
    expect_revert,
    one_event,
    role,
    warp,
    world,
    world_deployed,
)

ZERO = "0x" + "00" * 20
M = 2**128
DAY = 24 * 3600


def near(got: int, exact: int) -> bool:
    """Pro-rata shares are floored: a holder may get one base unit less than the exact share."""
    return exact - 1 <= got <= exact


def claimable(world: World, who: str) -> int:
    return world.distributor.functions.claimable(who).call()


def test_initial_state(world: World) -> None:
    d = world.distributor
    assert d.address == world.token.address  # the revenue share lives in the token
    assert d.functions.revenueToken().call() == world.stablecoin.address
    assert d.functions.excludedAccounts().call() == [world.treasury]
    assert d.functions.isExcluded(world.treasury).call() is True
    assert d.functions.dustSweepSchedule().call() == [0, 30 * DAY]
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
    world.send(world.token.functions.burn(a, 10 * TOKEN))
    assert near(claimable(world, a), 100 * USDC)
    world.deposit(100 * USDC)
    assert near(claimable(world, a), 100 * USDC)
    assert near(claimable(world, b), 100 * USDC)


def test_fee_on_transfer_token_credits_what_arrives(world: World, w3) -> None:
    fot = deploy_contract(w3, "MockFeeOnTransferToken", 100)  # 1 % fee
    p = deploy_portfolio(
        w3,
        world.core,
        PortfolioSpec(
            admin=world.admin,
            treasury=world.treasury,
            name="FOT",
            symbol="FOT",
            issuer=world.admin,
            revenue_token=fot.address,
        ),
    )
    d = p.distributor
    world.send(p.token.functions.mint(world.investors[0], TOKEN))
    world.send(fot.functions.mint(world.admin, 1_000 * USDC))
    world.send(fot.functions.approve(d.address, 2**256 - 1))
    r = world.send(d.functions.deposit(1_000 * USDC))
    ev = one_event(d, "RevenueDeposited", r)
    assert ev["amountSent"] == 1_000 * USDC and ev["amountCredited"] == 990 * USDC
    assert d.functions.revenueTotals().call()[0] == 990 * USDC
    assert near(d.functions.claimable(world.investors[0]).call(), 990 * USDC)


def test_exclusion_freezes_and_resumes_accrual(world: World) -> None:
    d = world.distributor
    a, b = world.investors[:2]
    world.mint(a, 10 * TOKEN)
    world.mint(b, 10 * TOKEN)
    world.deposit(100 * USDC)
    r = world.send(d.functions.setExcluded(a, True))
    assert one_event(d, "ExclusionSet", r) == {"account": a, "excluded": True, "balance": 10 * TOKEN}
    assert d.functions.eligibleSupply().call() == 10 * TOKEN
    world.deposit(100 * USDC)
    assert near(claimable(world, a), 50 * USDC)  # frozen at exclusion, still claimable
    assert near(claimable(world, b), 150 * USDC)
    world.send(d.functions.claim(), a)
    world.send(d.functions.setExcluded(a, False))
    assert claimable(world, a) == 0
    world.deposit(200 * USDC)
    assert near(claimable(world, a), 100 * USDC)
    assert near(claimable(world, b), 250 * USDC)
    expect_revert(d.functions.setExcluded(a, False), world.admin, "ExclusionUnchanged", a, False)
    expect_revert(d.functions.setExcluded(ZERO, True), world.admin, "ZeroAddress")
    expect_revert(d.functions.setExcluded(b, True), a, "AccessControlUnauthorizedAccount", a, b"\x00" * 32)


def test_excluded_list_is_bounded(world: World, w3) -> None:
    d = world.distributor
    extra = [w3.eth.account.create().address for _ in range(7)]
    for who in extra:
        world.send(d.functions.setExcluded(who, True))
    assert len(d.functions.excludedAccounts().call()) == 8
    expect_revert(d.functions.setExcluded(world.investors[4], True), world.admin, "TooManyExcluded", 8)
    world.send(d.functions.setExcluded(extra[0], False))
    assert extra[0] not in d.functions.excludedAccounts().call()
    assert len(d.functions.excludedAccounts().call()) == 7


def test_dust_sweep_only_after_deadline_and_only_surplus(world: World, w3) -> None:
    d, s = world.distributor, world.stablecoin
    a, b, c = world.investors[:3]
    for who in (a, b, c):
        world.mint(who, 1)
    world.deposit(100)  # 100 / 3 per unit of token: 33 each, 1 unit of pool dust stays in leftover
    assert sum(claimable(world, x) for x in (a, b, c)) == 99
    world.send(s.functions.mint(d.address, 5))  # stray tokens sent without deposit
    expect_revert(
        d.functions.sweepDust(world.admin),
        world.admin,
        "SweepTooEarly",
        d.functions.dustSweepSchedule().call()[0] + 30 * DAY,
    )
    warp(w3, 30 * DAY)
    assert d.functions.sweepableDust().call() == 5
    issuer = role(world.token, "ISSUER_ROLE")
    expect_revert(d.functions.sweepDust(a), a, "AccessControlUnauthorizedAccount", a, issuer)
    expect_revert(d.functions.sweepDust(ZERO), world.admin, "ZeroAddress")
    r = world.send(d.functions.sweepDust(world.treasury))
    assert one_event(d, "DustSwept", r) == {"to": world.treasury, "amount": 5, "issuer": world.admin}
    expect_revert(d.functions.sweepDust(world.treasury), world.admin, "NothingToSweep")
    # holders are still paid in full after the sweep
    for who in (a, b, c):
        world.send(d.functions.claim(), who)
    assert s.functions.balanceOf(d.address).call() == 1


def test_move_claimable_for_wallet_recovery(world: World) -> None:
    d, t = world.distributor, world.token
    lost, new = world.investors[:2]
    world.mint(lost, 10 * TOKEN)
    world.deposit(70 * USDC)
    world.send(t.functions.forcedTransfer(lost, new, 10 * TOKEN))
    assert near(claimable(world, lost), 70 * USDC)
    r = world.send(d.functions.moveClaimable(lost, new))
    moved = one_event(d, "ClaimableMoved", r)
    assert (moved["agent"], moved["from"], moved["to"]) == (world.admin, lost, new) and near(moved["amount"], 70 * USDC)
    assert claimable(world, lost) == 0
    assert claimable(world, new) == moved["amount"]
    expect_revert(d.functions.moveClaimable(lost, new), world.admin, "NothingToClaim", lost)
    expect_revert(d.functions.moveClaimable(ZERO, new), world.admin, "ZeroAddress")
    expect_revert(
        d.functions.moveClaimable(new, lost), new, "AccessControlUnauthorizedAccount", new, role(t, "AGENT_ROLE")
    )


def test_revenue_disabled_without_revenue_token(world: World, w3) -> None:
    p = deploy_portfolio(
        w3,
        world.core,
        PortfolioSpec(admin=world.admin, treasury=world.treasury, name="N", symbol="N", issuer=world.admin),
    )
    t = p.token
    assert t.functions.revenueToken().call() == ZERO
    expect_revert(t.functions.deposit(1), world.admin, "RevenueDisabled")
    expect_revert(t.functions.setExcluded(world.investors[0], True), world.admin, "RevenueDisabled")
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
    assert state.dust_sweep_delay_s == 30 * DAY and state.last_deposit_at_s > 0
    status = investor_status(world.core, a)
    assert status.country == 840 and status.accredited and not status.frozen
    assert restriction_code(world.token, a, world.outsider, 1) == 2
