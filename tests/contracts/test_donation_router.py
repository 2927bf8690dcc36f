"""DonationRouter on anvil: registry of treasuries, whitelisted currencies, capped fee with a per-currency
minimum, non-custodial ETH/ERC-20 donations."""

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
    send(router.functions.setCurrencyAllowed(coin.address, True, 0), admin)
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
    # ETH is a currency of the whitelist, allowed from the start with no minimum fee
    assert f.currencyOf(ETH).call() == [True, 0]
    assert f.minDonation(ETH).call() == 1
    first_currency = env.router.events.CurrencyChanged().get_logs(from_block=0)[0]
    assert dict(first_currency["args"]) == {"currency": ETH, "allowed": True, "minFee": 0}


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


def fake_usdc(env, holder):
    """A look-alike stablecoin anyone can deploy: same code and name as the real one, another address."""
    fake = deploy_contract(env.w3, "MockStablecoin", sender=holder)
    assert fake.functions.symbol().call() == env.coin.functions.symbol().call()
    send(fake.functions.mint(holder, 1_000_000 * USDC), holder)
    send(fake.functions.approve(env.router.address, 2**256 - 1), holder)
    return fake


def test_attacker_cannot_donate_a_fake_usdc(env):
    # the attacker's token would otherwise make a Donated event the ledger books as money
    fake = fake_usdc(env, env.stranger)
    with reverts(env.router, "CurrencyNotAllowed", fake.address):
        donate(env, token=fake.address, amount=1_000 * USDC, sender=env.stranger)
    with reverts(env.router, "CurrencyNotAllowed", fake.address):
        donate(env, token=fake.address, amount=1_000 * USDC, sender=env.stranger, anonymous=True)
    assert env.router.events.Donated().get_logs(from_block=0) == []
    assert fake.functions.balanceOf(env.treasury).call() == 0
    # and it cannot put its token on the whitelist, nor can the registrar (the factory)
    admin_role = role(env.router, "DEFAULT_ADMIN_ROLE")
    for outsider in (env.stranger, env.registrar, env.treasury):
        with reverts(env.router, "AccessControlUnauthorizedAccount", outsider, admin_role):
            send(env.router.functions.setCurrencyAllowed(fake.address, True, 0), outsider)
    assert env.router.functions.currencyOf(fake.address).call() == [False, 0]
    with reverts(env.router, "CurrencyNotAllowed", fake.address):
        env.router.functions.minDonation(fake.address).call()


def test_set_currency_allowed(env):
    f = env.router.functions
    other = deploy_contract(env.w3, "MockStablecoin")
    receipt = send(f.setCurrencyAllowed(other.address, True, 100_000), env.admin)
    assert one_event(env.router, receipt, "CurrencyChanged") == {
        "currency": other.address,
        "allowed": True,
        "minFee": 100_000,
    }
    assert f.currencyOf(other.address).call() == [True, 100_000]
    assert f.minDonation(other.address).call() == 1_000_000
    # disallowing a currency stops its donations at once
    receipt = send(f.setCurrencyAllowed(env.coin.address, False, 0), env.admin)
    assert one_event(env.router, receipt, "CurrencyChanged") == {
        "currency": env.coin.address,
        "allowed": False,
        "minFee": 0,
    }
    with reverts(env.router, "CurrencyNotAllowed", env.coin.address):
        donate(env, amount=100 * USDC)
    send(f.setCurrencyAllowed(env.coin.address, True, 0), env.admin)
    donate(env, amount=100 * USDC)


def test_eth_can_be_disallowed_or_given_a_minimum_fee(env):
    f = env.router.functions
    send(f.setCurrencyAllowed(ETH, False, 0), env.admin)
    with reverts(env.router, "CurrencyNotAllowed", ETH):
        donate(env, token=ETH, amount=10**18)
    send(f.setCurrencyAllowed(ETH, True, 10**15), env.admin)  # 0.001 ETH minimum fee
    assert f.minDonation(ETH).call() == 10**16
    with reverts(env.router, "DonationTooSmall", 10**16 - 1, 10**16):
        donate(env, token=ETH, amount=10**16 - 1)
    event = one_event(env.router, donate(env, token=ETH, amount=10**16), "Donated")
    assert (event["gross"], event["fee"], event["net"]) == (10**16, 10**15, 9 * 10**15)


def test_minimum_fee_applies_to_small_donations(env):
    send(env.router.functions.setCurrencyAllowed(env.coin.address, True, 100_000), env.admin)  # 0.10 USDC
    assert env.router.functions.minDonation(env.coin.address).call() == USDC
    # below 4 USDC, 2.5 % is less than 0.10 USDC: the minimum fee applies
    event = one_event(env.router, donate(env, kind=DonationKind.TIP, amount=USDC, message=""), "Donated")
    assert (event["gross"], event["fee"], event["net"]) == (USDC, 100_000, 900_000)
    event = one_event(env.router, donate(env, amount=4 * USDC), "Donated")
    assert (event["fee"], event["net"]) == (100_000, 3_900_000)
    # above it the percentage applies as before
    event = one_event(env.router, donate(env, amount=100 * USDC), "Donated")
    assert (event["fee"], event["net"]) == (2_500_000, 97_500_000)
    assert env.coin.functions.balanceOf(env.router.address).call() == 0


def test_donations_the_minimum_fee_would_eat_are_refused(env):
    send(env.router.functions.setCurrencyAllowed(env.coin.address, True, 100_000), env.admin)
    # at or below the minimum fee the treasury would get nothing; up to 10x it, the fee would pass 10 %
    for amount in (1, 3, 99_999, 100_000, 100_001, 500_000, USDC - 1):
        with reverts(env.router, "DonationTooSmall", amount, USDC):
            donate(env, amount=amount)
    assert env.router.events.Donated().get_logs(from_block=0) == []
    assert env.coin.functions.balanceOf(env.donor).call() == 1_000 * USDC


def test_admin_cannot_take_more_than_the_max_fee_through_the_minimum_fee(env):
    # a minimum fee set just under a pending donation must not take almost all of it
    f = env.router.functions
    send(f.setFee(1_000), env.admin)  # the largest percentage fee
    send(f.setCurrencyAllowed(env.coin.address, True, 100 * USDC - 1), env.admin)
    with reverts(env.router, "DonationTooSmall", 100 * USDC, 1_000 * USDC - 10):
        donate(env, amount=100 * USDC)
    send(f.setCurrencyAllowed(env.coin.address, True, 2**128 - 1), env.admin)  # the largest minimum fee
    with reverts(env.router, "DonationTooSmall", 1_000 * USDC, (2**128 - 1) * 10):
        donate(env, amount=1_000 * USDC)
    # at every accepted amount: minimum fee <= fee <= 10 % of the donation, and the treasury gets > 0
    send(f.setCurrencyAllowed(env.coin.address, True, 7), env.admin)
    assert f.minDonation(env.coin.address).call() == 70
    for amount in (70, 71, 79, 80, 99, 100, 12_345, 10 * USDC):
        event = one_event(env.router, donate(env, amount=amount), "Donated")
        assert 7 <= event["fee"] <= amount * 1_000 // 10_000, amount
        assert event["net"] > 0 and event["fee"] + event["net"] == amount


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
    send(env.router.functions.setCurrencyAllowed(coin.address, True, 0), env.admin)
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
