"""FundingRound on anvil: every external function's happy path and reverts, roles and events."""

from __future__ import annotations

import pytest
from eth_account import Account

from contracts.deploy import deploy_contract
from contracts.funding import (
    USDC_UNIT,
    RoundState,
    deploy_clone_of,
    deploy_funding_round,
    dev_private_key,
    read_round,
    send,
    warp_to,
)
from contracts.permits import InvestmentPermit
from tests.contracts.funding_support import ANY, build_funding_env, one_event, reverts

pytestmark = pytest.mark.chain

USDC = USDC_UNIT
TOKEN = 10**18


@pytest.fixture()
def env(w3):
    return build_funding_env(w3)


def role(contract, name: str) -> bytes:
    return getattr(contract.functions, name)().call()


# ------------------------------------------------------------------------------ initialize


def test_initialize_sets_terms_roles_and_emits(env):
    round_ = env.round(open_now=False)
    f = round_.functions
    assert f.token().call() == env.token.address
    assert f.stablecoin().call() == env.stablecoin.address
    assert f.treasury().call() == env.treasury
    assert f.feeRecipient().call() == env.fee_recipient
    assert f.complianceSigner().call() == env.signer
    assert (f.price().call(), f.softCap().call(), f.hardCap().call()) == (USDC, 1_000 * USDC, 5_000 * USDC)
    assert (f.minInvestment().call(), f.maxInvestment().call()) == (USDC, 3_000 * USDC)
    assert f.milestoneBps().call() == [3_000, 3_000, 4_000]
    assert f.milestoneCount().call() == 3
    assert f.feeBps().call() == 250
    assert f.state().call() == RoundState.UPCOMING
    assert f.hasRole(role(round_, "DEFAULT_ADMIN_ROLE"), env.admin).call()
    assert f.hasRole(role(round_, "ISSUER_ROLE"), env.issuer).call()
    assert f.hasRole(role(round_, "ARBITER_ROLE"), env.arbiter).call()
    # the initialize event, read back from the chain
    logs = round_.events.RoundInitialized().get_logs(from_block=0)
    assert len(logs) == 1
    args = logs[0]["args"]
    assert args["token"] == env.token.address and args["treasury"] == env.treasury
    assert args["milestoneBps"] == [3_000, 3_000, 4_000] and args["hardCap"] == 5_000 * USDC
    with reverts(round_, "InvalidInitialization"):
        send(f.initialize(env.admin, env.config().as_tuple()), env.admin)


def test_implementation_cannot_be_initialized(env):
    implementation = deploy_contract(env.w3, "FundingRound")
    with reverts(implementation, "InvalidInitialization"):
        send(implementation.functions.initialize(env.admin, env.config().as_tuple()), env.admin)


@pytest.mark.parametrize(
    ("overrides", "error", "args"),
    [
        ({"treasury": "0x" + "00" * 20}, "ZeroAddress", ()),
        ({"compliance_signer": "0x" + "00" * 20}, "ZeroAddress", ()),
        ({"price_units": 0}, "InvalidPrice", (0,)),
        ({"soft_cap_units": 0}, "InvalidCaps", (0, 5_000 * USDC)),
        ({"soft_cap_units": 6_000 * USDC}, "InvalidCaps", (6_000 * USDC, 5_000 * USDC)),
        ({"min_investment_units": 0}, "InvalidInvestmentLimits", (0, 3_000 * USDC)),
        ({"min_investment_units": 4_000 * USDC}, "InvalidInvestmentLimits", (4_000 * USDC, 3_000 * USDC)),
        # 1 base unit of USDC cannot buy one token base unit at 2e18 units per token
        ({"min_investment_units": 1, "price_units": 2 * 10**18}, "InvalidInvestmentLimits", (1, 3_000 * USDC)),
        ({"fee_bps": 1_001}, "FeeTooHigh", (1_001, 1_000)),
        ({"milestone_bps": ()}, "InvalidMilestones", ()),
        ({"milestone_bps": (5_000, 0, 5_000)}, "InvalidMilestones", ()),
        ({"milestone_bps": (5_000, 4_999)}, "InvalidMilestones", ()),
        ({"milestone_bps": (500,) * 20 + (1,)}, "InvalidMilestones", ()),
    ],
)
def test_initialize_rejects_bad_config(env, overrides, error, args):
    round_ = deploy_clone_of(env.w3, "FundingRound")
    with reverts(round_, error, *args):
        send(round_.functions.initialize(env.admin, env.config(**overrides).as_tuple()), env.admin)


