"""The trust model of contracts/TRUST.md, attacked: separate wallets for the platform (governance),
the creator (portfolio admin and issuer), the compliance signer, the agent, the recovery approver
and the arbiter.

The creator must not be able to release escrow alone, name its own arbiter, compliance officer or
agent, or replace the compliance signer; the platform must be able to rotate the signer and revoke a
permit; no single platform key may act as the issuer. Investors who paid end with their tokens or
their money: allocations are reserved on the cap and delivered by the round whatever the creator
does, and they earn revenue from the round's success whether claimed or not. Nobody moves a
holder's tokens or revenue but the holder, except a recovery proposed by the agent and executed by
another key after a delay the holder can see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from contracts.core import CoreDeployment, PortfolioDeployment, PortfolioSpec, RoundSpec, deploy_core, deploy_portfolio
from contracts.deploy import TransactionFailed, transact
from contracts.funding import dev_private_key
from contracts.permits import sign_investment_permit
from tests.contracts.chain_helpers import TOKEN, US, USDC, expect_revert, now, one_event, role, warp

CAP_UNITS = 1_500 * TOKEN  # the round can sell at most 1,000 tokens: 500 are left to the creator
DAY = 86_400


def about(units: int, expected: int) -> bool:
    """Revenue shares round down by less than one base unit (the pool keeps the fraction)."""
    return expected - 1 <= units <= expected


@dataclass
class TrustWorld:
    w3: Web3
    core: CoreDeployment
    portfolio: PortfolioDeployment
    deployer: str  # holds CREATOR_ROLE on the factory (the issuance service)
    platform: str
    creator: str
    signer: str
    agent: str
    arbiter: str
    approver: str
    investor: str
    fee_recipient: str
    treasury: str
    second_investor: str

    @property
    def round(self) -> Contract:
        assert self.portfolio.round is not None
        return self.portfolio.round

    @property
    def token(self) -> Contract:
        return self.portfolio.token

    @property
    def platform_keys(self) -> dict[str, str]:
        return {
            "platform": self.platform,
            "signer": self.signer,
            "agent": self.agent,
            "arbiter": self.arbiter,
            "approver": self.approver,
        }

    @property
    def coin(self) -> Contract:
        assert self.core.stablecoin is not None
        return self.core.stablecoin


def extra_wallet(w3: Web3, label: str) -> str:
    """A funded, unlocked wallet beyond anvil's ten (impersonated: anvil signs for it)."""
    address = Web3.to_checksum_address(Web3.keccak(text=label)[-20:])
    w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    return address


def _build(w3: Web3) -> TrustWorld:
    a = w3.eth.accounts
    deployer, platform, creator, investor, approver, agent, arbiter, treasury, fee_recipient, signer = (
        a[0],
        a[1],
        a[2],
        a[3],
        a[4],
        a[5],
        a[6],
        a[7],
        a[8],
        a[9],
    )
    second_investor = extra_wallet(w3, "trust-model second investor")
    assert Account.from_key(dev_private_key(9)).address == signer
    core = deploy_core(
        w3,
        deployer,
        compliance_signer=signer,
        fee_recipient=fee_recipient,
        arbiter=arbiter,
        agent=agent,
        platform=platform,
        recovery_approver=approver,
    )
    assert core.stablecoin is not None
    start = now(w3)
    portfolio = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=creator,
            issuer=creator,
            treasury=treasury,
            name="Trust",
            symbol="TRST",
            cap_units=CAP_UNITS,
            revenue_token=core.stablecoin.address,
            round=RoundSpec(
                core.stablecoin.address,
                USDC,
                100 * USDC,
                1_000 * USDC,
                USDC,
                1_000 * USDC,
                start,
                start + 86_400,
                250,
                (5_000, 5_000),
            ),
        ),
    )
    for who in (investor, second_investor):
        transact(core.registry.functions.setInvestor(who, 2**64 - 1, US, True), deployer)
    return TrustWorld(
        w3,
        core,
        portfolio,
        deployer,
        platform,
        creator,
        signer,
        agent,
        arbiter,
        approver,
        investor,
        fee_recipient,
        treasury,
        second_investor,
    )


@pytest.fixture(scope="module")
def trust_deployed(anvil_chain: Any) -> TrustWorld:
    return _build(anvil_chain.web3())


