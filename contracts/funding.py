"""Typed helpers for FundingRound, PayoutSplitter, RightsToken and DonationRouter.

Deploy and initialize them directly (per-portfolio contracts as EIP-1167 clones of a freshly
deployed implementation, like the PortfolioFactory does), read their state into plain
dataclasses, and run single benchmark operations (invest, refund, milestone release,
donation) on a fresh setup, returning the receipts so gas can be read.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.types import RPCEndpoint, TxReceipt

from contracts.anvil import DEV_MNEMONIC
from contracts.deploy import RECEIPT_TIMEOUT_S, TransactionFailed, at, deploy_contract
from contracts.permits import sign_investment_permit

BPS = 10_000
TOKEN_UNIT = 10**18  # FundingRound.price is stablecoin base units per 1e18 token base units
USDC_UNIT = 10**6  # base units of one whole 6-decimals stablecoin

# EIP-1167 minimal proxy creation code around a 20-byte implementation address.
_CLONE_PREFIX = bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73")
_CLONE_SUFFIX = bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


class RoundState(enum.IntEnum):
    """Mirror of FundingRound.State."""

    UPCOMING = 0
    ACTIVE = 1
    SUCCEEDED = 2
    FAILED = 3
    CANCELLED = 4
    CLOSED = 5


class DonationKind(enum.IntEnum):
    """Mirror of DonationRouter.Kind."""

    DONATION = 0
    TIP = 1
    GIFT = 2


class LicenceKind(enum.IntEnum):
    """Mirror of RightsToken.LicenceKind."""

    PERSONAL = 0
    COMMERCIAL = 1
    LIMITED_COMMERCIAL = 2


def dev_private_key(index: int) -> bytes:
    """Private key of dev account `index` (same mnemonic as anvil's funded accounts)."""
    Account.enable_unaudited_hdwallet_features()
    return bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key)


def send(fn: Any, sender: str, value_wei: int = 0) -> TxReceipt:
    """Transact a bound contract function from an unlocked account; raise if it reverted."""
    tx: dict[str, Any] = {"from": sender}
    if value_wei:
        tx["value"] = value_wei
    tx_hash = fn.transact(tx)
    receipt: TxReceipt = fn.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction {tx_hash.hex()} reverted")
    return receipt


def deploy_clone(w3: Web3, implementation: str, sender: str | None = None) -> str:
    """Deploy an EIP-1167 minimal proxy of `implementation`; returns the clone's address."""
    code = _CLONE_PREFIX + bytes.fromhex(implementation[2:]) + _CLONE_SUFFIX
    tx_hash = w3.eth.send_transaction({"from": sender or w3.eth.accounts[0], "data": code})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise TransactionFailed("clone deployment reverted")
    address = receipt["contractAddress"]
    if address is None:
        raise TransactionFailed(f"clone deployment {tx_hash.hex()} created no contract")
    return address


def deploy_clone_of(w3: Web3, contract_name: str, sender: str | None = None) -> Contract:
    """Deploy a fresh implementation of `contract_name` (no constructor args) and one clone of it."""
    implementation = deploy_contract(w3, contract_name, sender=sender)
    return at(w3, contract_name, deploy_clone(w3, implementation.address, sender))


# ------------------------------------------------------------------------------ portfolio token

ZERO_ADDRESS = "0x" + "00" * 20
FAR_FUTURE_S = 2**40


RECOVERY_DELAY_S = 48 * 3600  # PortfolioToken.MIN_RECOVERY_DELAY
DUST_SWEEP_DELAY_S = 30 * 24 * 3600


@dataclass(frozen=True)
class TokenInit:
    """PortfolioToken.InitParams: the one Python spelling of a token's initialisation."""

    name: str
    symbol: str
    admin: str
    platform: str
    cap_units: int = 0
    agent: str = ZERO_ADDRESS
    recovery_approver: str = ZERO_ADDRESS
    recovery_delay_s: int = RECOVERY_DELAY_S
    issuers: tuple[str, ...] = ()
    round: str = ZERO_ADDRESS
    revenue_token: str = ZERO_ADDRESS
    dust_sweep_delay_s: int = DUST_SWEEP_DELAY_S
    excluded: tuple[str, ...] = ()

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.name,
            self.symbol,
            self.cap_units,
            self.admin,
            self.platform,
            self.agent,
            self.recovery_approver,
            self.recovery_delay_s,
            list(self.issuers),
            self.round,
            self.revenue_token,
            self.dust_sweep_delay_s,
            list(self.excluded),
        )


def deploy_token(w3: Web3, implementation: str, init: TokenInit, sender: str | None = None) -> Contract:
    """A PortfolioToken clone of `implementation` initialised with `init` (outside the factory: tests, benches)."""
    token = at(w3, "PortfolioToken", deploy_clone(w3, implementation, sender))
    send(token.functions.initialize(init.as_tuple()), sender or w3.eth.accounts[0])
    return token