def test_initialize_rejects_bad_window(env):
    round_ = deploy_clone_of(env.w3, "FundingRound")
    start = env.start_s
    with reverts(round_, "InvalidWindow", start, start):
        send(round_.functions.initialize(env.admin, env.config(end_time_s=start).as_tuple()), env.admin)
    with reverts(round_, "InvalidWindow", 1, 2):
        send(round_.functions.initialize(env.admin, env.config(start_time_s=1, end_time_s=2).as_tuple()), env.admin)
    with reverts(round_, "ZeroAddress"):
        send(round_.functions.initialize("0x" + "00" * 20, env.config().as_tuple()), env.admin)


# ------------------------------------------------------------------------------ permits


def test_permit_digest_matches_python(env):
    round_ = env.round(open_now=False)
    investor = env.investors[0]
    permit = InvestmentPermit(env.w3.eth.chain_id, round_.address, investor, 123, 456, 789)
    assert round_.functions.investmentPermitDigest(investor, 123, 456, 789).call() == permit.digest()


def test_invest_before_start_is_rejected(env):
    round_ = env.round(open_now=False)
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    with reverts(round_, "InvalidState", RoundState.UPCOMING):
        send(round_.functions.invest(*env.permit(round_, investor, 10 * USDC)), investor)


def test_a_round_its_token_did_not_attach_takes_no_money(env):
    """Investors of a round the token does not know could never receive their tokens."""
    env.fresh_token()
    config = env.config()
    stray = deploy_funding_round(env.w3, admin=env.admin, config=config)
    warp_to(env.w3, config.terms.start_time_s)
    a = env.investors[0]
    env.fund(stray, a, 10 * USDC)
    with reverts(stray, "RoundNotAttached", env.token.address):
        env.invest(stray, a, 10 * USDC)


def test_invest_escrows_funds_and_emits(env):
    round_ = env.round()
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC)
    args = env.permit(round_, investor, 40 * USDC, max_amount=50 * USDC, nonce=77)
    receipt = send(round_.functions.invest(*args), investor)
    assert one_event(round_, receipt, "Invested") == {
        "investor": investor,
        "nonce": 77,
        "requested": 40 * USDC,
        "amount": 40 * USDC,
        "investorTotal": 40 * USDC,
        "roundTotal": 40 * USDC,
    }
    env.invest(round_, investor, 10 * USDC)
    f = round_.functions
    assert f.contributionOf(investor).call() == 50 * USDC
    assert f.totalRaised().call() == 50 * USDC
    assert f.investorCount().call() == 1
    assert f.nonceUsed(investor, 77).call()
    assert env.stablecoin.functions.balanceOf(round_.address).call() == 50 * USDC
    assert env.stablecoin.functions.balanceOf(investor).call() == 50 * USDC
    assert f.state().call() == RoundState.ACTIVE


def test_one_dollar_micro_investments_are_exact(env):
    # 2.50 USDC per token: $1 buys exactly 0.4 token
    round_ = env.round(price_units=2_500_000, soft_cap_units=2 * USDC, hard_cap_units=2 * USDC)
    a, b = env.investors[0], env.investors[1]
    env.fund(round_, a, USDC)
    env.fund(round_, b, USDC)
    env.invest(round_, a, USDC)
    env.invest(round_, b, USDC)
    assert round_.functions.state().call() == RoundState.SUCCEEDED
    receipt = send(round_.functions.claimTokens(), a)
    assert one_event(round_, receipt, "TokensClaimed") == {"investor": a, "contribution": USDC, "amount": 4 * 10**17}
    assert env.token.functions.balanceOf(a).call() == 4 * 10**17