@pytest.fixture()
def tw(trust_deployed: TrustWorld, w3: Web3) -> TrustWorld:
    return trust_deployed


def _permit(
    tw: TrustWorld, amount: int, nonce: int, key: bytes | None = None, investor: str | None = None
) -> tuple[int, int, int, int, bytes]:
    deadline = now(tw.w3) + 3_600
    signature = sign_investment_permit(
        key or dev_private_key(9),
        chain_id=tw.w3.eth.chain_id,
        round_address=tw.round.address,
        investor=investor or tw.investor,
        max_amount=amount,
        deadline=deadline,
        nonce=nonce,
    )
    return amount, amount, deadline, nonce, signature


def _invest(tw: TrustWorld, investor: str, amount: int, nonce: int) -> None:
    transact(tw.coin.functions.mint(investor, amount), tw.deployer)
    transact(tw.coin.functions.approve(tw.round.address, 2**256 - 1), investor)
    transact(tw.round.functions.invest(*_permit(tw, amount, nonce, investor=investor)), investor)


def _succeed(tw: TrustWorld) -> None:
    """The investor fills the hard cap: the round succeeds."""
    _invest(tw, tw.investor, 1_000 * USDC, 1)
    assert tw.round.functions.state().call() == 2  # Succeeded


def _succeed_with_two(tw: TrustWorld) -> None:
    """Two investors fill the hard cap (600 + 400 tokens): the round succeeds."""
    _invest(tw, tw.investor, 600 * USDC, 1)
    _invest(tw, tw.second_investor, 400 * USDC, 2)
    assert tw.round.functions.state().call() == 2  # Succeeded


def _deposit(tw: TrustWorld, amount: int) -> None:
    """The creator deposits revenue (anyone may)."""
    transact(tw.coin.functions.mint(tw.creator, amount), tw.deployer)
    transact(tw.coin.functions.approve(tw.token.address, 2**256 - 1), tw.creator)
    transact(tw.token.functions.deposit(amount), tw.creator)


def test_roles_after_create_portfolio(tw: TrustWorld) -> None:
    r, t = tw.round.functions, tw.token.functions
    assert tw.core.factory.functions.platform().call() == tw.platform
    platform_r, platform_t = role(tw.round, "PLATFORM_ROLE"), role(tw.token, "PLATFORM_ROLE")
    for name in ("ARBITER_ROLE", "COMPLIANCE_ROLE", "PLATFORM_ROLE"):
        assert r.getRoleAdmin(role(tw.round, name)).call() == platform_r, name
    assert r.getRoleAdmin(role(tw.round, "ISSUER_ROLE")).call() == bytes(32)
    for name in ("AGENT_ROLE", "RECOVERY_APPROVER_ROLE", "PLATFORM_ROLE"):
        assert t.getRoleAdmin(role(tw.token, name)).call() == platform_t, name
    assert t.getRoleAdmin(role(tw.token, "ISSUER_ROLE")).call() == bytes(32)
    assert r.hasRole(platform_r, tw.platform).call()
    assert r.hasRole(role(tw.round, "COMPLIANCE_ROLE"), tw.platform).call()
    assert r.hasRole(role(tw.round, "ARBITER_ROLE"), tw.arbiter).call()
    assert t.hasRole(platform_t, tw.platform).call()
    assert t.hasRole(role(tw.token, "AGENT_ROLE"), tw.agent).call()
    assert t.hasRole(role(tw.token, "RECOVERY_APPROVER_ROLE"), tw.approver).call()
    # the round is attached (its allocation reserved on the cap), not a minter the creator could revoke
    assert t.openRound().call() == [tw.round.address, 1_000 * TOKEN]
    assert not t.hasRole(role(tw.token, "ISSUER_ROLE"), tw.round.address).call()
    assert t.excludedAccounts().call() == [tw.treasury]
    for contract in (tw.round, tw.token):
        assert contract.functions.hasRole(bytes(32), tw.creator).call()
        assert not contract.functions.hasRole(role(contract, "PLATFORM_ROLE"), tw.creator).call()
        assert contract.functions.hasRole(role(contract, "ISSUER_ROLE"), tw.creator).call()
        assert not contract.functions.hasRole(bytes(32), tw.platform).call()
    assert r.complianceSigner().call() == tw.signer


