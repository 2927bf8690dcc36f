"""PortfolioToken: registry-checked transfers (incl. mint), issuer mint within the cap, burns by the
holder or within its allowance, pause, two-key delayed recovery of a lost wallet, permit + votes,
roles and events."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from rlp import encode as rlp_encode
from web3 import Web3
from web3.types import TxReceipt

from contracts.core import RoundSpec
from contracts.funding import RoundConfig, TokenInit, attach_round, deploy_funding_round, dev_private_key
from tests.contracts.chain_helpers import (  # noqa: F401
    KP,
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
HOUR = 3_600
LOST_KEYS = Web3.keccak(text="LOST_KEYS")
RECOVERY_PENDING, RECOVERY_EXECUTED, RECOVERY_CANCELLED = 1, 2, 3
_REQUEST_FIELDS = ("from", "executableAt", "status", "withRevenue", "to", "proposer", "amount", "reason")


def recovery_request(world: World, request_id: int) -> dict[str, Any]:
    """PortfolioToken.recoveryRequest(id) by field name."""
    return dict(zip(_REQUEST_FIELDS, world.token.functions.recoveryRequest(request_id).call(), strict=True))


def propose(world: World, lost: str, to: str, amount: int, with_revenue: bool = False) -> int:
    """The agent proposes a recovery; returns its id."""
    r = world.send(world.token.functions.proposeRecovery(lost, to, amount, with_revenue, LOST_KEYS), world.agent)
    return int(one_event(world.token, "RecoveryProposed", r)["id"])


def recover(world: World, lost: str, to: str, amount: int) -> TxReceipt:
    """Propose → wait the recovery delay → the approver executes."""
    request_id = propose(world, lost, to, amount)
    warp(world.w3, world.token.functions.recoveryDelay().call())
    return world.send(world.token.functions.executeRecovery(request_id), world.approver)


def test_initial_state(world: World) -> None:
    t = world.token
    assert t.functions.name().call() == "Kogi Portfolio"
    assert t.functions.symbol().call() == "KOGI"
    assert t.functions.decimals().call() == 18
    assert t.functions.registry().call() == world.registry.address
    assert t.functions.revenueToken().call() == world.stablecoin.address
    assert t.functions.cap().call() == 0
    assert t.functions.paused().call() is False
    # the creator (admin; the platform too in this world) issues; two other keys hold the recovery roles
    assert t.functions.hasRole(role(t, "ISSUER_ROLE"), world.admin).call()
    assert t.functions.hasRole(b"\x00" * 32, world.admin).call()
    assert t.functions.hasRole(role(t, "PLATFORM_ROLE"), world.admin).call()
    assert t.functions.hasRole(role(t, "AGENT_ROLE"), world.agent).call()
    assert t.functions.hasRole(role(t, "RECOVERY_APPROVER_ROLE"), world.approver).call()
    for name in ("AGENT_ROLE", "RECOVERY_APPROVER_ROLE"):
        assert not t.functions.hasRole(role(t, name), world.admin).call()
    assert t.functions.recoveryDelay().call() == 48 * HOUR
    assert t.functions.recoveryCount().call() == 0
    # EIP-712 domain (permit) uses the token name and version "1"
    domain = t.functions.eip712Domain().call()
    assert domain[1] == "Kogi Portfolio" and domain[2] == "1" and domain[4] == t.address


def test_implementation_cannot_be_initialized(world: World) -> None:
    impl = world.core.implementations["token"]
    init = TokenInit("X", "X", admin=world.admin, platform=world.admin, issuers=(world.admin,)).as_tuple()
    expect_revert(impl.functions.initialize(init), world.admin, "InvalidInitialization")
    expect_revert(world.token.functions.initialize(init), world.admin, "InvalidInitialization")


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


def test_holder_burns_its_own_tokens_even_from_a_frozen_wallet(world: World) -> None:
    t, a = world.token, world.investors[0]
    world.mint(a, 10 * TOKEN)
    world.send(world.registry.functions.setFrozen(a, True))
    r = world.send(t.functions.burn(a, 4 * TOKEN), a)
    assert one_event(t, "Transfer", r) == {"from": a, "to": ZERO, "value": 4 * TOKEN}
    assert t.functions.totalSupply().call() == 6 * TOKEN
    expect_revert(t.functions.burn(a, 7 * TOKEN), a, "ERC20InsufficientBalance", a, 6 * TOKEN, 7 * TOKEN)


def test_a_spender_burns_within_the_holders_allowance(world: World) -> None:
    """A redemption the holder approved: the issuer burns up to the allowance, and not one unit more."""
    t, a = world.token, world.investors[0]
    world.mint(a, 10 * TOKEN)
    world.send(t.functions.approve(world.admin, 3 * TOKEN), a)
    r = world.send(t.functions.burn(a, 2 * TOKEN))
    assert one_event(t, "Transfer", r) == {"from": a, "to": ZERO, "value": 2 * TOKEN}
    assert t.functions.allowance(a, world.admin).call() == 1 * TOKEN
    expect_revert(
        t.functions.burn(a, 2 * TOKEN), world.admin, "ERC20InsufficientAllowance", world.admin, TOKEN, 2 * TOKEN
    )
    world.send(t.functions.burn(a, 1 * TOKEN))
    assert t.functions.allowance(a, world.admin).call() == 0
    assert t.functions.balanceOf(a).call() == 7 * TOKEN
    assert t.functions.totalSupply().call() == 7 * TOKEN


def test_the_issuer_cannot_burn_a_holders_tokens_without_an_allowance(world: World) -> None:
    t, a, b = world.token, world.investors[0], world.investors[1]
    world.mint(a, 10 * TOKEN)
    # neither the creator (admin + issuer), the recovery keys, nor another holder
    for burner in (world.admin, world.agent, world.approver, b):
        expect_revert(t.functions.burn(a, 1), burner, "ERC20InsufficientAllowance", burner, 0, 1)
    # an allowance given to someone else does not count
    world.send(t.functions.approve(b, 5 * TOKEN), a)
    expect_revert(t.functions.burn(a, 1), world.admin, "ERC20InsufficientAllowance", world.admin, 0, 1)
    assert t.functions.balanceOf(a).call() == 10 * TOKEN


def test_issuer_role_gates_mint(world: World) -> None:
    t, a = world.token, world.investors[0]
    issuer = role(t, "ISSUER_ROLE")
    for minter in (a, world.agent, world.approver):
        expect_revert(t.functions.mint(a, 1), minter, "AccessControlUnauthorizedAccount", minter, issuer)


def test_cap(world: World, w3) -> None:
    p = world.create_portfolio("Capped", "CAP", cap_units=100)
    t, a = p.token, world.investors[0]
    assert t.functions.cap().call() == 100
    assert t.functions.revenueToken().call() == ZERO
    world.send(t.functions.mint(a, 60))
    expect_revert(t.functions.mint(a, 41), world.admin, "CapExceeded", 100, 101)
    world.send(t.functions.mint(a, 40))
    world.send(t.functions.burn(a, 10), a)
    world.send(t.functions.mint(a, 10))  # burning frees room under the cap
    assert t.functions.totalSupply().call() == 100


def test_pause_blocks_transfers_mints_and_burns(world: World) -> None:
    t, a, b = world.token, world.investors[0], world.investors[1]
    world.mint(a, 10 * TOKEN)
    world.send(t.functions.approve(world.admin, 1), a)
    r = world.send(t.functions.pause(), world.agent)
    assert one_event(t, "Paused", r) == {"agent": world.agent}
    assert t.functions.paused().call() is True
    expect_revert(t.functions.transfer(b, 1), a, "TokenPaused")
    expect_revert(t.functions.mint(b, 1), world.admin, "TokenPaused")
    expect_revert(t.functions.burn(a, 1), a, "TokenPaused")
    expect_revert(t.functions.burn(a, 1), world.admin, "TokenPaused")  # within the allowance
    expect_revert(t.functions.pause(), world.agent, "PauseStateUnchanged", True)
    r = world.send(t.functions.unpause(), world.agent)
    assert one_event(t, "Unpaused", r) == {"agent": world.agent}
    expect_revert(t.functions.unpause(), world.agent, "PauseStateUnchanged", False)
    world.send(t.functions.transfer(b, 1), a)
    world.send(t.functions.burn(a, 1), world.admin)
    agent = role(t, "AGENT_ROLE")
    for key in (a, world.admin, world.approver):  # not the holder, not the creator, not the approver
        expect_revert(t.functions.pause(), key, "AccessControlUnauthorizedAccount", key, agent)
        expect_revert(t.functions.unpause(), key, "AccessControlUnauthorizedAccount", key, agent)


def test_recovery_recovers_a_lost_wallet(world: World, w3) -> None:
    """Sender-side rules (freeze, lockup) do not stop a recovery: that is what it is for."""
    t, reg = world.token, world.registry
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    world.send(reg.functions.setFrozen(lost, True))
    world.send(reg.functions.setLockup(t.address, lost, now(w3) + 10 * 24 * HOUR))
    delay = t.functions.recoveryDelay().call()
    r = world.send(t.functions.proposeRecovery(lost, replacement, 10 * TOKEN, False, LOST_KEYS), world.agent)
    assert one_event(t, "RecoveryProposed", r) == {
        "id": 1,
        "from": lost,
        "to": replacement,
        "amount": 10 * TOKEN,
        "withRevenue": False,
        "reason": LOST_KEYS,
        "proposer": world.agent,
        "executableAt": now(w3) + delay,
    }
    assert events(t, "Transfer", r) == []  # nothing moves at proposal
    assert t.functions.recoveryCount().call() == 1
    warp(w3, delay)
    r = world.send(t.functions.executeRecovery(1), world.approver)
    assert one_event(t, "RecoveryExecuted", r) == {"id": 1, "from": lost, "approver": world.approver}
    assert one_event(t, "ForcedTransfer", r) == {
        "agent": world.approver,
        "from": lost,
        "to": replacement,
        "amount": 10 * TOKEN,
    }
    assert one_event(t, "Transfer", r) == {"from": lost, "to": replacement, "value": 10 * TOKEN}
    assert events(t, "ClaimableMoved", r) == []
    assert t.functions.balanceOf(lost).call() == 0
    assert t.functions.balanceOf(replacement).call() == 10 * TOKEN
    assert recovery_request(world, 1)["status"] == RECOVERY_EXECUTED


def test_the_holder_can_read_a_pending_recovery(world: World, w3) -> None:
    t = world.token
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    request_id = propose(world, lost, replacement, 4 * TOKEN, with_revenue=True)
    proposed_at = now(w3)
    delay = t.functions.recoveryDelay().call()
    warp(w3, delay // 2)  # during the delay, the holder sees who asks what, for whom, why and from when
    assert recovery_request(world, request_id) == {
        "from": lost,
        "executableAt": proposed_at + delay,
        "status": RECOVERY_PENDING,
        "withRevenue": True,
        "to": replacement,
        "proposer": world.agent,
        "amount": 4 * TOKEN,
        "reason": LOST_KEYS,
    }
    assert t.functions.recoveryCount().call() == request_id == 1
    assert t.functions.balanceOf(lost).call() == 10 * TOKEN  # still the holder's
    world.send(t.functions.transfer(replacement, 1 * TOKEN), lost)  # and still usable by the holder
    assert recovery_request(world, 2)["status"] == 0  # no such request


def test_recovery_cannot_run_before_the_delay(world: World, w3) -> None:
    t = world.token
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    request_id = propose(world, lost, replacement, 10 * TOKEN)
    executable_at = recovery_request(world, request_id)["executableAt"]
    expect_revert(
        t.functions.executeRecovery(request_id), world.approver, "RecoveryTooEarly", request_id, executable_at
    )
    warp(w3, t.functions.recoveryDelay().call() - HOUR)
    assert now(w3) < executable_at
    expect_revert(
        t.functions.executeRecovery(request_id), world.approver, "RecoveryTooEarly", request_id, executable_at
    )
    warp(w3, HOUR)
    world.send(t.functions.executeRecovery(request_id), world.approver)
    assert t.functions.balanceOf(replacement).call() == 10 * TOKEN


def test_the_proposer_cannot_execute_its_own_recovery(world: World, w3) -> None:
    t = world.token
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    request_id = propose(world, lost, replacement, 10 * TOKEN)
    warp(w3, t.functions.recoveryDelay().call())
    approver_role = role(t, "RECOVERY_APPROVER_ROLE")
    expect_revert(
        t.functions.executeRecovery(request_id),
        world.agent,
        "AccessControlUnauthorizedAccount",
        world.agent,
        approver_role,
    )
    # even holding both keys (the platform may grant them), the proposer needs a second key
    world.send(t.functions.grantRole(approver_role, world.agent))
    expect_revert(
        t.functions.executeRecovery(request_id), world.agent, "ProposerCannotExecute", request_id, world.agent
    )
    # the creator is no recovery key at all
    expect_revert(
        t.functions.executeRecovery(request_id),
        world.admin,
        "AccessControlUnauthorizedAccount",
        world.admin,
        approver_role,
    )
    assert t.functions.balanceOf(lost).call() == 10 * TOKEN


def test_a_recovery_runs_once(world: World) -> None:
    t = world.token
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    recover(world, lost, replacement, 4 * TOKEN)
    expect_revert(t.functions.executeRecovery(1), world.approver, "RecoveryNotPending", 1)
    expect_revert(t.functions.cancelRecovery(1), world.approver, "RecoveryNotPending", 1)
    assert t.functions.balanceOf(lost).call() == 6 * TOKEN
    assert t.functions.balanceOf(replacement).call() == 4 * TOKEN
    expect_revert(t.functions.executeRecovery(2), world.approver, "RecoveryNotPending", 2)  # never proposed


def test_a_cancelled_recovery_never_runs(world: World, w3) -> None:
    t = world.token
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    # any recovery key or the platform can cancel; nobody else
    for canceller in (world.agent, world.approver, world.admin):
        request_id = propose(world, lost, replacement, 10 * TOKEN)
        for stranger in (lost, replacement, world.outsider):
            expect_revert(t.functions.cancelRecovery(request_id), stranger, "NotRecoveryKey", stranger)
        r = world.send(t.functions.cancelRecovery(request_id), canceller)
        assert one_event(t, "RecoveryCancelled", r) == {"id": request_id, "from": lost, "by": canceller}
        assert recovery_request(world, request_id)["status"] == RECOVERY_CANCELLED
        expect_revert(t.functions.cancelRecovery(request_id), canceller, "RecoveryNotPending", request_id)
    warp(w3, t.functions.recoveryDelay().call())
    for request_id in (1, 2, 3):
        expect_revert(t.functions.executeRecovery(request_id), world.approver, "RecoveryNotPending", request_id)
    assert t.functions.balanceOf(lost).call() == 10 * TOKEN


def test_recovery_ignores_the_pause(world: World, w3) -> None:
    t = world.token
    lost, replacement = world.investors[0], world.investors[1]
    world.mint(lost, 10 * TOKEN)
    world.send(t.functions.pause(), world.agent)
    request_id = propose(world, lost, replacement, 10 * TOKEN)  # proposed while paused
    warp(w3, t.functions.recoveryDelay().call())
    r = world.send(t.functions.executeRecovery(request_id), world.approver)  # and executed while paused
    assert one_event(t, "Transfer", r) == {"from": lost, "to": replacement, "value": 10 * TOKEN}
    assert t.functions.balanceOf(replacement).call() == 10 * TOKEN
    assert t.functions.paused().call() is True
    expect_revert(t.functions.transfer(lost, 1), replacement, "TokenPaused")  # everything else stays paused


def test_recovery_checks_the_recipient_at_proposal_and_at_execution(world: World, w3) -> None:
    t, reg = world.token, world.registry
    a, b, c = world.investors[:3]
    world.mint(a, 10)
    fn = t.functions.proposeRecovery
    expect_revert(fn(a, world.outsider, 1, False, LOST_KEYS), world.agent, "TransferRestricted", 2)
    world.send(reg.functions.setFrozen(b, True))
    expect_revert(fn(a, b, 1, False, LOST_KEYS), world.agent, "TransferRestricted", 4)
    world.send(reg.functions.setFrozen(b, False))
    # the recipient is checked again when the recovery runs
    request_id = propose(world, a, b, 1)
    world.send(reg.functions.setFrozen(b, True))
    warp(w3, t.functions.recoveryDelay().call())
    expect_revert(t.functions.executeRecovery(request_id), world.approver, "TransferRestricted", 4)
    world.send(reg.functions.setFrozen(b, False))
    world.send(t.functions.executeRecovery(request_id), world.approver)
    assert t.functions.balanceOf(b).call() == 1
    # the balance is checked when it runs
    request_id = propose(world, a, c, 10)
    warp(w3, t.functions.recoveryDelay().call())
    expect_revert(t.functions.executeRecovery(request_id), world.approver, "ERC20InsufficientBalance", a, 9, 10)


def test_a_recovery_proposal_must_be_well_formed_and_come_from_the_agent(world: World) -> None:
    t = world.token
    a, b = world.investors[:2]
    world.mint(a, 10)
    fn = t.functions.proposeRecovery
    expect_revert(fn(ZERO, b, 1, False, LOST_KEYS), world.agent, "ZeroAddress")
    expect_revert(fn(a, ZERO, 1, False, LOST_KEYS), world.agent, "ZeroAddress")
    expect_revert(fn(a, a, 1, False, LOST_KEYS), world.agent, "InvalidRecovery")
    expect_revert(fn(a, b, 0, False, LOST_KEYS), world.agent, "InvalidRecovery")  # nothing to move
    agent = role(t, "AGENT_ROLE")
    for key in (world.admin, world.approver, a):
        expect_revert(fn(a, b, 1, False, LOST_KEYS), key, "AccessControlUnauthorizedAccount", key, agent)
    assert t.functions.recoveryCount().call() == 0


def test_a_round_can_be_neither_recovered_from_nor_excluded(world: World, w3) -> None:
    """A round holds investors' allocations: no recovery may take them, no exclusion stop their revenue."""
    start = now(w3)
    terms = RoundSpec(
        world.stablecoin.address, USDC, 100 * USDC, 1_000 * USDC, USDC, 1_000 * USDC, start, start + 86_400, 0
    )
    p = world.create_portfolio("Round", "RND", revenue_token=world.stablecoin.address, round=terms)
    assert p.round is not None
    t, round_ = p.token, p.round.address
    expect_revert(
        t.functions.proposeRecovery(round_, world.investors[0], 1, True, LOST_KEYS), world.agent, "RoundAccount", round_
    )
    expect_revert(t.functions.setExcluded(round_, True), world.admin, "RoundAccount", round_)