def test_allocation_rounds_down_once_per_investor(env):
    # 3 USDC per token: three $1 investments → floor(3e6 * 1e18 / 3e6) = exactly 1 token, no per-investment loss
    round_ = env.round(price_units=3 * USDC, soft_cap_units=3 * USDC)
    investor = env.investors[0]
    env.fund(round_, investor, 3 * USDC)
    for _ in range(3):
        env.invest(round_, investor, USDC)
    assert round_.functions.tokensForAmount(USDC).call() == 333_333_333_333_333_333
    assert round_.functions.tokenAllocation(investor).call() == TOKEN


def test_invest_rejects_expired_permit(env):
    round_ = env.round()
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    args = env.permit(round_, investor, 10 * USDC, deadline=env.start_s)
    warp_to(env.w3, env.start_s + 10)
    with reverts(round_, "PermitExpired", ANY) as caught:
        send(round_.functions.invest(*args), investor)
    deadline, now = caught.args
    assert deadline == env.start_s and now > deadline


def test_invest_rejects_replayed_nonce(env):
    round_ = env.round()
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC)
    args = env.permit(round_, investor, 10 * USDC, nonce=5)
    send(round_.functions.invest(*args), investor)
    with reverts(round_, "PermitNonceUsed", investor, 5):
        send(round_.functions.invest(*args), investor)
    # the same nonce signed again (even for a different amount) is still spent
    with reverts(round_, "PermitNonceUsed", investor, 5):
        send(round_.functions.invest(*env.permit(round_, investor, 20 * USDC, nonce=5)), investor)


def test_invest_rejects_amount_above_permit(env):
    round_ = env.round()
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC)
    with reverts(round_, "AmountAbovePermit", 11 * USDC, 10 * USDC):
        send(round_.functions.invest(*env.permit(round_, investor, 11 * USDC, max_amount=10 * USDC)), investor)


def test_invest_rejects_bad_signatures(env):
    round_ = env.round()
    other_round = env.round()
    investor, other = env.investors[0], env.investors[1]
    env.fund(round_, investor, 100 * USDC)
    cases = [
        env.permit(round_, investor, 10 * USDC, key=dev_private_key(8)),  # wrong signer
        env.permit(round_, investor, 10 * USDC, signed_investor=other),  # someone else's permit
        env.permit(round_, investor, 10 * USDC, signed_round=other_round.address),  # another round
    ]
    for args in cases:
        with reverts(round_, "InvalidPermitSignature", investor, env.signer):
            send(round_.functions.invest(*args), investor)
    amount, max_amount, deadline, nonce, signature = env.permit(round_, investor, 10 * USDC)
    with reverts(round_, "InvalidPermitSignature", investor, env.signer):  # tampered max amount
        send(round_.functions.invest(amount, max_amount + 1, deadline, nonce, signature), investor)


def test_invest_enforces_min_and_cumulative_max(env):
    round_ = env.round(min_investment_units=5 * USDC, max_investment_units=20 * USDC)
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC)
    with reverts(round_, "BelowMinimumInvestment", 4 * USDC, 5 * USDC):
        env.invest(round_, investor, 4 * USDC)
    env.invest(round_, investor, 15 * USDC)
    with reverts(round_, "AboveMaximumInvestment", investor, 21 * USDC, 20 * USDC):
        env.invest(round_, investor, 6 * USDC)
    env.invest(round_, investor, 5 * USDC)
    assert round_.functions.contributionOf(investor).call() == 20 * USDC


def test_hard_cap_partial_fill_and_tail_below_minimum(env):
    round_ = env.round(
        soft_cap_units=10 * USDC,
        hard_cap_units=25 * USDC,
        min_investment_units=10 * USDC,
        max_investment_units=25 * USDC,
    )
    a, b, c = env.investors
    for investor in (a, b, c):
        env.fund(round_, investor, 30 * USDC)
    env.invest(round_, a, 20 * USDC)
    # only 5 USDC of room left: 4 < min and < room is rejected, 7 ≥ room is partially filled
    with reverts(round_, "BelowMinimumInvestment", 4 * USDC, 10 * USDC):
        env.invest(round_, b, 4 * USDC)
    receipt = env.invest(round_, b, 7 * USDC)
    event = one_event(round_, receipt, "Invested")
    assert (event["requested"], event["amount"], event["roundTotal"]) == (7 * USDC, 5 * USDC, 25 * USDC)
    assert env.stablecoin.functions.balanceOf(b).call() == 25 * USDC  # only the accepted part was pulled
    assert round_.functions.state().call() == RoundState.SUCCEEDED
    with reverts(round_, "InvalidState", RoundState.SUCCEEDED):
        env.invest(round_, c, 10 * USDC)


