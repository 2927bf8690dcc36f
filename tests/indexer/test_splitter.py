"""PayoutSplitter mirrored into `splitter:<chain>:<splitter>:pool` (indexer/MAPPING.md).

ERC-20 money enters by deposit() or by a plain transfer (only the token's own Transfer log
then), ETH through receive() (PaymentReceived, token = 0); payees pull with release()
(PaymentReleased). The ledger must equal the chain (`reconcile`) and say so when it cannot."""

from __future__ import annotations

from typing import Any

from web3 import Web3

from contracts.core import PortfolioDeployment, PortfolioSpec, deploy_portfolio
from contracts.deploy import deploy_contract, transact
from indexer.decode import ERC20_TRANSFER_TOPIC, address_topic, decode_erc20_transfer
from indexer.mapping import (
    ZERO_ADDRESS,
    ChainEvent,
    ContractInfo,
    entries_for,
    erc20_asset,
    native_asset,
    splitter_account,
    world_account,
)
from indexer.reconcile import reconcile
from indexer.rpc import RpcClient
from ledger import AccountingType, Entry, LedgerStore, Side
from tests.indexer.conftest import USDC, Stack, make_follower

ETH_WEI = 10**16
SHARES_BPS = (6_000, 4_000)


def _splitter_portfolio(stack: Stack) -> PortfolioDeployment:
    """A portfolio whose splitter pays investors 0 and 1 (60 / 40 %); the module fixture has none."""
    portfolio = deploy_portfolio(
        stack.w3,
        stack.core,
        PortfolioSpec(
            admin=stack.admin,
            treasury=stack.treasury,
            name="Split",
            symbol="SPL",
            payees=(stack.investors[0], stack.investors[1]),
            shares_bps=SHARES_BPS,
        ),
    )
    assert portfolio.splitter is not None
    return portfolio


def _send_eth(w3: Web3, sender: str, to: str, wei: int) -> Any:
    """A plain ETH send (no calldata): the splitter's receive() runs and emits PaymentReceived."""
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": sender, "to": to, "value": wei}))


def _key(chain: int, receipt: Any, log_index: int) -> str:
    return f"{chain}:0x{bytes(receipt['transactionHash']).hex()}:{log_index}@{bytes(receipt['blockHash']).hex()[:12]}"


def _entries(store: LedgerStore, kind: str) -> list[Entry]:
    return [e for e in store.list_entries("main", limit=500) if e.kind == kind]


def _legs(entry: Entry) -> list[tuple[str, str, Side, int]]:
    return [(leg.account, leg.asset, leg.side, leg.amount_units) for leg in entry.legs]