@pytest.mark.parametrize("name", ["ARBITER_ROLE", "COMPLIANCE_ROLE", "PLATFORM_ROLE"])
def test_creator_cannot_grant_or_revoke_platform_roles_on_the_round(tw: TrustWorld, name: str) -> None:
    r = tw.round.functions
    target, platform_role = role(tw.round, name), role(tw.round, "PLATFORM_ROLE")
    for who in (tw.creator, tw.investor):
        expect_revert(
            r.grantRole(target, who), tw.creator, "AccessControlUnauthorizedAccount", tw.creator, platform_role
        )
    holder = {"ARBITER_ROLE": tw.arbiter, "COMPLIANCE_ROLE": tw.platform, "PLATFORM_ROLE": tw.platform}[name]
    expect_revert(
        r.revokeRole(target, holder), tw.creator, "AccessControlUnauthorizedAccount", tw.creator, platform_role
    )


@pytest.mark.parametrize("name", ["AGENT_ROLE", "RECOVERY_APPROVER_ROLE", "PLATFORM_ROLE"])
def test_creator_cannot_grant_or_revoke_platform_roles_on_the_token(tw: TrustWorld, name: str) -> None:
    t = tw.token.functions
    target, platform_role = role(tw.token, name), role(tw.token, "PLATFORM_ROLE")
    expect_revert(
        t.grantRole(target, tw.creator), tw.creator, "AccessControlUnauthorizedAccount", tw.creator, platform_role
    )
    holder = {"AGENT_ROLE": tw.agent, "RECOVERY_APPROVER_ROLE": tw.approver, "PLATFORM_ROLE": tw.platform}[name]
    expect_revert(
        t.revokeRole(target, holder), tw.creator, "AccessControlUnauthorizedAccount", tw.creator, platform_role
    )


def test_creator_cannot_replace_the_compliance_signer(tw: TrustWorld) -> None:
    platform_role = role(tw.round, "PLATFORM_ROLE")
    expect_revert(
        tw.round.functions.setComplianceSigner(tw.creator),
        tw.creator,
        "AccessControlUnauthorizedAccount",
        tw.creator,
        platform_role,
    )
    assert tw.round.functions.complianceSigner().call() == tw.signer


def test_creator_cannot_release_a_milestone_alone(tw: TrustWorld) -> None:
    _succeed(tw)
    r = tw.round.functions
    transact(r.approveMilestoneAsIssuer(0), tw.creator)
    expect_revert(r.releaseMilestone(0), tw.creator, "MilestoneNotApproved", 0, True, False)
    # the attack of the old model: make a second wallet of its own the arbiter
    accomplice, arbiter_role = tw.investor, role(tw.round, "ARBITER_ROLE")
    expect_revert(
        r.grantRole(arbiter_role, accomplice),
        tw.creator,
        "AccessControlUnauthorizedAccount",
        tw.creator,
        role(tw.round, "PLATFORM_ROLE"),
    )
    expect_revert(
        r.approveMilestoneAsArbiter(0), accomplice, "AccessControlUnauthorizedAccount", accomplice, arbiter_role
    )
    expect_revert(
        r.approveMilestoneAsArbiter(0),
        tw.creator,
        "AccessControlUnauthorizedAccount",
        tw.creator,
        role(tw.round, "ARBITER_ROLE"),
    )
    # with the arbiter's approval the tranche is released, to the treasury and fee recipient only
    transact(r.approveMilestoneAsArbiter(0), tw.arbiter)
    receipt = transact(r.releaseMilestone(0), tw.creator)
    released = one_event(tw.round, "MilestoneReleased", receipt)
    assert (released["treasury"], released["feeRecipient"]) == (tw.treasury, tw.fee_recipient)