def test_invest_after_end_is_rejected(env):
    round_ = env.round()
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    env.end(round_)
    with reverts(round_, "InvalidState", RoundState.FAILED):
        env.invest(round_, investor, 10 * USDC)


def test_fee_on_transfer_stablecoin_is_credited_by_balance_delta(env):
    coin = deploy_contract(env.w3, "MockFeeOnTransferToken", 100)  # 1 % burnt per transfer
    round_ = env.round(stablecoin=coin.address)
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC, stablecoin=coin)
    receipt = env.invest(round_, investor, 100 * USDC)
    assert one_event(round_, receipt, "Invested")["amount"] == 99 * USDC
    assert round_.functions.contributionOf(investor).call() == 99 * USDC
    assert round_.functions.totalRaised().call() == coin.functions.balanceOf(round_.address).call()


def test_zero_amount_received_is_rejected(env):
    round_ = env.round()
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    # a signed permit for 0 with min 1 USDC: rejected before any transfer
    with reverts(round_, "BelowMinimumInvestment", 0, USDC):
        env.invest(round_, investor, 0)


# ------------------------------------------------------------------------------ failure and refunds


def test_failed_round_refunds_exactly_and_never_mints(env):
    round_ = env.round()
    a, b, c = env.investors
    for investor, amount in ((a, 123_456_789), (b, 1 * USDC)):
        env.fund(round_, investor, amount)
        env.invest(round_, investor, amount)
    env.end(round_)
    assert round_.functions.state().call() == RoundState.FAILED
    assert round_.functions.refundPool().call() == 123_456_789 + USDC
    with reverts(round_, "InvalidState", RoundState.FAILED):
        send(round_.functions.claimTokens(), a)
    with reverts(round_, "InvalidState", RoundState.FAILED):
        send(round_.functions.approveMilestoneAsIssuer(0), env.issuer)
    receipt = send(round_.functions.claimRefund(), a)
    assert one_event(round_, receipt, "Refunded") == {"investor": a, "amount": 123_456_789}
    send(round_.functions.claimRefund(), b)
    assert env.stablecoin.functions.balanceOf(a).call() == 123_456_789
    assert env.stablecoin.functions.balanceOf(b).call() == USDC
    assert env.stablecoin.functions.balanceOf(round_.address).call() == 0
    assert env.token.functions.totalSupply().call() == 0
    with reverts(round_, "AlreadyRefunded", a):
        send(round_.functions.claimRefund(), a)
    with reverts(round_, "NothingToRefund", c):
        send(round_.functions.claimRefund(), c)
    status = read_round(env.w3, round_)
    assert status.refunded_units == status.total_raised_units and status.refunded_count == 2


def test_refund_rejected_while_active_or_succeeded(env):
    round_ = env.round(soft_cap_units=10 * USDC)
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    env.invest(round_, investor, 10 * USDC)
    with reverts(round_, "InvalidState", RoundState.ACTIVE):
        send(round_.functions.claimRefund(), investor)
    env.end(round_)
    with reverts(round_, "InvalidState", RoundState.SUCCEEDED):
        send(round_.functions.claimRefund(), investor)


