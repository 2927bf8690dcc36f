"""PortfolioToken: registry-checked transfers (incl. mint), issuer mint/burn, cap, pause,
forced transfer, permit + votes, roles and events."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from contracts.core import PortfolioSpec, deploy_portfolio
from contracts.funding import dev_private_key
from tests.contracts.chain_helpers import (  # noqa: F401
    KP,
    TOKEN,
    US,
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


def test_initial_state(world: World) -> None:
    t = world.token
    assert t.functions.name().call() == "Kogi Portfolio"
    assert t.functions.symbol().call() == "KOGI"
    assert t.functions.decimals().call() == 18
    assert t.functions.registry().call() == world.registry.address
    assert t.functions.revenueToken().call() == world.stablecoin.address
    assert t.functions.cap().call() == 0
    assert t.functions.paused().call() is False
    assert t.functions.hasRole(role(t, "ISSUER_ROLE"), world.admin).call()
    assert t.functions.hasRole(role(t, "AGENT_ROLE"), world.admin).call()
    # EIP-712 domain (permit) uses the token name and version "1"
    domain = t.functions.eip712Domain().call()
    assert domain[1] == "Kogi Portfolio" and domain[2] == "1" and domain[4] == t.address


def test_implementation_cannot_be_initialized(world: World) -> None:
    impl = world.core.implementations["token"]
    init_args = ("X", "X", 0, ZERO, world.admin, ZERO, [])
    expect_revert(impl.functions.initialize(*init_args), world.admin, "InvalidInitialization")
    expect_revert(world.token.functions.initialize(*init_args), world.admin, "InvalidInitialization")


def test_mint_and_transfer_happy_path(world: World, w3) -> None:
    t = world.token
    a, b = world.investors[:2]
    r = world.mint(a, 100 * TOKEN)
    assert one_event(t, "Transfer", r) == {"from": ZERO, "to": a, "value": 100 * TOKEN}
    r = world.send(t.functions.transfer(b, 40 * TOKEN), a)
    assert one_event(t, "Transfer", r) == {"from": a, "to": b, "value": 40 * TOKEN}
    assert t.functions.balanceOf(a).call() == 60 * TOKEN
    assert t.functions.balanceOf(b).call() == 40 * TOKEN
    assert t.functions.detectTransferRestriction(a, b, 1).call() == 0
    # transferFrom goes through the same hook
    world.send(t.functions.approve(world.investors[2], 10 * TOKEN), a)
    world.send(t.functions.transferFrom(a, b, 10 * TOKEN), world.investors[2])
    assert t.functions.balanceOf(b).call() == 50 * TOKEN


def test_every_restriction_reverts_with_its_code(world: World, w3) -> None:
    t, reg = world.token, world.registry
    a, b, c = world.investors[:3]
    world.mint(a, 10 * TOKEN)
    world.mint(c, 10 * TOKEN)
    expect_revert(t.functions.transfer(world.outsider, 1), a, "TransferRestricted", 2)
    expect_revert(world.token.functions.mint(world.outsider, 1), world.admin, "TransferRestricted", 2)
    world.send(reg.functions.setFrozen(b, True))
    expect_revert(t.functions.transfer(b, 1), a, "TransferRestricted", 4)
    world.send(reg.functions.setFrozen(a, True))
    expect_revert(t.functions.transfer(c, 1), a, "TransferRestricted", 3)
    world.send(reg.functions.batchSetFrozen([a, b], [False, False]))
    world.send(reg.functions.setLockup(t.address, a, now(w3) + 500))
    expect_revert(t.functions.transfer(c, 1), a, "TransferRestricted", 5)
    world.send(reg.functions.setLockup(t.address, a, 0))
    world.send(reg.functions.setInvestor(c, 2**64 - 1, KP, True))
    world.send(reg.functions.setCountryBlocked(t.address, KP, True))
    expect_revert(t.functions.transfer(a, 1), c, "TransferRestricted", 6)
    expect_revert(t.functions.transfer(c, 1), a, "TransferRestricted", 7)
    world.send(reg.functions.setAccreditationRequired(t.address, True))
    world.send(reg.functions.setInvestor(b, 2**64 - 1, US, False))
    expect_revert(t.functions.transfer(b, 1), a, "TransferRestricted", 8)
    world.send(reg.functions.setInvestor(a, 1, US, True))  # KYC expired long ago
    expect_revert(t.functions.transfer(world.investors[3], 1), a, "TransferRestricted", 1)


def test_burn_by_issuer_even_from_frozen_wallet(world: World) -> None:
    t, a = world.token, world.investors[0]
    world.mint(a, 10 * TOKEN)
    world.send(world.registry.functions.setFrozen(a, True))
    r = world.send(t.functions.burn(a, 4 * TOKEN))
    assert one_event(t, "Transfer", r) == {"from": a, "to": ZERO, "value": 4 * TOKEN}
    assert t.functions.totalSupply().call() == 6 * TOKEN
    expect_revert(t.functions.burn(a, 7 * TOKEN), world.admin, "ERC20InsufficientBalance", a, 6 * TOKEN, 7 * TOKEN)


def test_issuer_role_gates_mint_and_burn(world: World) -> None:
    t, a = world.token, world.investors[0]
    issuer = role(t, "ISSUER_ROLE")
    expect_revert(t.functions.mint(a, 1), a, "AccessControlUnauthorizedAccount", a, issuer)
    expect_revert(t.functions.burn(a, 1), a, "AccessControlUnauthorizedAccount", a, issuer)


def test_cap(world: World, w3) -> None:
    p = deploy_portfolio(
        w3,
        world.core,
        PortfolioSpec(
            admin=world.admin,
            treasury=world.treasury,
            name="Capped",
            symbol="CAP",
            issuer=world.admin,
            cap_units=100,
        ),
    )
    t, a = p.token, world.investors[0]
    assert t.functions.cap().call() == 100
    assert t.functions.revenueToken().call() == ZERO
    world.send(t.functions.mint(a, 60))
    expect_revert(t.functions.mint(a, 41), world.admin, "CapExceeded", 100, 101)
    world.send(t.functions.mint(a, 40))
    world.send(t.functions.burn(a, 10))
    world.send(t.functions.mint(a, 10))  # burning frees room under the cap
    assert t.functions.totalSupply().call() == 100


def test_pause_blocks_everything_but_forced_transfer(world: World) -> None:
    t, a, b = world.token, world.investors[0], world.investors[1]
    world.mint(a, 10 * TOKEN)
    r = world.send(t.functions.pause())
    assert one_event(t, "Paused", r) == {"agent": world.admin}
    assert t.functions.paused().call() is True
    expect_revert(t.functions.transfer(b, 1), a, "TokenPaused")
    expect_revert(t.functions.mint(b, 1), world.admin, "TokenPaused")
    expect_revert(t.functions.burn(a, 1), world.admin, "TokenPaused")
    expect_revert(t.functions.pause(), world.admin, "PauseStateUnchanged", True)
    world.send(t.functions.forcedTransfer(a, b, 1))
    r = world.send(t.functions.unpause())
    assert one_event(t, "Unpaused", r) == {"agent": world.admin}
    expect_revert(t.functions.unpause(), world.admin, "PauseStateUnchanged", False)
    world.send(t.functions.transfer(b, 1), a)
    agent = role(t, "AGENT_ROLE")
    expect_revert(t.functions.pause(), a, "AccessControlUnauthorizedAccount", a, agent)
    expect_revert(t.functions.unpause(), a, "AccessControlUnauthorizedAccount", a, agent)


def test_forced_transfer_recovers_a_lost_wallet(world: World, w3) -> None:
    t, reg = world.token, world.registry
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    world.send(reg.functions.setFrozen(lost, True))
    world.send(reg.functions.setLockup(t.address, lost, now(w3) + 10_000))
    r = world.send(t.functions.forcedTransfer(lost, replacement, 10 * TOKEN))
    assert one_event(t, "ForcedTransfer", r) == {
        "agent": world.admin,
        "from": lost,
        "to": replacement,
        "amount": 10 * TOKEN,
    }
    assert one_event(t, "Transfer", r) == {"from": lost, "to": replacement, "value": 10 * TOKEN}
    assert t.functions.balanceOf(replacement).call() == 10 * TOKEN


def test_forced_transfer_still_checks_the_recipient(world: World) -> None:
    t, reg = world.token, world.registry
    a, b = world.investors[:2]
    world.mint(a, 10)
    expect_revert(t.functions.forcedTransfer(a, world.outsider, 1), world.admin, "TransferRestricted", 2)
    world.send(reg.functions.setFrozen(b, True))
    expect_revert(t.functions.forcedTransfer(a, b, 1), world.admin, "TransferRestricted", 4)
    expect_revert(t.functions.forcedTransfer(ZERO, b, 1), world.admin, "ZeroAddress")
    expect_revert(t.functions.forcedTransfer(a, ZERO, 1), world.admin, "ZeroAddress")
    c = world.investors[2]
    expect_revert(t.functions.forcedTransfer(a, c, 11), world.admin, "ERC20InsufficientBalance", a, 10, 11)
    expect_revert(t.functions.forcedTransfer(a, c, 1), a, "AccessControlUnauthorizedAccount", a, role(t, "AGENT_ROLE"))


def test_votes_follow_balances_after_delegation(world: World, w3) -> None:
    t, a, b = world.token, world.investors[0], world.investors[1]
    world.mint(a, 10 * TOKEN)
    world.send(t.functions.delegate(a), a)
    assert t.functions.getVotes(a).call() == 10 * TOKEN
    world.send(t.functions.transfer(b, 4 * TOKEN), a)
    assert t.functions.getVotes(a).call() == 6 * TOKEN
    world.send(t.functions.delegate(a), b)
    assert t.functions.getVotes(a).call() == 10 * TOKEN


def test_permit_sets_allowance(world: World, w3) -> None:
    t = world.token
    owner_key = dev_private_key(1)
    owner = Account.from_key(owner_key).address
    spender = world.investors[2]
    deadline = now(w3) + 3600
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": {
            "name": "Kogi Portfolio",
            "version": "1",
            "chainId": w3.eth.chain_id,
            "verifyingContract": t.address,
        },
        "message": {"owner": owner, "spender": spender, "value": 5, "nonce": 0, "deadline": deadline},
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), owner_key)
    r, s = signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
    world.send(t.functions.permit(owner, spender, 5, deadline, signed.v, r, s), spender)
    assert t.functions.allowance(owner, spender).call() == 5
    assert t.functions.nonces(owner).call() == 1