def test_platform_rotates_the_signer_and_revokes_a_permit(tw: TrustWorld) -> None:
    r = tw.round.functions
    coin = tw.core.stablecoin
    assert coin is not None
    transact(coin.functions.mint(tw.investor, 100 * USDC), tw.deployer)
    transact(coin.functions.approve(tw.round.address, 2**256 - 1), tw.investor)
    # a permit revoked by the platform is dead
    revoked = _permit(tw, 10 * USDC, 7)
    receipt = transact(r.revokePermit(tw.investor, 7), tw.platform)
    assert one_event(tw.round, "PermitRevoked", receipt)["by"] == tw.platform
    expect_revert(r.invest(*revoked), tw.investor, "PermitNonceUsed", tw.investor, 7)
    # the signer is compromised: the platform rotates it; old permits stop working at once
    old = _permit(tw, 10 * USDC, 8)
    new_key = dev_private_key(4)
    new_signer = Account.from_key(new_key).address
    receipt = transact(r.setComplianceSigner(new_signer), tw.platform)
    assert one_event(tw.round, "ComplianceSignerChanged", receipt) == {
        "previousSigner": tw.signer,
        "newSigner": new_signer,
    }
    expect_revert(r.invest(*old), tw.investor, "InvalidPermitSignature", tw.investor, new_signer)
    transact(r.invest(*_permit(tw, 10 * USDC, 9, key=new_key)), tw.investor)
    # and the platform replaces the arbiter and the compliance officer (its own roles)
    arbiter_role, compliance_role = role(tw.round, "ARBITER_ROLE"), role(tw.round, "COMPLIANCE_ROLE")
    transact(r.revokeRole(arbiter_role, tw.arbiter), tw.platform)
    transact(r.grantRole(arbiter_role, tw.investor), tw.platform)
    transact(r.grantRole(compliance_role, tw.agent), tw.platform)
    assert r.hasRole(arbiter_role, tw.investor).call() and not r.hasRole(arbiter_role, tw.arbiter).call()
    assert r.hasRole(compliance_role, tw.agent).call()


def test_no_platform_key_can_act_as_the_issuer(tw: TrustWorld) -> None:
    r, t = tw.round.functions, tw.token.functions
    round_issuer, token_issuer = role(tw.round, "ISSUER_ROLE"), role(tw.token, "ISSUER_ROLE")
    _succeed(tw)
    for name, key in tw.platform_keys.items():
        assert not r.hasRole(round_issuer, key).call(), name
        expect_revert(r.approveMilestoneAsIssuer(0), key, "AccessControlUnauthorizedAccount", key, round_issuer)
        expect_revert(t.mint(key, 1), key, "AccessControlUnauthorizedAccount", key, token_issuer)
        expect_revert(t.burn(tw.investor, 1), key, "ERC20InsufficientAllowance", key, 0, 1)
        for contract, target in ((tw.round, round_issuer), (tw.token, token_issuer)):
            expect_revert(
                contract.functions.grantRole(target, key), key, "AccessControlUnauthorizedAccount", key, bytes(32)
            )
        if key == tw.platform:  # the platform may exclude escrow accounts, never an investor
            expect_revert(t.setExcluded(tw.investor, True), key, "ExclusionNotAllowed", tw.investor)
        else:
            expect_revert(
                t.setExcluded(tw.investor, True),
                key,
                "AccessControlUnauthorizedAccount",
                key,
                role(tw.token, "PLATFORM_ROLE"),
            )
    # the arbiter alone cannot release either
    transact(r.approveMilestoneAsArbiter(0), tw.arbiter)
    expect_revert(r.releaseMilestone(0), tw.arbiter, "MilestoneNotApproved", 0, False, True)


# ------------------------------------------------------------------ §1.2 recovery: two keys, a delay


def test_recovery_needs_two_keys_and_a_delay_the_holder_can_see(tw: TrustWorld) -> None:
    t = tw.token.functions
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)
    _deposit(tw, 1_000 * USDC)
    lost, replacement = tw.investor, tw.second_investor
    reason = Web3.keccak(text="LOST_KEYS")
    receipt = transact(t.proposeRecovery(lost, replacement, 600 * TOKEN, True, reason), tw.agent)
    proposed = one_event(tw.token, "RecoveryProposed", receipt)
    delay = t.recoveryDelay().call()
    assert delay >= 2 * DAY
    assert (proposed["id"], proposed["from"], proposed["to"], proposed["amount"]) == (1, lost, replacement, 600 * TOKEN)
    # the holder sees the pending request, with who asked, why and from when it can run
    request = t.recoveryRequest(1).call()
    assert request[0] == lost and request[4] == replacement and request[5] == tw.agent and request[7] == reason
    assert request[1] == proposed["executableAt"] == now(tw.w3) + delay
    assert t.balanceOf(lost).call() == 600 * TOKEN  # nothing moved yet
    # the agent alone cannot complete it, nor can the approver before the delay
    approver_role = role(tw.token, "RECOVERY_APPROVER_ROLE")
    expect_revert(t.executeRecovery(1), tw.agent, "AccessControlUnauthorizedAccount", tw.agent, approver_role)
    expect_revert(t.executeRecovery(1), tw.approver, "RecoveryTooEarly", 1, request[1])
    warp(tw.w3, delay)
    claimable = t.claimable(lost).call()
    receipt = transact(t.executeRecovery(1), tw.approver)
    assert one_event(tw.token, "ForcedTransfer", receipt)["agent"] == tw.approver
    assert t.balanceOf(lost).call() == 0
    assert t.balanceOf(replacement).call() == 600 * TOKEN
    assert t.claimable(lost).call() == 0 and t.claimable(replacement).call() >= claimable
    expect_revert(t.executeRecovery(1), tw.approver, "RecoveryNotPending", 1)