def test_cancel_before_success(env):
    round_ = env.round()
    a = env.investors[0]
    env.fund(round_, a, 50 * USDC)
    env.invest(round_, a, 50 * USDC)
    with reverts(round_, "NotIssuerOrArbiter", a):
        send(round_.functions.cancel(), a)
    receipt = send(round_.functions.cancel(), env.arbiter)
    assert one_event(round_, receipt, "RoundCancelled") == {
        "by": env.arbiter,
        "afterSuccess": False,
        "refundPool": 50 * USDC,
    }
    assert round_.functions.state().call() == RoundState.CANCELLED
    with reverts(round_, "InvalidState", RoundState.CANCELLED):
        send(round_.functions.cancel(), env.issuer)
    with reverts(round_, "InvalidState", RoundState.CANCELLED):
        env.invest(round_, a, USDC)
    with reverts(round_, "InvalidState", RoundState.CANCELLED):
        send(round_.functions.claimTokens(), a)
    assert round_.functions.refundableOf(a).call() == 50 * USDC
    send(round_.functions.claimRefund(), a)
    assert env.stablecoin.functions.balanceOf(a).call() == 50 * USDC


# ------------------------------------------------------------------------------ success, claims, milestones


def _succeeded_round(env, amounts=(600 * USDC, 300 * USDC, 101 * USDC), **overrides):
    round_ = env.round(**overrides)
    for investor, amount in zip(env.investors, amounts, strict=True):
        env.fund(round_, investor, amount)
        env.invest(round_, investor, amount)
    env.end(round_)
    assert round_.functions.state().call() == RoundState.SUCCEEDED
    return round_


def test_claim_tokens_after_success(env):
    round_ = _succeeded_round(env)
    a, _, c = env.investors
    receipt = send(round_.functions.claimTokens(), a)
    assert one_event(round_, receipt, "TokensClaimed") == {
        "investor": a,
        "contribution": 600 * USDC,
        "amount": 600 * TOKEN,
    }
    assert env.token.functions.balanceOf(a).call() == 600 * TOKEN
    assert round_.functions.tokensClaimed(a).call()
    assert round_.functions.tokensClaimedTotal().call() == 600 * TOKEN
    with reverts(round_, "AlreadyClaimed", a):
        send(round_.functions.claimTokens(), a)
    with reverts(round_, "NothingToClaim", env.issuer):
        send(round_.functions.claimTokens(), env.issuer)
    code = env.restrict(c)
    with reverts(env.token, "TransferRestricted", code):
        send(round_.functions.claimTokens(), c)


def test_claims_do_not_depend_on_a_role_the_creator_controls(env):
    """The round delivers allocations as the token's attached round, not as an ISSUER_ROLE holder:
    the creator revoking roles cannot block claims, and nobody else can deliver an allocation."""
    round_ = _succeeded_round(env)
    a = env.investors[0]
    issuer_role = env.token.functions.ISSUER_ROLE().call()
    assert not env.token.functions.hasRole(issuer_role, round_.address).call()
    send(env.token.functions.revokeRole(issuer_role, env.admin), env.admin)
    send(round_.functions.claimTokens(), a)
    assert env.token.functions.balanceOf(a).call() == 600 * TOKEN
    with reverts(env.token, "NotSoldRound", env.admin):
        send(env.token.functions.deliverAllocation(env.admin, 1), env.admin)