def test_deposits_plain_transfers_eth_and_releases_are_mirrored(
    stack: Stack,
    store: LedgerStore,
    rpc: RpcClient,
) -> None:
    splitter = _splitter_portfolio(stack).splitter
    assert splitter is not None
    usdc_c, w3 = stack.stablecoin, stack.w3
    payee_a, payee_b, depositor, sender, keeper = stack.investors[:5]
    transact(usdc_c.functions.approve(splitter.address, 2**256 - 1), depositor)
    transact(splitter.functions.deposit(usdc_c.address, 100 * USDC), depositor)
    plain = transact(usdc_c.functions.transfer(splitter.address, 50 * USDC), sender)
    eth_in = _send_eth(w3, keeper, splitter.address, ETH_WEI)
    transact(splitter.functions.release(usdc_c.address, payee_a), keeper)  # 90 USDC, triggered by a third party
    transact(splitter.functions.release(usdc_c.address, payee_b), payee_b)  # 60 USDC
    transact(splitter.functions.release(ZERO_ADDRESS, payee_a), payee_a)  # 60 % of the ETH
    transact(usdc_c.functions.transfer(splitter.address, 7 * USDC), sender)  # stays in the pool

    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)

    chain, address = w3.eth.chain_id, splitter.address.lower()
    pool, world = splitter_account(chain, address), world_account(chain)
    usdc, eth = erc20_asset(chain, usdc_c.address), native_asset(chain)
    receipts, releases = _entries(store, "split_receipt"), _entries(store, "split_release")
    received = sorted((_legs(e)[0][1], e.metadata["from"], _legs(e)[1][3], e.metadata["event"]) for e in receipts)
    assert received == sorted(
        [
            (
                usdc,
                depositor.lower(),
                100 * USDC,
                "splitter.ERC20Transfer",
            ),  # deposit(): its PaymentReceived adds nothing
            (usdc, sender.lower(), 50 * USDC, "splitter.ERC20Transfer"),  # plain transfer: no splitter log at all
            (usdc, sender.lower(), 7 * USDC, "splitter.ERC20Transfer"),
            (eth, keeper.lower(), ETH_WEI, "splitter.PaymentReceived"),
        ]
    )
    for entry in receipts:
        assert _legs(entry)[0][:3] == (world, _legs(entry)[0][1], Side.DEBIT)
        assert _legs(entry)[1][:3] == (pool, _legs(entry)[1][1], Side.CREDIT)
        assert entry.metadata["contract"] == address
    eth_entry = next(e for e in receipts if e.legs[0].asset == eth)
    assert eth_entry.idempotency_key == eth_entry.external_ref == _key(chain, eth_in, eth_in["logs"][0]["logIndex"])
    (plain_log,) = plain["logs"]  # the token's Transfer: its own tx and log index make the key
    plain_entry = next(e for e in receipts if e.metadata["tx_hash"] == "0x" + bytes(plain["transactionHash"]).hex())
    assert plain_entry.idempotency_key == _key(chain, plain, plain_log["logIndex"])
    assert plain_entry.metadata["token"] == usdc_c.address.lower()

    assert sorted((e.metadata["payee"], e.metadata["by"], _legs(e)) for e in releases) == sorted(
        [
            (
                payee_a.lower(),
                keeper.lower(),
                [(pool, usdc, Side.DEBIT, 90 * USDC), (world, usdc, Side.CREDIT, 90 * USDC)],
            ),
            (
                payee_b.lower(),
                payee_b.lower(),
                [(pool, usdc, Side.DEBIT, 60 * USDC), (world, usdc, Side.CREDIT, 60 * USDC)],
            ),
            (
                payee_a.lower(),
                payee_a.lower(),
                [(pool, eth, Side.DEBIT, ETH_WEI * 6 // 10), (world, eth, Side.CREDIT, ETH_WEI * 6 // 10)],
            ),
        ]
    )
    assert (
        store.get_balance("main", pool, usdc).posted_units
        == 7 * USDC
        == usdc_c.functions.balanceOf(splitter.address).call()
    )
    assert (
        store.get_balance("main", pool, eth).posted_units == ETH_WEI * 4 // 10 == w3.eth.get_balance(splitter.address)
    )
    assert store.get_account("main", pool).accounting_type == AccountingType.LIABILITY
    assert store.trial_balance("main").balanced

    report = reconcile(store, rpc, chain_id=chain)
    assert report.differences == []
    rows = {(row.account, row.asset): (row.ledger_units, row.chain_units) for row in report.rows if row.account == pool}
    assert rows == {(pool, usdc): (7 * USDC, 7 * USDC), (pool, eth): (ETH_WEI * 4 // 10, ETH_WEI * 4 // 10)}


def test_unwatched_token_sent_plainly_shows_as_a_reconcile_difference(
    stack: Stack,
    store: LedgerStore,
    rpc: RpcClient,
) -> None:
    """The documented limit, and reconcile catching it: a token nobody named yet is not watched,
    so its first plain transfer is missed; the deposit() that names it is mirrored, the release
    still posts (splitter accounts may overdraw), and reconcile shows the splitter's gap."""
    splitter = _splitter_portfolio(stack).splitter
    assert splitter is not None
    other = deploy_contract(stack.w3, "MockStablecoin", sender=stack.admin)
    payee_a, depositor = stack.investors[0], stack.investors[2]
    transact(other.functions.mint(depositor, 1_000 * USDC), stack.admin)
    transact(other.functions.transfer(splitter.address, 200 * USDC), depositor)  # nobody knows `other` yet
    follower = make_follower(store, rpc, stack, confirmations=0)
    follower.sync(deadline_s=60)
    transact(other.functions.approve(splitter.address, 2**256 - 1), depositor)
    transact(splitter.functions.deposit(other.address, 100 * USDC), depositor)  # names `other`: watched from here
    transact(other.functions.transfer(splitter.address, 10 * USDC), depositor)  # ... so this one is seen
    transact(splitter.functions.release(other.address, payee_a), payee_a)  # 60 % of 310
    follower.sync(deadline_s=60)

    chain = stack.w3.eth.chain_id
    pool, asset = splitter_account(chain, splitter.address), erc20_asset(chain, other.address)
    ledger_units = 110 * USDC - 186 * USDC
    assert store.get_balance("main", pool, asset).posted_units == ledger_units  # overdrawn: 200 arrived unseen
    report = reconcile(store, rpc, chain_id=chain)
    assert [(row.account, row.asset, row.ledger_units, row.chain_units) for row in report.differences] == [
        (pool, asset, ledger_units, 124 * USDC)
    ]


def test_without_splitters_no_transfer_logs_are_asked_for(stack: Stack, store: LedgerStore, rpc: RpcClient) -> None:
    """The module's portfolio has no splitter: following it costs no extra eth_getLogs."""
    asked: list[Any] = []
    original = rpc.get_logs

    def recording(from_block: int, to_block: int, addresses: Any, topics: Any = None) -> list[dict[str, Any]]:
        asked.append(topics)
        return original(from_block, to_block, addresses, topics)

    rpc.get_logs = recording  # type: ignore[method-assign]
    make_follower(store, rpc, stack, confirmations=0).sync(deadline_s=60)
    assert asked and not any(topics is not None and len(topics) == 3 for topics in asked)


# ------------------------------------------------------------------- pure (no chain)

CHAIN = 31337
SPLITTER = "0x" + "5a" * 20
TOKEN = "0x" + "ab" * 20
ALICE = "0x" + "11" * 20


def _event(name: str, **args: object) -> ChainEvent:
    return ChainEvent(CHAIN, SPLITTER, "splitter", name, args, 10, "0x" + "cd" * 32, 1_700_000_000, "0x" + "ef" * 32, 3)


def test_erc20_payment_received_maps_to_nothing_and_zero_amounts_are_skipped() -> None:
    contract = ContractInfo(CHAIN, SPLITTER, "splitter", 1)
    assert entries_for(_event("PaymentReceived", token=TOKEN, **{"from": ALICE}, amount=5), contract) == []
    assert entries_for(_event("PaymentReceived", token=ZERO_ADDRESS, **{"from": ALICE}, amount=0), contract) == []
    assert entries_for(_event("ERC20Transfer", token=TOKEN, **{"from": ALICE}, to=SPLITTER, value=0), contract) == []
    (entry,) = entries_for(_event("ERC20Transfer", token=TOKEN, **{"from": ALICE}, to=SPLITTER, value=5), contract)
    assert entry.kind == "split_receipt" and entry.idempotency_key == f"{CHAIN}:{'0x' + 'ef' * 32}:3@{'cd' * 6}"
    assert _legs_of(entry) == [
        (f"external:{CHAIN}:world", f"ERC20:{CHAIN}:{TOKEN}", Side.DEBIT, 5),
        (f"splitter:{CHAIN}:{SPLITTER}:pool", f"ERC20:{CHAIN}:{TOKEN}", Side.CREDIT, 5),
    ]


def _legs_of(entry: Any) -> list[tuple[str, str, Side, int]]:
    return [(leg.account, leg.asset, leg.side, leg.amount_units) for leg in entry.legs]


def test_erc20_transfer_decoding_rejects_other_shapes() -> None:
    log = {
        "address": TOKEN.upper().replace("0X", "0x"),
        "topics": [ERC20_TRANSFER_TOPIC, address_topic(ALICE), address_topic(SPLITTER)],
        "data": "0x" + hex(123)[2:].rjust(64, "0"),
    }
    assert decode_erc20_transfer(log) == {"token": TOKEN, "from": ALICE, "to": SPLITTER, "value": 123}
    erc721 = {**log, "topics": [*log["topics"], "0x" + "00" * 31 + "07"], "data": "0x"}
    assert decode_erc20_transfer(erc721) is None
    assert decode_erc20_transfer({**log, "topics": ["0x" + "00" * 32, *log["topics"][1:]]}) is None