def test_the_proposer_cannot_execute_its_own_recovery(tw: TrustWorld) -> None:
    """Even a key the platform gave both roles cannot complete a recovery alone."""
    t = tw.token.functions
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)
    transact(t.grantRole(role(tw.token, "RECOVERY_APPROVER_ROLE"), tw.agent), tw.platform)
    transact(t.proposeRecovery(tw.investor, tw.second_investor, 1, False, bytes(32)), tw.agent)
    # tokens never go to an uncleared wallet (the agent's own), nor back to the same one
    expect_revert(t.proposeRecovery(tw.investor, tw.agent, 1, False, bytes(32)), tw.agent, "TransferRestricted", 2)
    expect_revert(t.proposeRecovery(tw.investor, tw.investor, 1, False, bytes(32)), tw.agent, "InvalidRecovery")
    warp(tw.w3, t.recoveryDelay().call())
    expect_revert(t.executeRecovery(1), tw.agent, "ProposerCannotExecute", 1, tw.agent)
    # a pending request can be cancelled by a platform key; it can then never run
    expect_revert(t.cancelRecovery(1), tw.creator, "NotRecoveryKey", tw.creator)
    transact(t.cancelRecovery(1), tw.approver)
    expect_revert(t.executeRecovery(1), tw.approver, "RecoveryNotPending", 1)
    assert t.balanceOf(tw.investor).call() == 600 * TOKEN


@pytest.mark.parametrize("attacker", ["creator", "platform", "signer", "arbiter", "approver"])
def test_no_other_single_key_can_propose_a_recovery(tw: TrustWorld, attacker: str) -> None:
    key = {**tw.platform_keys, "creator": tw.creator}[attacker]
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)
    expect_revert(
        tw.token.functions.proposeRecovery(tw.investor, tw.second_investor, 1, False, bytes(32)),
        key,
        "AccessControlUnauthorizedAccount",
        key,
        role(tw.token, "AGENT_ROLE"),
    )


def test_the_creator_can_never_hold_a_recovery_role(tw: TrustWorld) -> None:
    t = tw.token.functions
    for name in ("AGENT_ROLE", "RECOVERY_APPROVER_ROLE"):
        target = role(tw.token, name)
        expect_revert(t.grantRole(target, tw.creator), tw.platform, "RoleConflict", tw.creator, target)
    # nor can the creator hand its own roles to a recovery key
    for target in (bytes(32), role(tw.token, "ISSUER_ROLE")):
        expect_revert(t.grantRole(target, tw.agent), tw.creator, "RoleConflict", tw.agent, target)


# ------------------------------------------------------------------ §1.3 investors end with tokens or money


def test_the_creator_cannot_mint_the_reserved_allocation_away(tw: TrustWorld) -> None:
    t = tw.token.functions
    transact(t.mint(tw.investor, 500 * TOKEN), tw.creator)  # the cap less the round's 1,000
    expect_revert(t.mint(tw.investor, 1), tw.creator, "CapExceeded", CAP_UNITS, CAP_UNITS + 1)
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)
    transact(tw.round.functions.claimTokens(), tw.second_investor)
    assert t.totalSupply().call() == CAP_UNITS
    assert t.balanceOf(tw.second_investor).call() == 400 * TOKEN