def test_milestones_need_both_approvals_and_release_in_order(env):
    round_ = _succeeded_round(env)  # raised 1,001 USDC, fee 2.5 %, milestones 30/30/40 %
    f = round_.functions
    raised = 1_001 * USDC
    issuer_role, arbiter_role = role(round_, "ISSUER_ROLE"), role(round_, "ARBITER_ROLE")

    with reverts(round_, "AccessControlUnauthorizedAccount", env.arbiter, issuer_role):
        send(f.approveMilestoneAsIssuer(0), env.arbiter)
    with reverts(round_, "AccessControlUnauthorizedAccount", env.issuer, arbiter_role):
        send(f.approveMilestoneAsArbiter(0), env.issuer)
    with reverts(round_, "NotNextMilestone", 1, 0):
        send(f.approveMilestoneAsIssuer(1), env.issuer)
    with reverts(round_, "MilestoneNotApproved", 0, False, False):
        send(f.releaseMilestone(0), env.admin)

    receipt = send(f.approveMilestoneAsIssuer(0), env.issuer)
    assert one_event(round_, receipt, "MilestoneApproved") == {"index": 0, "role": issuer_role, "approver": env.issuer}
    with reverts(round_, "AlreadyApproved", 0, issuer_role, env.issuer):
        send(f.approveMilestoneAsIssuer(0), env.issuer)
    with reverts(round_, "MilestoneNotApproved", 0, True, False):
        send(f.releaseMilestone(0), env.admin)
    receipt = send(f.approveMilestoneAsArbiter(0), env.arbiter)
    assert one_event(round_, receipt, "MilestoneApproved")["role"] == arbiter_role
    with reverts(round_, "AlreadyApproved", 0, arbiter_role, env.arbiter):
        send(f.approveMilestoneAsArbiter(0), env.arbiter)
    assert f.milestoneApproval(0).call() == [env.issuer, env.arbiter]

    receipt = send(f.releaseMilestone(0), env.investors[0])  # anyone may trigger
    gross = raised * 3_000 // 10_000
    fee = gross * 250 // 10_000
    assert one_event(round_, receipt, "MilestoneReleased") == {
        "index": 0,
        "treasury": env.treasury,
        "feeRecipient": env.fee_recipient,
        "gross": gross,
        "net": gross - fee,
        "fee": fee,
    }
    assert env.stablecoin.functions.balanceOf(env.treasury).call() == gross - fee
    assert env.stablecoin.functions.balanceOf(env.fee_recipient).call() == fee
    with reverts(round_, "NotNextMilestone", 0, 1):
        send(f.releaseMilestone(0), env.admin)

    for index in (1, 2):
        send(f.approveMilestoneAsIssuer(index), env.issuer)
        send(f.approveMilestoneAsArbiter(index), env.arbiter)
        send(f.releaseMilestone(index), env.admin)
    status = read_round(env.w3, round_)
    assert status.state == RoundState.CLOSED
    assert status.released_gross_units == raised
    assert status.released_to_treasury_units + status.fees_paid_units == raised
    assert status.escrow_balance_units == 0
    with reverts(round_, "InvalidState", RoundState.CLOSED):
        send(f.approveMilestoneAsIssuer(3), env.issuer)
    with reverts(round_, "InvalidState", RoundState.CLOSED):
        send(f.cancel(), env.issuer)
    send(f.claimTokens(), env.investors[1])  # claims stay open after close


def test_one_address_cannot_give_both_approvals(env):
    round_ = _succeeded_round(env)
    f = round_.functions
    send(f.grantRole(role(round_, "ARBITER_ROLE"), env.issuer), env.admin)
    send(f.approveMilestoneAsIssuer(0), env.issuer)
    with reverts(round_, "SameApprover", 0, env.issuer):
        send(f.approveMilestoneAsArbiter(0), env.issuer)
    # and the other order
    now = env.w3.eth.get_block("latest")["timestamp"]
    round2 = _succeeded_round(env, start_time_s=now + 10, end_time_s=now + 1_000)
    send(round2.functions.grantRole(role(round2, "ISSUER_ROLE"), env.arbiter), env.admin)
    send(round2.functions.approveMilestoneAsArbiter(0), env.arbiter)
    with reverts(round2, "SameApprover", 0, env.arbiter):
        send(round2.functions.approveMilestoneAsIssuer(0), env.arbiter)


def test_approval_before_success_is_rejected(env):
    round_ = env.round()
    with reverts(round_, "InvalidState", RoundState.ACTIVE):
        send(round_.functions.approveMilestoneAsIssuer(0), env.issuer)
    with reverts(round_, "InvalidState", RoundState.ACTIVE):
        send(round_.functions.releaseMilestone(0), env.issuer)


