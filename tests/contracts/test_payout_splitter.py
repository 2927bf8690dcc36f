"""PayoutSplitter on anvil: immutable bps shares, per-token pull accounting for ETH and ERC-20."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from contracts.deploy import deploy_contract
from contracts.funding import deploy_clone_of, deploy_payout_splitter, send
from tests.contracts.funding_support import ZERO, one_event, reverts

pytestmark = pytest.mark.chain

ETH = ZERO


@pytest.fixture()
def team(w3):
    return list(w3.eth.accounts[1:4])


@pytest.fixture()
def splitter(w3, team):
    return deploy_payout_splitter(w3, team, [5_000, 3_000, 2_000])


def pay_eth(w3, to: str, value: int, sender: str | None = None):
    tx_hash = w3.eth.send_transaction({"from": sender or w3.eth.accounts[0], "to": to, "value": value})
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def test_initialize_fixes_payees_and_shares(w3, team, splitter):
    f = splitter.functions
    assert f.payees().call() == team
    assert [f.shareBps(p).call() for p in team] == [5_000, 3_000, 2_000]
    assert f.shareBps(w3.eth.accounts[5]).call() == 0
    logs = splitter.events.SplitterInitialized().get_logs(from_block=0)
    assert [dict(log["args"]) for log in logs] == [{"payees": team, "sharesBps": [5_000, 3_000, 2_000]}]
    with reverts(splitter, "InvalidInitialization"):
        send(f.initialize(team, [5_000, 3_000, 2_000]), w3.eth.accounts[0])


def test_implementation_cannot_be_initialized(w3, team):
    implementation = deploy_contract(w3, "PayoutSplitter")
    with reverts(implementation, "InvalidInitialization"):
        send(implementation.functions.initialize(team, [5_000, 3_000, 2_000]), w3.eth.accounts[0])


@pytest.mark.parametrize(
    ("payees", "shares", "error", "args"),
    [
        ([], [], "InvalidPayees", ()),
        (["a"], [5_000, 5_000], "InvalidPayees", ()),
        (["a"] * 51, [1] * 51, "InvalidPayees", ()),
        (["a", ZERO], [5_000, 5_000], "ZeroAddressPayee", (1,)),
        (["a", "b"], [10_000, 0], "ZeroShare", ("b",)),
        (["a", "a"], [5_000, 5_000], "DuplicatePayee", ("a",)),
        (["a", "b"], [5_000, 4_000], "SharesDoNotSumTo10000", (9_000,)),
    ],
)
def test_initialize_rejects_bad_splits(w3, payees, shares, error, args):
    names = {"a": w3.eth.accounts[1], "b": w3.eth.accounts[2]}
    payees = [names.get(p, p) for p in payees]
    args = tuple(names.get(a, a) if isinstance(a, str) else a for a in args)
    splitter = deploy_clone_of(w3, "PayoutSplitter")
    with reverts(splitter, error, *args):
        send(splitter.functions.initialize(payees, shares), w3.eth.accounts[0])


def test_eth_is_split_and_pulled(w3, team, splitter):
    funder = w3.eth.accounts[0]
    receipt = pay_eth(w3, splitter.address, 10**18)
    assert one_event(splitter, receipt, "PaymentReceived") == {"token": ETH, "from": funder, "amount": 10**18}
    f = splitter.functions
    assert [f.releasable(ETH, p).call() for p in team] == [5 * 10**17, 3 * 10**17, 2 * 10**17]
    before = w3.eth.get_balance(team[0])
    receipt = send(f.release(ETH, team[0]), funder)  # anyone may trigger; money goes to the payee
    assert one_event(splitter, receipt, "PaymentReleased") == {
        "token": ETH,
        "payee": team[0],
        "by": funder,
        "amount": 5 * 10**17,
    }
    assert w3.eth.get_balance(team[0]) - before == 5 * 10**17
    with reverts(splitter, "NothingDue", ETH, team[0]):
        send(f.release(ETH, team[0]), funder)
    # more money arrives: the earlier release is accounted for
    pay_eth(w3, splitter.address, 10**18)
    assert f.releasable(ETH, team[0]).call() == 5 * 10**17
    assert f.releasable(ETH, team[1]).call() == 6 * 10**17
    assert f.totalReceived(ETH).call() == 2 * 10**18
    for payee in team:
        send(f.release(ETH, payee), payee)
    assert w3.eth.get_balance(splitter.address) == 0
    assert f.totalReleased(ETH).call() == 2 * 10**18


def test_erc20_transfers_and_deposits_are_split(w3, team, splitter):
    admin = w3.eth.accounts[0]
    coin = deploy_contract(w3, "MockStablecoin")
    send(coin.functions.mint(admin, 1_000), admin)
    send(coin.functions.transfer(splitter.address, 333), admin)  # plain transfer, no event from the splitter
    send(coin.functions.approve(splitter.address, 667), admin)
    receipt = send(splitter.functions.deposit(coin.address, 667), admin)
    assert one_event(splitter, receipt, "PaymentReceived") == {"token": coin.address, "from": admin, "amount": 667}
    amounts = []
    for payee in team:
        receipt = send(splitter.functions.release(coin.address, payee), payee)
        amounts.append(one_event(splitter, receipt, "PaymentReleased")["amount"])
    assert amounts == [500, 300, 200]
    assert [coin.functions.balanceOf(p).call() for p in team] == amounts
    with reverts(splitter, "ZeroAmount"):
        send(splitter.functions.deposit(coin.address, 0), admin)
    with reverts(splitter, "ZeroAmount"):
        send(splitter.functions.deposit(ETH, 1), admin)


def test_rounding_dust_stays_and_is_split_later(w3, team):
    splitter = deploy_payout_splitter(w3, team, [3_333, 3_333, 3_334])
    pay_eth(w3, splitter.address, 10)
    f = splitter.functions
    due = [f.releasable(ETH, p).call() for p in team]
    assert due == [3, 3, 3]  # floor(10 * bps / 10_000): 1 wei of dust stays
    for payee in team:
        send(f.release(ETH, payee), payee)
    assert w3.eth.get_balance(splitter.address) == 1
    pay_eth(w3, splitter.address, 20)  # total 30 → 9.999, 9.999, 10.002
    assert [f.releasable(ETH, p).call() for p in team] == [6, 6, 7]


def test_fee_on_transfer_deposit_credits_delta(w3, team, splitter):
    admin = w3.eth.accounts[0]
    coin = deploy_contract(w3, "MockFeeOnTransferToken", 100)
    send(coin.functions.mint(admin, 10_000), admin)
    send(coin.functions.approve(splitter.address, 10_000), admin)
    receipt = send(splitter.functions.deposit(coin.address, 10_000), admin)
    assert one_event(splitter, receipt, "PaymentReceived")["amount"] == 9_900
    assert splitter.functions.totalReceived(coin.address).call() == 9_900


def test_release_rejects_non_payees_and_isolates_failing_payees(w3, team):
    rejecting = deploy_contract(w3, "TestRejectingReceiver")
    splitter = deploy_payout_splitter(w3, [team[0], rejecting.address], [5_000, 5_000])
    pay_eth(w3, splitter.address, 1_000)
    outsider = w3.eth.accounts[7]
    with reverts(splitter, "NotPayee", outsider):
        send(splitter.functions.release(ETH, outsider), outsider)
    with pytest.raises(ContractLogicError, match="no ETH"):  # the payee's own revert bubbles up
        send(splitter.functions.release(ETH, rejecting.address), outsider)
    send(splitter.functions.release(ETH, team[0]), outsider)  # the other payee is unaffected
    assert splitter.functions.releasable(ETH, rejecting.address).call() == 500


def test_releasable_survives_a_shrinking_balance(w3, team, splitter):
    """A token balance can shrink other than by releases (issuer burn, clawback, rebase): a payee paid
    more than its share of the new total is owed 0 instead of an underflow, and nobody is offered more
    than the splitter holds."""
    admin = w3.eth.accounts[0]
    coin = deploy_contract(w3, "TestMintableToken", admin, ZERO)
    send(coin.functions.grantRole(coin.functions.ISSUER_ROLE().call(), admin), admin)
    send(coin.functions.mint(splitter.address, 1_000), admin)
    f = splitter.functions
    send(f.release(coin.address, team[0]), team[0])  # 500 of 1 000
    send(coin.functions.burn(splitter.address, 400), admin)  # balance 500 → 100; total received 600
    assert f.totalReceived(coin.address).call() == 600
    assert f.releasable(coin.address, team[0]).call() == 0  # due 300, already paid 500
    with reverts(splitter, "NothingDue", coin.address, team[0]):
        send(f.release(coin.address, team[0]), team[0])
    assert f.releasable(coin.address, team[1]).call() == 100  # due 180, capped at the balance
    assert f.releasable(coin.address, team[2]).call() == 100  # due 120, capped at the balance
    send(f.release(coin.address, team[1]), team[1])
    assert coin.functions.balanceOf(team[1]).call() == 100
    assert f.releasable(coin.address, team[2]).call() == 0
