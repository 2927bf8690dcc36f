"""PortfolioFactory: one transaction deploys and wires a portfolio's clones, one event lists them."""

from __future__ import annotations

from contracts.core import PortfolioSpec, RoundSpec, deploy_portfolio
from tests.contracts.chain_helpers import USDC, World, expect_revert, now, one_event, role, world, world_deployed  # noqa: F401

ZERO = "0x" + "00" * 20
CLONE_CODE_PREFIX = "363d3d373d3d3d363d73"


def full_spec(world: World, w3) -> PortfolioSpec:
    start = now(w3)
    accounts = w3.eth.accounts
    return PortfolioSpec(
        admin=world.admin,
        treasury=world.treasury,
        name="Full Set",
        symbol="FULL",
        issuer=world.admin,
        revenue_token=world.stablecoin.address,
        round=RoundSpec(
            world.stablecoin.address,
            USDC,
            100 * USDC,
            1_000 * USDC,
            USDC,
            1_000 * USDC,
            start,
            start + 7 * 86400,
            250,
            (5_000, 5_000),
        ),
        payees=(accounts[1], accounts[2]),
        shares_bps=(6_000, 4_000),
        with_rights=True,
        royalty_receiver=world.treasury,
        royalty_bps=500,
    )


def test_full_set_is_deployed_wired_and_announced(world: World, w3) -> None:
    f, core = world.core.factory, world.core
    count_before = f.functions.portfolioCount().call()
    p = deploy_portfolio(w3, core, full_spec(world, w3))
    receipt = w3.eth.get_transaction_receipt(p.tx_hash)
    ev = one_event(f, "PortfolioCreated", receipt)
    assert ev == {
        "portfolioId": count_before + 1,
        "creator": world.admin,
        "treasury": world.treasury,
        "token": p.token.address,
        "distributor": p.distributor.address,
        "round": p.round.address,
        "splitter": p.splitter.address,
        "rightsToken": p.rights_token.address,
    }
    # every part is an EIP-1167 clone of the core's implementation
    assert p.distributor.address == p.token.address  # revenue share built into the token
    for part, impl in [
        (p.token, "token"),
        (p.round, "round"),
        (p.splitter, "splitter"),
        (p.rights_token, "rights_token"),
    ]:
        code = w3.eth.get_code(part.address).hex().removeprefix("0x")
        assert code.startswith(CLONE_CODE_PREFIX)
        assert core.implementations[impl].address[2:].lower() in code
    t = p.token
    # the round is attached to the token (its allocation reserved on the cap), not an issuer
    assert not t.functions.hasRole(role(t, "ISSUER_ROLE"), p.round.address).call()
    assert t.functions.openRound().call()[0] == p.round.address
    assert t.functions.hasRole(role(t, "ISSUER_ROLE"), world.admin).call()
    assert t.functions.hasRole(role(t, "AGENT_ROLE"), f.functions.agent().call()).call()
    assert t.functions.hasRole(b"\x00" * 32, world.admin).call()
    assert not t.functions.hasRole(b"\x00" * 32, f.address).call()
    assert t.functions.revenueToken().call() == world.stablecoin.address
    # the round accrues revenue for its investors' allocations; only the treasury is excluded
    assert p.distributor.functions.excludedAccounts().call() == [world.treasury]
    assert p.round.functions.token().call() == t.address
    assert p.round.functions.treasury().call() == world.treasury
    assert p.round.functions.feeRecipient().call() == f.functions.feeRecipient().call()
    assert core.donation_router.functions.treasuryOf(ev["portfolioId"]).call() == world.treasury


def test_optional_parts_are_skipped(world: World, w3) -> None:
    p = deploy_portfolio(
        w3, world.core, PortfolioSpec(admin=world.admin, treasury=world.treasury, name="Bare", symbol="BARE")
    )
    assert p.distributor is None and p.round is None and p.splitter is None and p.rights_token is None
    assert p.token.functions.revenueToken().call() == ZERO
    assert p.token.functions.symbol().call() == "BARE"


def test_only_creator_role(world: World, w3) -> None:
    f, stranger = world.core.factory, world.investors[0]
    spec = PortfolioSpec(admin=world.admin, treasury=world.treasury, name="N", symbol="N")
    expect_revert(
        f.functions.createPortfolio(spec.as_tuple()),
        stranger,
        "AccessControlUnauthorizedAccount",
        stranger,
        role(f, "CREATOR_ROLE"),
    )
    bad = PortfolioSpec(admin=ZERO, treasury=world.treasury, name="N", symbol="N")
    expect_revert(f.functions.createPortfolio(bad.as_tuple()), world.admin, "ZeroAddress")
    bad = PortfolioSpec(admin=world.admin, treasury=ZERO, name="N", symbol="N")
    expect_revert(f.functions.createPortfolio(bad.as_tuple()), world.admin, "ZeroAddress")


def test_platform_accounts(world: World, w3) -> None:
    f = world.core.factory
    a = w3.eth.accounts
    r = world.send(f.functions.setPlatformAccounts(a[1], a[2], a[3], a[4]))
    assert one_event(f, "PlatformAccountsSet", r) == {
        "feeRecipient": a[1],
        "complianceSigner": a[2],
        "arbiter": a[3],
        "agent": a[4],
    }
    assert f.functions.complianceSigner().call() == a[2]
    expect_revert(f.functions.setPlatformAccounts(ZERO, a[2], a[3], a[4]), world.admin, "ZeroAddress")
    expect_revert(
        f.functions.setPlatformAccounts(a[1], a[2], a[3], a[4]),
        a[5],
        "AccessControlUnauthorizedAccount",
        a[5],
        b"\x00" * 32,
    )
    spec = PortfolioSpec(admin=world.admin, treasury=world.treasury, name="N", symbol="N")
    p = deploy_portfolio(w3, world.core, spec)
    assert p.token.functions.hasRole(role(p.token, "AGENT_ROLE"), a[4]).call()


def test_round_can_mint_through_its_issuer_role(world: World, w3) -> None:
    """End to end: the factory's wiring lets the round mint to a verified investor on claim."""
    from contracts.deploy import transact
    from contracts.funding import dev_private_key, invest_with_permit

    f = world.core.factory
    signer_key = dev_private_key(9)  # deploy_core's compliance signer is accounts[9]
    assert f.functions.complianceSigner().call() == w3.eth.accounts[9]
    spec = full_spec(world, w3)
    p = deploy_portfolio(w3, world.core, spec)
    investor = world.investors[0]
    world.fund(investor, 1_000 * USDC, p.round.address)
    invest_with_permit(w3, p.round, investor=investor, amount_units=1_000 * USDC, signer_key=signer_key, nonce=1)
    transact(p.round.functions.claimTokens(), investor)
    assert p.token.functions.balanceOf(investor).call() == 1_000 * 10**18


def test_deploy_gas_of_a_portfolio_set(world: World, w3) -> None:
    p = world.create_portfolio("Gas", "GAS", revenue_token=world.stablecoin.address)
    assert p.gas_used <= 600_000