def test_a_failed_round_frees_its_reservation(tw: TrustWorld) -> None:
    warp(tw.w3, DAY + 1)
    assert tw.round.functions.state().call() == 3  # Failed
    transact(tw.token.functions.mint(tw.investor, CAP_UNITS), tw.creator)
    assert tw.token.functions.openRound().call()[0] == "0x" + "00" * 20


def test_the_factory_rejects_a_round_larger_than_the_cap(tw: TrustWorld) -> None:
    start = now(tw.w3)
    terms = RoundSpec(tw.coin.address, USDC, 100 * USDC, 1_000 * USDC, USDC, 1_000 * USDC, start, start + DAY, 0)
    spec = PortfolioSpec(
        admin=tw.creator, treasury=tw.treasury, name="Small", symbol="SML", cap_units=999 * TOKEN, round=terms
    )
    with pytest.raises(TransactionFailed, match="CapExceeded"):
        deploy_portfolio(tw.w3, tw.core, spec)


def test_nothing_the_creator_or_the_agent_does_blocks_a_claim(tw: TrustWorld) -> None:
    t = tw.token.functions
    _succeed_with_two(tw)
    # the creator drops every issuer right it has and tries to burn; the agent pauses the token
    transact(t.revokeRole(role(tw.token, "ISSUER_ROLE"), tw.creator), tw.creator)
    transact(t.pause(), tw.agent)
    expect_revert(t.burn(tw.investor, 1), tw.creator, "ERC20InsufficientAllowance", tw.creator, 0, 1)
    transact(tw.round.functions.claimTokens(), tw.investor)
    assert t.balanceOf(tw.investor).call() == 600 * TOKEN
    # nobody but the attached round delivers or takes back allocations
    for key in (tw.creator, tw.platform, tw.agent):
        expect_revert(t.deliverAllocation(key, 1), key, "NotSoldRound", key)
        expect_revert(t.returnAllocation(tw.investor, 0, 1), key, "NotSoldRound", key)


def test_a_refund_after_a_cancelled_success_takes_the_tokens_back(tw: TrustWorld) -> None:
    r, t = tw.round.functions, tw.token.functions
    _succeed_with_two(tw)
    transact(r.claimTokens(), tw.investor)
    transact(r.approveMilestoneAsIssuer(0), tw.creator)
    transact(r.approveMilestoneAsArbiter(0), tw.arbiter)
    transact(r.releaseMilestone(0), tw.creator)  # half the escrow is gone
    transact(r.cancel(), tw.creator)
    # the investor who holds its tokens gets half its money back and returns half its tokens
    transact(r.claimRefund(), tw.investor)
    assert tw.coin.functions.balanceOf(tw.investor).call() == 300 * USDC
    assert t.balanceOf(tw.investor).call() == 300 * TOKEN
    # the one who had not claimed gets the other half of its allocation only
    transact(r.claimRefund(), tw.second_investor)
    transact(r.claimTokens(), tw.second_investor)
    assert tw.coin.functions.balanceOf(tw.second_investor).call() == 200 * USDC
    assert t.balanceOf(tw.second_investor).call() == 200 * TOKEN
    assert t.totalSupply().call() == 500 * TOKEN
    assert tw.coin.functions.balanceOf(tw.round.address).call() == 0


def test_no_refund_without_handing_back_the_tokens(tw: TrustWorld) -> None:
    r, t = tw.round.functions, tw.token.functions
    _succeed_with_two(tw)
    transact(r.claimTokens(), tw.investor)
    transact(t.transfer(tw.second_investor, 600 * TOKEN), tw.investor)  # sold them on
    transact(r.cancel(), tw.arbiter)
    expect_revert(r.claimRefund(), tw.investor, "ERC20InsufficientBalance", tw.investor, 0, 600 * TOKEN)


# ------------------------------------------------------------------ §1.4 revenue reaches unclaimed allocations


def test_revenue_after_success_accrues_to_allocations_claimed_or_not(tw: TrustWorld) -> None:
    t = tw.token.functions
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)  # an early claimer…
    _deposit(tw, 1_000 * USDC)
    assert about(t.claimable(tw.investor).call(), 600 * USDC)  # …does not take the late claimer's share
    transact(tw.round.functions.claimTokens(), tw.second_investor)
    assert about(t.claimable(tw.second_investor).call(), 400 * USDC)
    assert t.claimable(tw.round.address).call() == 0
    transact(t.claim(), tw.second_investor)
    assert about(tw.coin.functions.balanceOf(tw.second_investor).call(), 400 * USDC)