def deploy_registry_and_token(
    w3: Web3, *, admin: str, verified: list[str], name: str = "Kogi Portfolio", symbol: str = "KPT"
) -> tuple[Contract, Contract]:
    """A ComplianceRegistry (admin holds COMPLIANCE_ROLE) with `verified` KYC'd until far in the
    future, and a PortfolioToken clone (uncapped, no revenue share) for which `admin` plays both the
    creator (DEFAULT_ADMIN_ROLE, ISSUER_ROLE) and the platform (PLATFORM_ROLE: attaches rounds)."""
    registry = deploy_contract(w3, "ComplianceRegistry", admin, sender=admin)
    send(registry.functions.grantRole(registry.functions.COMPLIANCE_ROLE().call(), admin), admin)
    for account in verified:
        send(registry.functions.setInvestor(account, FAR_FUTURE_S, 0, False), admin)
    implementation = deploy_contract(w3, "PortfolioToken", registry.address, sender=admin)
    token = deploy_token(
        w3, implementation.address, TokenInit(name, symbol, admin=admin, platform=admin, issuers=(admin,)), admin
    )
    return registry, token


# ------------------------------------------------------------------------------ FundingRound


@dataclass(frozen=True)
class RoundTerms:
    """A funding round's terms: the one Python definition of them. The factory takes exactly these
    (PortfolioFactory.RoundSpec, `as_tuple`; `contracts.core.RoundSpec` is this type) and a directly
    initialized FundingRound takes them with its parties (`RoundConfig`), so a cap, window or fee is
    spelled the same wherever a round is made (demo, gas benchmark, tests).

    Amounts in stablecoin base units; `price_units` per 1e18 token base units (one whole token);
    times are unix seconds; `milestone_bps` are the escrow tranches, summing to 10 000."""

    stablecoin: str
    price_units: int
    soft_cap_units: int
    hard_cap_units: int
    min_investment_units: int
    max_investment_units: int
    start_time_s: int
    end_time_s: int
    fee_bps: int
    milestone_bps: tuple[int, ...] = field(default=(BPS,))

    def as_tuple(self) -> tuple[Any, ...]:
        """PortfolioFactory.RoundSpec as the ABI encodes it."""
        return (
            Web3.to_checksum_address(self.stablecoin),
            self.price_units,
            self.soft_cap_units,
            self.hard_cap_units,
            self.min_investment_units,
            self.max_investment_units,
            self.start_time_s,
            self.end_time_s,
            self.fee_bps,
            list(self.milestone_bps),
        )


@dataclass(frozen=True)
class RoundConfig:
    """FundingRound.RoundConfig: the round's `terms` and who plays which part in it (the factory fills
    the parties in itself; a round initialized directly names them)."""

    token: str
    treasury: str
    fee_recipient: str
    compliance_signer: str
    issuer: str
    arbiter: str
    platform: str
    terms: RoundTerms

    def as_tuple(self) -> tuple[Any, ...]:
        """FundingRound.RoundConfig as the ABI encodes it (addresses as given)."""
        t = self.terms
        return (
            self.token,
            t.stablecoin,
            self.treasury,
            self.fee_recipient,
            self.compliance_signer,
            self.issuer,
            self.arbiter,
            self.platform,
            t.price_units,
            t.soft_cap_units,
            t.hard_cap_units,
            t.min_investment_units,
            t.max_investment_units,
            t.start_time_s,
            t.end_time_s,
            t.fee_bps,
            list(t.milestone_bps),
        )


def deploy_funding_round(
    w3: Web3, *, admin: str, config: RoundConfig, sender: str | None = None, implementation: str | None = None
) -> Contract:
    """A FundingRound clone (of `implementation`, or of a fresh one), initialized with `config`.
    The token's platform then attaches it (see `attach_round`)."""
    if implementation is None:
        round_ = deploy_clone_of(w3, "FundingRound", sender)
    else:
        round_ = at(w3, "FundingRound", deploy_clone(w3, implementation, sender))
    send(round_.functions.initialize(admin, config.as_tuple()), sender or w3.eth.accounts[0])
    return round_


def attach_round(token: Contract, round_address: str, platform: str) -> TxReceipt:
    """Attach the round to its token (PLATFORM_ROLE): the token reserves the round's maximum
    allocation on its cap and will deliver the investors' allocations only through this round."""
    return send(token.functions.attachRound(round_address), platform)


@dataclass(frozen=True)
class RoundStatus:
    state: RoundState
    total_raised_units: int
    investor_count: int
    next_milestone: int
    milestone_count: int
    released_gross_units: int
    released_to_treasury_units: int
    fees_paid_units: int
    refunded_units: int
    refunded_count: int
    tokens_claimed_units: int
    cancelled_after_success: bool
    finalized: bool
    escrow_balance_units: int


