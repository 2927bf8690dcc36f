"""The trust model of contracts/TRUST.md, attacked: separate wallets for the platform (governance),
the creator (portfolio admin and issuer), the compliance signer, the agent and the arbiter.

The creator must not be able to release escrow alone, name its own arbiter, compliance officer or
agent, or replace the compliance signer; the platform must be able to rotate the signer and revoke a
permit; no single platform key may act as the issuer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from contracts.core import CoreDeployment, PortfolioDeployment, PortfolioSpec, RoundSpec, deploy_core, deploy_portfolio
from contracts.deploy import transact
from contracts.funding import dev_private_key
from contracts.permits import sign_investment_permit
from tests.contracts.chain_helpers import US, USDC, expect_revert, now, one_event, role


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
    investor: str
    fee_recipient: str
    treasury: str

    @property
    def round(self) -> Contract:
        assert self.portfolio.round is not None
        return self.portfolio.round

    @property
    def token(self) -> Contract:
        return self.portfolio.token

    @property
    def platform_keys(self) -> dict[str, str]:
        return {"platform": self.platform, "signer": self.signer, "agent": self.agent, "arbiter": self.arbiter}


def _build(w3: Web3) -> TrustWorld:
    a = w3.eth.accounts
    deployer, platform, creator, investor, agent, arbiter, treasury, fee_recipient, signer = (
        a[0],
        a[1],
        a[2],
        a[3],
        a[5],
        a[6],
        a[7],
        a[8],
        a[9],
    )
    assert Account.from_key(dev_private_key(9)).address == signer
    core = deploy_core(
        w3,
        deployer,
        compliance_signer=signer,
        fee_recipient=fee_recipient,
        arbiter=arbiter,
        agent=agent,
        platform=platform,
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
    transact(core.registry.functions.setInvestor(investor, 2**64 - 1, US, True), deployer)
    return TrustWorld(
        w3, core, portfolio, deployer, platform, creator, signer, agent, arbiter, investor, fee_recipient, treasury
    )


@pytest.fixture(scope="module")
def trust_deployed(anvil_chain: Any) -> TrustWorld:
    return _build(anvil_chain.web3())


@pytest.fixture()
def tw(trust_deployed: TrustWorld, w3: Web3) -> TrustWorld:
    return trust_deployed


def _permit(tw: TrustWorld, amount: int, nonce: int, key: bytes | None = None) -> tuple[int, int, int, int, bytes]:
    deadline = now(tw.w3) + 3_600
    signature = sign_investment_permit(
        key or dev_private_key(9),
        chain_id=tw.w3.eth.chain_id,
        round_address=tw.round.address,
        investor=tw.investor,
        max_amount=amount,
        deadline=deadline,
        nonce=nonce,
    )
    return amount, amount, deadline, nonce, signature


def _succeed(tw: TrustWorld) -> None:
    """The investor fills the hard cap: the round succeeds."""
    coin = tw.core.stablecoin
    assert coin is not None
    transact(coin.functions.mint(tw.investor, 1_000 * USDC), tw.deployer)
    transact(coin.functions.approve(tw.round.address, 2**256 - 1), tw.investor)
    transact(tw.round.functions.invest(*_permit(tw, 1_000 * USDC, 1)), tw.investor)
    assert tw.round.functions.state().call() == 2  # Succeeded


def test_roles_after_create_portfolio(tw: TrustWorld) -> None:
    r, t = tw.round.functions, tw.token.functions
    assert tw.core.factory.functions.platform().call() == tw.platform
    platform_r, platform_t = role(tw.round, "PLATFORM_ROLE"), role(tw.token, "PLATFORM_ROLE")
    for name in ("ARBITER_ROLE", "COMPLIANCE_ROLE", "PLATFORM_ROLE"):
        assert r.getRoleAdmin(role(tw.round, name)).call() == platform_r, name
    assert r.getRoleAdmin(role(tw.round, "ISSUER_ROLE")).call() == bytes(32)
    for name in ("AGENT_ROLE", "PLATFORM_ROLE"):
        assert t.getRoleAdmin(role(tw.token, name)).call() == platform_t, name
    assert t.getRoleAdmin(role(tw.token, "ISSUER_ROLE")).call() == bytes(32)
    assert r.hasRole(platform_r, tw.platform).call()
    assert r.hasRole(role(tw.round, "COMPLIANCE_ROLE"), tw.platform).call()
    assert r.hasRole(role(tw.round, "ARBITER_ROLE"), tw.arbiter).call()
    assert t.hasRole(platform_t, tw.platform).call()
    assert t.hasRole(role(tw.token, "AGENT_ROLE"), tw.agent).call()
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


@pytest.mark.parametrize("name", ["AGENT_ROLE", "PLATFORM_ROLE"])
def test_creator_cannot_grant_or_revoke_platform_roles_on_the_token(tw: TrustWorld, name: str) -> None:
    t = tw.token.functions
    target, platform_role = role(tw.token, name), role(tw.token, "PLATFORM_ROLE")
    expect_revert(
        t.grantRole(target, tw.creator), tw.creator, "AccessControlUnauthorizedAccount", tw.creator, platform_role
    )
    holder = tw.agent if name == "AGENT_ROLE" else tw.platform
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
        expect_revert(t.burn(tw.investor, 1), key, "AccessControlUnauthorizedAccount", key, token_issuer)
        for contract, target in ((tw.round, round_issuer), (tw.token, token_issuer)):
            expect_revert(
                contract.functions.grantRole(target, key), key, "AccessControlUnauthorizedAccount", key, bytes(32)
            )
        expect_revert(t.setExcluded(tw.investor, True), key, "AccessControlUnauthorizedAccount", key, bytes(32))
    # the arbiter alone cannot release either
    transact(r.approveMilestoneAsArbiter(0), tw.arbiter)
    expect_revert(r.releaseMilestone(0), tw.arbiter, "MilestoneNotApproved", 0, False, True)