def test_a_recovery_cannot_take_from_an_address_that_became_a_round(world: World, w3) -> None:
    """The source is checked again at execution: a request naming the address where a round is then
    deployed and attached cannot run."""
    t, admin = world.token, world.admin
    next_contract = Web3.to_checksum_address(
        keccak(rlp_encode([bytes.fromhex(admin[2:]), w3.eth.get_transaction_count(admin)]))[-20:]
    )
    request_id = propose(world, next_contract, world.investors[0], 0, with_revenue=True)
    start = now(w3)
    config = RoundConfig(
        token=t.address,
        treasury=world.treasury,
        fee_recipient=world.agent,
        compliance_signer=world.approver,
        issuer=admin,
        arbiter=world.investors[4],
        platform=admin,
        terms=RoundSpec(
            world.stablecoin.address, USDC, 100 * USDC, 1_000 * USDC, USDC, 1_000 * USDC, start, start + 30 * 86_400, 0
        ),
    )
    round_ = deploy_funding_round(
        w3, admin=admin, config=config, implementation=world.core.implementations["round"].address
    )
    assert round_.address == next_contract
    attach_round(t, round_.address, admin)
    warp(w3, t.functions.recoveryDelay().call())
    expect_revert(t.functions.executeRecovery(request_id), world.approver, "RoundAccount", round_.address)
    assert recovery_request(world, request_id)["status"] == RECOVERY_PENDING


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