def read_round(w3: Web3, round_: Contract) -> RoundStatus:
    """Snapshot of a round's accounting (several calls; not atomic across blocks)."""
    f = round_.functions
    stablecoin = w3.eth.contract(address=f.stablecoin().call(), abi=_ERC20_BALANCE_ABI)
    escrow = stablecoin.functions.balanceOf(round_.address).call()
    return RoundStatus(
        state=RoundState(f.state().call()),
        total_raised_units=f.totalRaised().call(),
        investor_count=f.investorCount().call(),
        next_milestone=f.nextMilestone().call(),
        milestone_count=f.milestoneCount().call(),
        released_gross_units=f.releasedGross().call(),
        released_to_treasury_units=f.releasedToTreasury().call(),
        fees_paid_units=f.feesPaid().call(),
        refunded_units=f.refundedTotal().call(),
        refunded_count=f.refundedCount().call(),
        tokens_claimed_units=f.tokensClaimedTotal().call(),
        cancelled_after_success=f.cancelledAfterSuccess().call(),
        finalized=f.finalized().call(),
        escrow_balance_units=escrow,
    )


_ERC20_BALANCE_ABI = [
    {
        "type": "function",
        "name": "balanceOf",
        "stateMutability": "view",
        "inputs": [{"name": "account", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


def invest_with_permit(
    w3: Web3,
    round_: Contract,
    *,
    investor: str,
    amount_units: int,
    signer_key: bytes,
    nonce: int,
    max_amount_units: int | None = None,
    deadline_s: int | None = None,
) -> TxReceipt:
    """Sign a permit with `signer_key` and invest from `investor` (stablecoin already approved)."""
    max_amount = amount_units if max_amount_units is None else max_amount_units
    deadline = deadline_s if deadline_s is not None else w3.eth.get_block("latest")["timestamp"] + 3600
    signature = sign_investment_permit(
        signer_key,
        chain_id=w3.eth.chain_id,
        round_address=round_.address,
        investor=investor,
        max_amount=max_amount,
        deadline=deadline,
        nonce=nonce,
    )
    return send(round_.functions.invest(amount_units, max_amount, deadline, nonce, signature), investor)


# ------------------------------------------------------------------------------ others


def deploy_payout_splitter(w3: Web3, payees: list[str], shares_bps: list[int], sender: str | None = None) -> Contract:
    splitter = deploy_clone_of(w3, "PayoutSplitter", sender)
    send(splitter.functions.initialize(payees, shares_bps), sender or w3.eth.accounts[0])
    return splitter


def deploy_rights_token(
    w3: Web3,
    *,
    admin: str,
    issuer: str,
    registry: str,
    royalty_receiver: str,
    royalty_bps: int,
    platform: str | None = None,
    sender: str | None = None,
) -> Contract:
    """A RightsToken clone; `platform` (PLATFORM_ROLE: changes its registry) defaults to `admin`."""
    rights = deploy_clone_of(w3, "RightsToken", sender)
    send(
        rights.functions.initialize(admin, issuer, platform or admin, registry, royalty_receiver, royalty_bps),
        sender or w3.eth.accounts[0],
    )
    return rights


def deploy_donation_router(
    w3: Web3, *, admin: str, fee_recipient: str, fee_bps: int, sender: str | None = None
) -> Contract:
    return deploy_contract(w3, "DonationRouter", admin, fee_recipient, fee_bps, sender=sender)


# ------------------------------------------------------------------------------ chain time


def latest_timestamp(w3: Web3) -> int:
    return int(w3.eth.get_block("latest")["timestamp"])


def warp_to(w3: Web3, timestamp_s: int) -> None:
    """Mine a block at `timestamp_s` (anvil/hardhat dev RPC)."""
    w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [timestamp_s])
    w3.provider.make_request(RPCEndpoint("evm_mine"), [])


# ------------------------------------------------------------------------------ gas benchmark

BENCH_PRICE_UNITS = 1 * USDC_UNIT  # 1 USDC per token


@dataclass
class FundingBench:
    """A fresh round with a stablecoin, a mintable token and funded investors (accounts 1..3)."""

    w3: Web3
    round: Contract
    stablecoin: Contract
    token: Contract
    admin: str
    issuer: str
    arbiter: str
    treasury: str
    signer_key: bytes
    investors: list[str]
    next_nonce: int = 0

    def invest(self, investor: str, amount_units: int) -> TxReceipt:
        self.next_nonce += 1
        return invest_with_permit(
            self.w3,
            self.round,
            investor=investor,
            amount_units=amount_units,
            signer_key=self.signer_key,
            nonce=self.next_nonce,
        )


def setup_funding_bench(
    w3: Web3,
    *,
    soft_cap_units: int = 1_000 * USDC_UNIT,
    hard_cap_units: int = 10_000 * USDC_UNIT,
    milestone_bps: tuple[int, ...] = (5_000, 5_000),
    fee_bps: int = 250,
    window_s: int = 7 * 24 * 3600,
) -> FundingBench:
    """Deploy MockStablecoin (6 decimals), a registry + PortfolioToken and an active round; fund and
    approve three verified investors."""
    accounts: Sequence[str] = w3.eth.accounts  # web3 types it as a 1-tuple
    admin, issuer, arbiter, treasury, fee_recipient = accounts[0], accounts[4], accounts[5], accounts[6], accounts[7]
    investors = list(accounts[1:4])
    signer_key = dev_private_key(9)
    signer = Account.from_key(signer_key).address
    stablecoin = deploy_contract(w3, "MockStablecoin")
    _, token = deploy_registry_and_token(w3, admin=admin, verified=investors)
    now = latest_timestamp(w3)
    terms = RoundTerms(
        stablecoin=stablecoin.address,
        price_units=BENCH_PRICE_UNITS,
        soft_cap_units=soft_cap_units,
        hard_cap_units=hard_cap_units,
        min_investment_units=USDC_UNIT,
        max_investment_units=hard_cap_units,
        start_time_s=now,
        end_time_s=now + window_s,
        fee_bps=fee_bps,
        milestone_bps=milestone_bps,
    )
    config = RoundConfig(
        token=token.address,
        treasury=treasury,
        fee_recipient=fee_recipient,
        compliance_signer=signer,
        issuer=issuer,
        arbiter=arbiter,
        platform=admin,
        terms=terms,
    )
    round_ = deploy_funding_round(w3, admin=admin, config=config)
    attach_round(token, round_.address, admin)
    for investor in investors:
        send(stablecoin.functions.mint(investor, hard_cap_units), admin)
        send(stablecoin.functions.approve(round_.address, 2**256 - 1), investor)
    return FundingBench(w3, round_, stablecoin, token, admin, issuer, arbiter, treasury, signer_key, investors)


def bench_invest(w3: Web3) -> TxReceipt:
    """One investment with a permit (second investor, so storage is warm like a busy round)."""
    bench = setup_funding_bench(w3)
    bench.invest(bench.investors[0], 100 * USDC_UNIT)
    return bench.invest(bench.investors[1], 100 * USDC_UNIT)


def bench_refund(w3: Web3) -> TxReceipt:
    """One refund pull from a cancelled round."""
    bench = setup_funding_bench(w3)
    bench.invest(bench.investors[0], 100 * USDC_UNIT)
    bench.invest(bench.investors[1], 100 * USDC_UNIT)
    send(bench.round.functions.cancel(), bench.issuer)
    return send(bench.round.functions.claimRefund(), bench.investors[0])


def bench_milestone_release(w3: Web3) -> TxReceipt:
    """One milestone release (after both approvals) of a successful round."""
    bench = setup_funding_bench(w3, soft_cap_units=100 * USDC_UNIT, hard_cap_units=200 * USDC_UNIT)
    bench.invest(bench.investors[0], 100 * USDC_UNIT)
    bench.invest(bench.investors[1], 100 * USDC_UNIT)  # hard cap reached: succeeded
    send(bench.round.functions.approveMilestoneAsIssuer(0), bench.issuer)
    send(bench.round.functions.approveMilestoneAsArbiter(0), bench.arbiter)
    return send(bench.round.functions.releaseMilestone(0), bench.admin)


def bench_donation(w3: Web3, *, erc20: bool = True) -> TxReceipt:
    """One donation (ERC-20 by default, else ETH) with a 2.5 % fee to a registered portfolio."""
    accounts: Sequence[str] = w3.eth.accounts  # web3 types it as a 1-tuple
    admin, donor, treasury, fee_recipient = accounts[0], accounts[1], accounts[6], accounts[7]
    router = deploy_donation_router(w3, admin=admin, fee_recipient=fee_recipient, fee_bps=250)
    send(router.functions.grantRole(router.functions.REGISTRAR_ROLE().call(), admin), admin)
    send(router.functions.registerPortfolio(1, treasury), admin)
    if not erc20:
        return send(
            router.functions.donate(1, DonationKind.DONATION, "0x" + "00" * 20, 10**16, "thanks", False),
            donor,
            value_wei=10**16,
        )
    stablecoin = deploy_contract(w3, "MockStablecoin")
    send(router.functions.setCurrencyAllowed(stablecoin.address, True, 0), admin)
    send(stablecoin.functions.mint(donor, 1_000 * USDC_UNIT), admin)
    send(stablecoin.functions.approve(router.address, 2**256 - 1), donor)
    return send(
        router.functions.donate(1, DonationKind.DONATION, stablecoin.address, 10 * USDC_UNIT, "thanks", False),
        donor,
    )