def test_cancel_after_success_refunds_remainder_pro_rata(env):
    amounts = (600 * USDC, 300 * USDC, 100 * USDC + 7)
    round_ = _succeeded_round(env, amounts=amounts)
    f = round_.functions
    raised = sum(amounts)
    send(f.claimTokens(), env.investors[0])
    send(f.approveMilestoneAsIssuer(0), env.issuer)
    send(f.approveMilestoneAsArbiter(0), env.arbiter)
    send(f.releaseMilestone(0), env.admin)
    released = f.releasedGross().call()
    receipt = send(f.cancel(), env.issuer)
    pool = raised - released
    assert one_event(round_, receipt, "RoundCancelled") == {"by": env.issuer, "afterSuccess": True, "refundPool": pool}
    assert f.cancelledAfterSuccess().call()
    with reverts(round_, "InvalidState", RoundState.CANCELLED):
        send(f.releaseMilestone(1), env.admin)
    refunds = []
    for investor, amount in zip(env.investors, amounts, strict=True):
        expected = f.refundableOf(investor).call()
        receipt = send(f.claimRefund(), investor)
        assert one_event(round_, receipt, "Refunded") == {"investor": investor, "amount": expected}
        assert expected >= amount * pool // raised
        refunds.append(expected)
    assert sum(refunds) == pool
    status = read_round(env.w3, round_)
    assert status.released_to_treasury_units + status.fees_paid_units + status.refunded_units == raised
    assert status.escrow_balance_units == 0
    # Each refund took back the refunded fraction of the allocation (rounded up): burned from the
    # investor who had claimed, withheld from those who had not. Nobody keeps money and tokens.
    a, b, _ = env.investors
    kept = [
        amount * TOKEN // USDC - -(-(amount * TOKEN // USDC) * refund // amount)
        for amount, refund in zip(amounts, refunds, strict=True)
    ]
    assert env.token.functions.balanceOf(a).call() == kept[0]
    assert f.allocationReturned(b).call() == 300 * TOKEN - kept[1]
    send(f.claimTokens(), b)
    assert env.token.functions.balanceOf(b).call() == kept[1]
    assert 0 < kept[1] < 300 * TOKEN


# ------------------------------------------------------------------------------ admin


def test_set_compliance_signer(env):
    round_ = env.round()
    f = round_.functions
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC)
    new_key = dev_private_key(8)
    new_signer = Account.from_key(new_key).address
    platform_role = role(round_, "PLATFORM_ROLE")
    with reverts(round_, "AccessControlUnauthorizedAccount", env.issuer, platform_role):
        send(f.setComplianceSigner(new_signer), env.issuer)
    with reverts(round_, "ZeroAddress"):
        send(f.setComplianceSigner("0x" + "00" * 20), env.admin)
    old_permit = env.permit(round_, investor, 10 * USDC)
    receipt = send(f.setComplianceSigner(new_signer), env.admin)
    assert one_event(round_, receipt, "ComplianceSignerChanged") == {
        "previousSigner": env.signer,
        "newSigner": new_signer,
    }
    with reverts(round_, "InvalidPermitSignature", investor, new_signer):
        send(f.invest(*old_permit), investor)
    send(f.invest(*env.permit(round_, investor, 10 * USDC, key=new_key)), investor)
    assert f.totalRaised().call() == 10 * USDC


def test_revoke_permit(env):
    round_ = env.round()
    f = round_.functions
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC)
    args = env.permit(round_, investor, 10 * USDC, nonce=42)
    compliance_role = role(round_, "COMPLIANCE_ROLE")
    with reverts(round_, "AccessControlUnauthorizedAccount", investor, compliance_role):
        send(f.revokePermit(investor, 42), investor)
    receipt = send(f.revokePermit(investor, 42), env.compliance)
    assert one_event(round_, receipt, "PermitRevoked") == {"investor": investor, "nonce": 42, "by": env.compliance}
    with reverts(round_, "PermitNonceUsed", investor, 42):
        send(f.invest(*args), investor)
    with reverts(round_, "PermitNonceUsed", investor, 42):
        send(f.revokePermit(investor, 42), env.compliance)


def test_views_before_any_investment(env):
    round_ = env.round()
    f = round_.functions
    assert f.refundPool().call() == 0
    assert f.refundableOf(env.investors[0]).call() == 0
    assert f.milestoneApproval(0).call() == ["0x" + "00" * 20] * 2
    assert f.tokensForAmount(USDC).call() == TOKEN
    assert f.TOKEN_UNIT().call() == TOKEN


# ------------------------------------------------------------------------------ finalize, ERC-1271, reentrancy