def test_a_deposit_before_any_claim_settles_the_round_first(tw: TrustWorld) -> None:
    _succeed_with_two(tw)
    _deposit(tw, 500 * USDC)  # nobody claimed yet: the deposit mints the allocation into the round
    assert tw.token.functions.balanceOf(tw.round.address).call() == 1_000 * TOKEN
    transact(tw.round.functions.claimTokens(), tw.investor)
    assert about(tw.token.functions.claimable(tw.investor).call(), 300 * USDC)


# ------------------------------------------------------------------ §1.5 the registry and revoked keys count


def test_a_frozen_wallet_accrues_but_cannot_claim(tw: TrustWorld) -> None:
    t = tw.token.functions
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)
    _deposit(tw, 1_000 * USDC)
    transact(tw.core.registry.functions.setFrozen(tw.investor, True), tw.deployer)
    expect_revert(t.claim(), tw.investor, "TransferRestricted", 4)  # RECIPIENT_FROZEN
    _deposit(tw, 1_000 * USDC)
    assert about(t.claimable(tw.investor).call(), 1_200 * USDC)
    transact(tw.core.registry.functions.setFrozen(tw.investor, False), tw.deployer)
    transact(t.claim(), tw.investor)
    assert about(tw.coin.functions.balanceOf(tw.investor).call(), 1_200 * USDC)


def test_invest_rechecks_the_registry(tw: TrustWorld) -> None:
    permit = _permit(tw, 10 * USDC, 5)
    transact(tw.coin.functions.mint(tw.investor, 10 * USDC), tw.deployer)
    transact(tw.coin.functions.approve(tw.round.address, 2**256 - 1), tw.investor)
    transact(tw.core.registry.functions.setFrozen(tw.investor, True), tw.deployer)  # after the permit
    expect_revert(tw.round.functions.invest(*permit), tw.investor, "InvestorRestricted", tw.investor, 4)


def test_a_revoked_approvers_approval_no_longer_counts(tw: TrustWorld) -> None:
    r = tw.round.functions
    arbiter_role = role(tw.round, "ARBITER_ROLE")
    _succeed(tw)
    transact(r.approveMilestoneAsIssuer(0), tw.creator)
    transact(r.approveMilestoneAsArbiter(0), tw.arbiter)
    transact(r.revokeRole(arbiter_role, tw.arbiter), tw.platform)  # the arbiter key was compromised
    expect_revert(r.releaseMilestone(0), tw.creator, "MilestoneNotApproved", 0, True, False)
    transact(r.grantRole(arbiter_role, tw.signer), tw.platform)
    transact(r.approveMilestoneAsArbiter(0), tw.signer)
    transact(r.releaseMilestone(0), tw.creator)


def test_revoking_a_compromised_agent_voids_its_pending_recoveries(tw: TrustWorld) -> None:
    t = tw.token.functions
    _succeed_with_two(tw)
    transact(tw.round.functions.claimTokens(), tw.investor)
    transact(t.proposeRecovery(tw.investor, tw.second_investor, 600 * TOKEN, True, bytes(32)), tw.agent)
    transact(t.revokeRole(role(tw.token, "AGENT_ROLE"), tw.agent), tw.platform)  # the agent key leaked
    warp(tw.w3, t.recoveryDelay().call())
    expect_revert(t.executeRecovery(1), tw.approver, "RecoveryNotPending", 1)
    assert t.balanceOf(tw.investor).call() == 600 * TOKEN


def test_releasing_every_milestone_strands_no_allocation(tw: TrustWorld) -> None:
    r = tw.round.functions
    _succeed_with_two(tw)
    for index in (0, 1):
        transact(r.approveMilestoneAsIssuer(index), tw.creator)
        transact(r.approveMilestoneAsArbiter(index), tw.arbiter)
        transact(r.releaseMilestone(index), tw.creator)
    assert r.state().call() == 5  # Closed: the escrow is gone, the allocations are not
    transact(r.claimTokens(), tw.investor)
    transact(r.claimTokens(), tw.second_investor)
    assert tw.token.functions.balanceOf(tw.second_investor).call() == 400 * TOKEN
    assert tw.token.functions.balanceOf(tw.round.address).call() == 0
