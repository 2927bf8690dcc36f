"""Gas benchmark of the Kogi contracts against a plain OpenZeppelin ERC-20 and T-REX, on a private anvil.

`run_gas_bench()` starts its own anvil on a free port, deploys the core and the baseline, runs each
operation and returns gas used per operation (plus ratios and target checks). `main()` prints it as
JSON; the lead wires it to `kogi bench gas --json`.

Scenarios (all on prague, optimizer 200 runs):
- transfer_*: a holder sends PortfolioToken to another verified holder; "existing" = recipient
  already holds tokens, "new" = first tokens of the recipient. "pre_revenue" = the token's revenue
  share never received a deposit (corrections skipped); "with_revenue" = after deposits, steady
  state (both parties already have a correction slot).
- claim_*: a holder claims; "first" = its first claim by a holder that never held the stablecoin
  (its correction slot and its stablecoin balance slot are created: 2 × 20k of fresh storage),
  "repeat" = a later claim. Measured with 10 and with 1,000 holders.
- revenue_deposit: a later deposit (steady state).
- invest / refund / milestone_release / donation: C2's FundingRound and DonationRouter scenarios
  (contracts.funding bench helpers).
- portfolio_set_*: one `createPortfolio` transaction.
- trex_transfer: the peer, T-REX 4.1.6 (ERC-3643) deployed on the same anvil by `contracts.trex` from the
  artifacts its npm package ships (benchmark-only, copyleft: never vendored): token, identity registry
  (+ storage), trusted issuers and claim topics registries, modular compliance with a country-allow module,
  ONCHAINID identities with a signed KYC claim; a transfer between two existing holders, the same sender
  and recipient accounts as our transfer_existing_* (a first transfer warms the pair up).

Targets (the issue): the compliant transfer to an existing holder costs <= 1.35x a plain OpenZeppelin
ERC-20 transfer, <= 0.25x a T-REX transfer before any revenue and <= 0.35x with the revenue share active.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.types import Nonce

from contracts import trex
from contracts.anvil import AnvilProcess
from contracts.core import CoreDeployment, PortfolioSpec, deploy_dev_core, deploy_portfolio, verify_investors
from contracts.deploy import RECEIPT_TIMEOUT_S, deploy_contract, transact
from contracts.funding import RoundTerms

TOKEN = 10**18
USDC = 10**6
HOLDERS_SMALL = 10
HOLDERS_LARGE = 1_000
MINT_GAS_LIMIT = 300_000

TARGET_TRANSFER_RATIO = 1.35
TARGET_TREX_RATIO_PRE_REVENUE = 0.25
TARGET_TREX_RATIO_WITH_REVENUE = 0.35
TARGET_CLAIM_GAS = 60_000
TARGET_PORTFOLIO_SET_GAS = 600_000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gas(receipt: Any) -> int:
    return int(receipt["gasUsed"])


def _required(contract: Contract | None, what: str) -> Contract:
    """`contract`, or a clear error when the deployment lacks it (the bench needs every part)."""
    if contract is None:
        raise RuntimeError(f"gas bench: the deployment has no {what}")
    return contract


def _mint_many(w3: Web3, token: Any, issuer: ChecksumAddress, holders: list[str], amount: int) -> None:
    """Send every mint without waiting (explicit nonce and gas), then wait for the last receipt."""
    nonce = w3.eth.get_transaction_count(issuer)
    last = None
    for offset, holder in enumerate(holders):
        data = token.functions.mint(holder, amount)._encode_transaction_data()
        last = w3.eth.send_transaction(
            {
                "from": issuer,
                "to": token.address,
                "data": data,
                "gas": MINT_GAS_LIMIT,
                "nonce": Nonce(nonce + offset),
            }
        )
    if last is not None:
        receipt = w3.eth.wait_for_transaction_receipt(last, timeout=RECEIPT_TIMEOUT_S)
        if receipt["status"] != 1:
            raise RuntimeError("mint of bench holders failed")


def _claim_scenario(
    w3: Web3, core: CoreDeployment, admin: ChecksumAddress, treasury: str, holder_count: int, claimer: str
) -> dict[str, int]:
    """A fresh portfolio with `holder_count` holders; gas of one holder's first and repeat claim.
    `claimer` must be an unlocked account that never held the stablecoin (same start state)."""
    stable = _required(core.stablecoin, "stablecoin")
    p = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=admin,
            treasury=treasury,
            name=f"Claim{holder_count}",
            symbol="CLM",
            issuer=admin,
            revenue_token=stable.address,
        ),
    )
    distributor = _required(p.distributor, f"revenue share on portfolio Claim{holder_count}")
    holders = [w3.eth.account.create().address for _ in range(holder_count - 1)]
    verify_investors(core, holders)
    _mint_many(w3, p.token, admin, [claimer, *holders], 10 * TOKEN)
    assert p.token.functions.totalSupply().call() == holder_count * 10 * TOKEN
    transact(stable.functions.mint(admin, 10**15), admin)
    transact(stable.functions.approve(distributor.address, 2**256 - 1), admin)
    transact(distributor.functions.deposit(1_000 * USDC), admin)
    first = _gas(transact(distributor.functions.claim(), claimer))
    transact(distributor.functions.deposit(1_000 * USDC), admin)
    repeat = _gas(transact(distributor.functions.claim(), claimer))
    return {"first": first, "repeat": repeat}


def _bench(w3: Web3) -> dict[str, Any]:
    accounts: list[ChecksumAddress] = list(w3.eth.accounts)  # web3 types the tuple as 1-long
    admin, treasury = accounts[0], accounts[7]
    core = deploy_dev_core(w3)  # admin (accounts[0]) is the creator here
    stable = _required(core.stablecoin, "stablecoin")
    verify_investors(core, accounts[1:7])
    gas: dict[str, int] = {}

    # baseline: plain OpenZeppelin ERC-20, same sender/recipients pattern
    base = deploy_contract(w3, "BaselineERC20", 10**9 * TOKEN, sender=accounts[1])
    transact(base.functions.transfer(accounts[2], TOKEN), accounts[1])
    gas["baseline_erc20_transfer_existing"] = _gas(transact(base.functions.transfer(accounts[2], TOKEN), accounts[1]))
    gas["baseline_erc20_transfer_new"] = _gas(transact(base.functions.transfer(accounts[3], TOKEN), accounts[1]))

    # portfolio sets through the factory
    lean = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=admin,
            treasury=treasury,
            name="Bench Portfolio",
            symbol="BNCH",
            issuer=admin,
            revenue_token=stable.address,
        ),
    )
    distributor = _required(lean.distributor, "revenue share on the bench portfolio")
    gas["portfolio_set_token_with_revenue"] = lean.gas_used
    now = int(w3.eth.get_block("latest")["timestamp"])
    full = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=admin,
            treasury=treasury,
            name="Bench Full",
            symbol="BFUL",
            issuer=admin,
            revenue_token=stable.address,
            round=RoundTerms(
                stable.address,
                USDC,
                100 * USDC,
                1_000 * USDC,
                USDC,
                1_000 * USDC,
                now,
                now + 7 * 86400,
                250,
                (5_000, 5_000),
            ),
            payees=(accounts[1], accounts[2]),
            shares_bps=(6_000, 4_000),
            with_rights=True,
            royalty_receiver=treasury,
            royalty_bps=500,
        ),
    )
    gas["portfolio_set_full"] = full.gas_used

    # compliant transfers
    t = lean.token
    for holder in accounts[1:3]:
        transact(t.functions.mint(holder, 1_000 * TOKEN), admin)
    transact(t.functions.transfer(accounts[2], TOKEN), accounts[1])
    gas["transfer_existing_pre_revenue"] = _gas(transact(t.functions.transfer(accounts[2], TOKEN), accounts[1]))
    gas["transfer_new_pre_revenue"] = _gas(transact(t.functions.transfer(accounts[3], TOKEN), accounts[1]))
    transact(stable.functions.mint(admin, 10**15), admin)
    transact(stable.functions.approve(distributor.address, 2**256 - 1), admin)
    gas["revenue_deposit_first"] = _gas(transact(distributor.functions.deposit(1_000 * USDC), admin))
    gas["revenue_deposit"] = _gas(transact(distributor.functions.deposit(1_000 * USDC), admin))
    transact(t.functions.transfer(accounts[2], TOKEN), accounts[1])  # creates both correction slots
    gas["transfer_existing_with_revenue"] = _gas(transact(t.functions.transfer(accounts[2], TOKEN), accounts[1]))
    gas["transfer_new_with_revenue"] = _gas(transact(t.functions.transfer(accounts[4], TOKEN), accounts[1]))

    # claims: the same holder's claim with 10 and with 1,000 holders
    for count, claimer in ((HOLDERS_SMALL, accounts[5]), (HOLDERS_LARGE, accounts[6])):
        result = _claim_scenario(w3, core, admin, treasury, count, claimer)
        gas[f"claim_first_{count}_holders"] = result["first"]
        gas[f"claim_repeat_{count}_holders"] = result["repeat"]

    # C2's funding round and donation scenarios (each on a fresh, self-contained setup)
    from contracts import funding

    for name, fn in [
        ("invest_with_permit", funding.bench_invest),
        ("refund", funding.bench_refund),
        ("milestone_release", funding.bench_milestone_release),
        ("donation_erc20", funding.bench_donation),
    ]:
        gas[name] = _gas(fn(w3))
    gas["donation_eth"] = _gas(funding.bench_donation(w3, erc20=False))

    # the peer: T-REX on this anvil, the same sender and recipient as transfer_existing_* above
    gas["trex_transfer"] = trex.measure_trex_transfer(w3, admin, accounts[1], accounts[2])["transfer_existing"]

    ratios = {
        "transfer_existing_pre_revenue": gas["transfer_existing_pre_revenue"] / gas["baseline_erc20_transfer_existing"],
        "transfer_new_pre_revenue": gas["transfer_new_pre_revenue"] / gas["baseline_erc20_transfer_new"],
        "transfer_existing_with_revenue": gas["transfer_existing_with_revenue"]
        / gas["baseline_erc20_transfer_existing"],
        "transfer_new_with_revenue": gas["transfer_new_with_revenue"] / gas["baseline_erc20_transfer_new"],
        "transfer_existing_pre_revenue_vs_trex": gas["transfer_existing_pre_revenue"] / gas["trex_transfer"],
        "transfer_existing_with_revenue_vs_trex": gas["transfer_existing_with_revenue"] / gas["trex_transfer"],
    }
    targets = {
        "transfer_existing_ratio_le_1_35": ratios["transfer_existing_pre_revenue"] <= TARGET_TRANSFER_RATIO,
        "transfer_existing_pre_revenue_le_0_25_trex": ratios["transfer_existing_pre_revenue_vs_trex"]
        <= TARGET_TREX_RATIO_PRE_REVENUE,
        "transfer_existing_with_revenue_le_0_35_trex": ratios["transfer_existing_with_revenue_vs_trex"]
        <= TARGET_TREX_RATIO_WITH_REVENUE,
        "claim_equal_10_vs_1000": gas["claim_repeat_10_holders"] == gas["claim_repeat_1000_holders"]
        and gas["claim_first_10_holders"] == gas["claim_first_1000_holders"],
        "claim_repeat_le_60k": gas["claim_repeat_1000_holders"] <= TARGET_CLAIM_GAS,
        "portfolio_set_token_with_revenue_le_600k": gas["portfolio_set_token_with_revenue"] <= TARGET_PORTFOLIO_SET_GAS,
        "portfolio_set_full_le_600k": gas["portfolio_set_full"] <= TARGET_PORTFOLIO_SET_GAS,
    }
    return {
        "chain": "anvil",
        "hardfork": "prague",
        "solc": "0.8.28 (solc-js), optimizer 200 runs",
        "gas": gas,
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "targets": targets,
        "peers": {"trex": trex.describe()},
    }


def run_gas_bench() -> dict[str, Any]:
    """Start a private anvil, run every scenario, stop anvil; return the figures."""
    chain = AnvilProcess(port=_free_port()).start()
    try:
        return _bench(chain.web3())
    finally:
        chain.stop()


def main() -> None:
    print(json.dumps(run_gas_bench(), indent=2, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    main()