def test_finalize_emits_the_outcome_once(env):
    round_ = env.round()
    f = round_.functions
    with reverts(round_, "InvalidState", RoundState.ACTIVE):
        send(f.finalize(), env.admin)
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    env.invest(round_, investor, 10 * USDC)
    env.end(round_)
    receipt = send(f.finalize(), env.investors[2])
    assert one_event(round_, receipt, "RoundFinalized") == {
        "succeeded": False,
        "totalRaised": 10 * USDC,
        "tokensSold": 10 * TOKEN,
    }
    assert f.finalized().call()
    with reverts(round_, "AlreadyFinalized"):
        send(f.finalize(), env.admin)
    succeeded = _succeeded_round(
        env,
        start_time_s=env.w3.eth.get_block("latest")["timestamp"] + 10,
        end_time_s=env.w3.eth.get_block("latest")["timestamp"] + 1_000,
    )
    receipt = send(succeeded.functions.finalize(), env.admin)
    assert one_event(succeeded, receipt, "RoundFinalized")["succeeded"] is True
    cancelled = env.round(
        start_time_s=env.w3.eth.get_block("latest")["timestamp"] + 10,
        end_time_s=env.w3.eth.get_block("latest")["timestamp"] + 1_000,
    )
    send(cancelled.functions.cancel(), env.issuer)
    with reverts(cancelled, "InvalidState", RoundState.CANCELLED):
        send(cancelled.functions.finalize(), env.admin)


def test_contract_compliance_signer_via_erc1271(env):
    owner_key = dev_private_key(8)
    wallet = deploy_contract(env.w3, "TestERC1271Signer", Account.from_key(owner_key).address)
    round_ = env.round(compliance_signer=wallet.address)
    investor = env.investors[0]
    env.fund(round_, investor, 10 * USDC)
    env.invest(round_, investor, 5 * USDC, key=owner_key)
    with reverts(round_, "InvalidPermitSignature", investor, wallet.address):
        env.invest(round_, investor, 5 * USDC)  # the platform EOA key is not the wallet's owner
    assert round_.functions.totalRaised().call() == 5 * USDC


def test_reentrancy_through_the_stablecoin_is_blocked(env):
    coin = deploy_contract(env.w3, "TestReentrantERC20")
    round_ = env.round(stablecoin=coin.address)
    investor = env.investors[0]
    env.fund(round_, investor, 100 * USDC, stablecoin=coin)
    reenter = round_.functions.claimRefund()._encode_transaction_data()
    send(coin.functions.arm(round_.address, reenter), env.admin)
    with reverts(round_, "ReentrancyGuardReentrantCall"):
        env.invest(round_, investor, 10 * USDC)
    send(coin.functions.arm("0x" + "00" * 20, b""), env.admin)
    env.invest(round_, investor, 10 * USDC)
    env.end(round_)
    send(coin.functions.arm(round_.address, reenter), env.admin)
    with reverts(round_, "ReentrancyGuardReentrantCall"):  # refund → transfer → refund again
        send(round_.functions.claimRefund(), investor)
    send(coin.functions.arm("0x" + "00" * 20, b""), env.admin)
    send(round_.functions.claimRefund(), investor)
    assert coin.functions.balanceOf(investor).call() == 100 * USDC


# ------------------------------------------------------------------------------ permits.py


def test_python_permit_helpers_sign_recover_and_verify():
    from contracts.permits import recover_permit_signer, sign_investment_permit, verify_investment_permit

    key = dev_private_key(9)
    signer = Account.from_key(key).address
    fields = dict(
        chain_id=31337,
        round_address="0x" + "11" * 20,
        investor="0x" + "22" * 20,
        max_amount=USDC,
        deadline=2**40,
        nonce=1,
    )
    signature = sign_investment_permit(key, **fields)
    assert len(signature) == 65
    assert recover_permit_signer(signature, **fields) == signer
    assert verify_investment_permit(signature, signer, **fields)
    assert not verify_investment_permit(signature, signer, **{**fields, "nonce": 2})
    assert not verify_investment_permit(signature, Account.from_key(dev_private_key(8)).address, **fields)
    assert not verify_investment_permit(b"\x00" * 10, signer, **fields)
    with pytest.raises(ValueError):
        InvestmentPermit(1, "0x" + "11" * 20, "0x" + "22" * 20, -1, 0, 0)
