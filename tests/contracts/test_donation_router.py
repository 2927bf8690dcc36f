"""DonationRouter on anvil: registry of treasuries, capped fee, non-custodial ETH/ERC-20 donations."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from contracts.deploy import deploy_contract
from contracts.funding import USDC_UNIT, DonationKind, deploy_donation_router, send
from tests.contracts.funding_support import ZERO, one_event, reverts

pytestmark = pytest.mark.chain

ETH = ZERO
USDC = USDC_UNIT


@pytest.fixture()
def env(w3):
    a = w3.eth.accounts
    admin, registrar, donor, treasury, fee_recipient, stranger = a[0], a[1], a[2], a[3], a[4], a[5]
    router = deploy_donation_router(w3, admin=admin, fee_recipient=fee_recipient, fee_bps=250)
    send(router.functions.grantRole(router.functions.REGISTRAR_ROLE().call(), registrar), admin)
    send(router.functions.registerPortfolio(7, treasury), registrar)
    coin = deploy_contract(w3, "MockStablecoin")
    send(coin.functions.mint(donor, 1_000 * USDC), admin)
    send(coin.functions.approve(router.address, 2**256 - 1), donor)
    return SimpleNamespace(
        w3=w3,
        admin=admin,
        registrar=registrar,
        donor=donor,
        treasury=treasury,
        fee_recipient=fee_recipient,
        stranger=stranger,
        router=router,
        coin=coin,
    )


def role(contract, name):
    return getattr(contract.functions, name)().call()


def donate(
    env,
    *,
    pid=7,
    kind=DonationKind.DONATION,
    token=None,
    amount=100 * USDC,
    message="for the album",
    anonymous=False,
    value=None,
    sender=None,
):
    token = env.coin.address if token is None else token
    value = (amount if token == ETH else 0) if value is None else value
    return send(env.router.functions.donate(pid, kind, token, amount, message, anonymous), sender or env.donor, value)


def test_constructor_sets_admin_fee_and_emits(env):
    f = env.router.functions
    assert f.hasRole(role(env.router, "DEFAULT_ADMIN_ROLE"), env.admin).call()
    assert (f.feeRecipient().call(), f.feeBps().call()) == (env.fee_recipient, 250)
    assert env.router.events.FeeChanged().get_logs(from_block=0)[0]["args"]["newFeeBps"] == 250
    recipient_changed = env.router.events.FeeRecipientChanged().get_logs(from_block=0)[0]
    assert recipient_changed["args"]["newRecipient"] == env.fee_recipient


def test_constructor_rejects_bad_arguments(env):
    artifact_name = "DonationRouter"
    probe = env.router
    with reverts(probe, "ZeroAddress"):
        deploy_contract(env.w3, artifact_name, ZERO, env.fee_recipient, 0)
    with reverts(probe, "ZeroAddress"):
        deploy_contract(env.w3, artifact_name, env.admin, ZERO, 0)
    with reverts(probe, "FeeTooHigh", 1_001, 1_000):
        deploy_contract(env.w3, artifact_name, env.admin, env.fee_recipient, 1_001)


def test_register_portfolio(env):
    f = env.router.functions
    logs = env.router.events.PortfolioRegistered().get_logs(from_block=0)
    assert [dict(log["args"]) for log in logs] == [{"portfolioId": 7, "treasury": env.treasury, "by": env.registrar}]
    assert f.treasuryOf(7).call() == env.treasury
    with reverts(env.router, "PortfolioAlreadyRegistered", 7, env.treasury):
        send(f.registerPortfolio(7, env.stranger), env.registrar)
    with reverts(env.router, "ZeroAddress"):
        send(f.registerPortfolio(8, ZERO), env.registrar)
    with reverts(env.router, "AccessControlUnauthorizedAccount", env.admin, role(env.router, "REGISTRAR_ROLE")):
        send(f.registerPortfolio(8, env.stranger), env.admin)


def test_set_treasury(env):
    f = env.router.functions
    receipt = send(f.setTreasury(7, env.stranger), env.admin)
    assert one_event(env.router, receipt, "TreasuryChanged") == {
        "portfolioId": 7,
        "previousTreasury": env.treasury,
        "newTreasury": env.stranger,
    }
    with reverts(env.router, "UnknownPortfolio", 8):
        send(f.setTreasury(8, env.stranger), env.admin)
    with reverts(env.router, "ZeroAddress"):
        send(f.setTreasury(7, ZERO), env.admin)
    with reverts(env.router, "AccessControlUnauthorizedAccount", env.registrar, role(env.router, "DEFAULT_ADMIN_ROLE")):
        send(f.setTreasury(7, env.treasury), env.registrar)


def test_fee_settings(env):
    f = env.router.functions
    admin_role = role(env.router, "DEFAULT_ADMIN_ROLE")
    receipt = send(f.setFee(1_000), env.admin)
    assert one_event(env.router, receipt, "FeeChanged") == {"previousFeeBps": 250, "newFeeBps": 1_000}
    with reverts(env.router, "FeeTooHigh", 1_001, 1_000):
        send(f.setFee(1_001), env.admin)
    with reverts(env.router, "AccessControlUnauthorizedAccount", env.stranger, admin_role):
        send(f.setFee(0), env.stranger)
    receipt = send(f.setFeeRecipient(env.stranger), env.admin)
    assert one_event(env.router, receipt, "FeeRecipientChanged") == {
        "previousRecipient": env.fee_recipient,
        "newRecipient": env.stranger,
    }
    with reverts(env.router, "ZeroAddress"):
        send(f.setFeeRecipient(ZERO), env.admin)
    with reverts(env.router, "AccessControlUnauthorizedAccount", env.stranger, admin_role):
        send(f.setFeeRecipient(env.stranger), env.stranger)


def test_erc20_donation_splits_fee_and_holds_nothing(env):
    receipt = donate(env, amount=100 * USDC)
    assert one_event(env.router, receipt, "Donated") == {
        "portfolioId": 7,
        "kind": DonationKind.DONATION,
        "donor": env.donor,
        "token": env.coin.address,
        "gross": 100 * USDC,
        "fee": 2_500_000,
        "net": 97_500_000,
        "isAnonymous": False,
        "message": "for the album",
    }
    bal = env.coin.functions.balanceOf
    assert (bal(env.treasury).call(), bal(env.fee_recipient).call(), bal(env.router.address).call()) == (
        97_500_000,
        2_500_000,
        0,
    )
    assert bal(env.donor).call() == 900 * USDC


def test_one_dollar_tip_and_anonymous_gift(env):
    receipt = donate(env, kind=DonationKind.TIP, amount=USDC, message="")
    event = one_event(env.router, receipt, "Donated")
    assert (event["kind"], event["gross"], event["fee"], event["net"]) == (DonationKind.TIP, USDC, 25_000, 975_000)
    receipt = donate(env, kind=DonationKind.GIFT, amount=3, anonymous=True, message="from a fan")
    event = one_event(env.router, receipt, "Donated")
    # 3 * 250 / 10_000 rounds down to no fee: the whole gift reaches the treasury
    assert (event["donor"], event["isAnonymous"], event["fee"], event["net"]) == (ZERO, True, 0, 3)
    # the ledger still sees the payer in the same transaction's ERC-20 Transfer and in tx.from
    transfers = env.coin.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert {t["args"]["from"] for t in transfers} == {env.donor}
    assert env.w3.eth.get_transaction(receipt["transactionHash"])["from"] == env.donor


def test_eth_donation(env):
    before = {a: env.w3.eth.get_balance(a) for a in (env.treasury, env.fee_recipient)}
    receipt = donate(env, token=ETH, amount=10**18, anonymous=True)
    event = one_event(env.router, receipt, "Donated")
    assert (event["token"], event["donor"], event["gross"], event["fee"], event["net"]) == (
        ETH,
        ZERO,
        10**18,
        25 * 10**15,
        975 * 10**15,
    )
    assert env.w3.eth.get_balance(env.treasury) - before[env.treasury] == 975 * 10**15
    assert env.w3.eth.get_balance(env.fee_recipient) - before[env.fee_recipient] == 25 * 10**15
    assert env.w3.eth.get_balance(env.router.address) == 0


def test_zero_fee_sends_everything_to_the_treasury(env):
    send(env.router.functions.setFee(0), env.admin)
    receipt = donate(env, amount=5 * USDC)
    event = one_event(env.router, receipt, "Donated")
    assert (event["fee"], event["net"]) == (0, 5 * USDC)


def test_donation_rejections(env):
    with reverts(env.router, "UnknownPortfolio", 8):
        donate(env, pid=8)
    with reverts(env.router, "ZeroAmount"):
        donate(env, amount=0)
    with reverts(env.router, "MessageTooLong", 281, 280):
        donate(env, message="x" * 281)
    with reverts(env.router, "MessageTooLong", 282, 280):  # bytes, not characters
        donate(env, message="é" * 141)
    donate(env, message="x" * 280)
    with reverts(env.router, "ValueMismatch", 5, 10):
        donate(env, token=ETH, amount=10, value=5)
    with reverts(env.router, "ValueMismatch", 1, 10):
        donate(env, amount=10, value=1)


def test_fee_on_transfer_token_reports_what_arrived(env):
    coin = deploy_contract(env.w3, "MockFeeOnTransferToken", 100)  # 1 % burnt per transfer
    send(coin.functions.mint(env.donor, 10_000), env.admin)
    send(coin.functions.approve(env.router.address, 10_000), env.donor)
    receipt = donate(env, token=coin.address, amount=10_000)
    event = one_event(env.router, receipt, "Donated")
    # each leg loses 1 % in transit; the event carries what reached the fee recipient and the treasury
    assert event["fee"] == coin.functions.balanceOf(env.fee_recipient).call()
    assert event["net"] == coin.functions.balanceOf(env.treasury).call()
    assert event["gross"] == event["fee"] + event["net"] < 10_000


def test_failing_treasury_reverts_the_whole_donation(env):
    rejecting = deploy_contract(env.w3, "TestRejectingReceiver")
    send(env.router.functions.registerPortfolio(9, rejecting.address), env.registrar)
    before = env.w3.eth.get_balance(env.fee_recipient)
    with pytest.raises(ContractLogicError, match="no ETH"):
        donate(env, pid=9, token=ETH, amount=10**18)
    assert env.w3.eth.get_balance(env.fee_recipient) == before
    donate(env, pid=9, amount=USDC)  # ERC-20 to the same treasury still works
