"""Deploy the Kogi core (registry, anchor, donation router, implementations, factory; a mock
stablecoin in dev) and portfolios through the factory; typed helpers over the core contracts.

Roles after `deploy_core` (dev defaults; production passes dedicated accounts):
- deployer: DEFAULT_ADMIN_ROLE everywhere, COMPLIANCE_ROLE + AGENT_ROLE on the registry,
  CREATOR_ROLE on the factory, ANCHOR_ROLE on the anchor.
- factory: REGISTRAR_ROLE on the donation router (registers each new portfolio's treasury).
- compliance_signer: signs investment permits of the rounds the factory creates.
- platform (default: the deployer): the factory's `platform`, i.e. PLATFORM_ROLE on every portfolio
  token and round (administers the agent, arbiter and compliance roles, replaces a round's signer)
  and COMPLIANCE_ROLE on every round. It must not be a creator's account (see contracts/TRUST.md):
  `kogi demo` and the embedded stack create portfolios for accounts[1] while the platform is accounts[0].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.deploy import at, deploy_contract_with_receipt, transact
from contracts.funding import RoundTerms

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_DONATION_FEE_BPS = 250
DEFAULT_RECOVERY_DELAY_S = 48 * 3600  # PortfolioToken.MIN_RECOVERY_DELAY: a holder sees a recovery two days ahead
DEFAULT_DUST_SWEEP_DELAY_S = 30 * 24 * 3600
MAX_UINT64 = 2**64 - 1

CORE_CONTRACTS = ("registry", "anchor", "donation_router", "factory", "stablecoin")
IMPLEMENTATIONS = ("token", "round", "splitter", "rights_token")
_IMPLEMENTATION_ARTIFACTS = {
    "token": "PortfolioToken",
    "round": "FundingRound",
    "splitter": "PayoutSplitter",
    "rights_token": "RightsToken",
}


@dataclass(frozen=True)
class Deployed:
    """One deployed contract: where, and in which block and transaction."""

    name: str
    address: str
    block_number: int
    tx_hash: str


@dataclass
class CoreDeployment:
    w3: Web3
    chain_id: int
    deployer: str
    registry: Contract
    anchor: Contract
    donation_router: Contract
    factory: Contract
    implementations: dict[str, Contract]
    stablecoin: Contract | None
    records: dict[str, Deployed] = field(default_factory=dict)

    def addresses(self) -> dict[str, str]:
        out = {name: rec.address for name, rec in self.records.items()}
        return out


RoundSpec = RoundTerms
"""PortfolioFactory's name for a round's terms (its `RoundSpec` struct): the same type as
`contracts.funding.RoundTerms`, kept under the factory's name for the callers that build a portfolio."""

_NO_ROUND: tuple[Any, ...] = (ZERO_ADDRESS, 0, 0, 0, 0, 0, 0, 0, 0, [])
"""No round: a RoundSpec of zeros with no milestones, as the ABI encodes it (`RoundTerms.as_tuple`)."""


@dataclass(frozen=True)
class PortfolioSpec:
    """What `deploy_portfolio` creates. Zero / empty values skip the optional contracts."""

    admin: str
    treasury: str
    name: str
    symbol: str
    issuer: str = ZERO_ADDRESS
    cap_units: int = 0
    revenue_token: str = ZERO_ADDRESS  # zero: no revenue share
    dust_sweep_delay_s: int = DEFAULT_DUST_SWEEP_DELAY_S
    round: RoundTerms | None = None
    payees: tuple[str, ...] = ()
    shares_bps: tuple[int, ...] = ()
    with_rights: bool = False
    royalty_receiver: str = ZERO_ADDRESS
    royalty_bps: int = 0

    def as_tuple(self) -> tuple[Any, ...]:
        cs = Web3.to_checksum_address
        return (
            cs(self.admin),
            cs(self.issuer),
            cs(self.treasury),
            self.name,
            self.symbol,
            self.cap_units,
            cs(self.revenue_token),
            self.dust_sweep_delay_s,
            self.round.as_tuple() if self.round else _NO_ROUND,
            [cs(p) for p in self.payees],
            list(self.shares_bps),
            self.with_rights,
            cs(self.royalty_receiver),
            self.royalty_bps,
        )


@dataclass
class PortfolioDeployment:
    portfolio_id: int
    creator: str
    treasury: str
    token: Contract
    distributor: Contract | None  # the revenue share: the token itself when enabled
    round: Contract | None
    splitter: Contract | None
    rights_token: Contract | None
    block_number: int
    tx_hash: str
    gas_used: int

    def addresses(self) -> dict[str, str | None]:
        return {
            "token": self.token.address,
            "distributor": self.distributor.address if self.distributor else None,
            "round": self.round.address if self.round else None,
            "splitter": self.splitter.address if self.splitter else None,
            "rights_token": self.rights_token.address if self.rights_token else None,
        }


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _record(records: dict[str, Deployed], name: str, contract: Contract, receipt: TxReceipt) -> None:
    records[name] = Deployed(name, contract.address, int(receipt["blockNumber"]), _hex(receipt["transactionHash"]))


def deploy_core(
    w3: Web3,
    deployer: str,
    *,
    compliance_signer: str,
    fee_recipient: str,
    with_mock_stablecoin: bool = True,
    arbiter: str | None = None,
    agent: str | None = None,
    platform: str | None = None,
    recovery_approver: str | None = None,
    recovery_delay_s: int = DEFAULT_RECOVERY_DELAY_S,
    donation_fee_bps: int = DEFAULT_DONATION_FEE_BPS,
) -> CoreDeployment:
    """Deploy registry, anchor, donation router, the five implementations and the factory.

    Platform keys default to the deployer. With the agent and the recovery approver on one key, no
    recovery can ever execute (the proposer cannot execute its own request): the safe default.
    """
    records: dict[str, Deployed] = {}

    def deploy(name: str, artifact: str, *args: Any) -> Contract:
        contract, receipt = deploy_contract_with_receipt(w3, artifact, *args, sender=deployer)
        _record(records, name, contract, receipt)
        return contract

    registry = deploy("registry", "ComplianceRegistry", deployer)
    anchor = deploy("anchor", "LedgerAnchor", deployer)
    router = deploy("donation_router", "DonationRouter", deployer, fee_recipient, donation_fee_bps)
    implementations = {
        "token": deploy("impl_token", "PortfolioToken", registry.address),
        "round": deploy("impl_round", "FundingRound"),
        "splitter": deploy("impl_splitter", "PayoutSplitter"),
        "rights_token": deploy("impl_rights_token", "RightsToken"),
    }
    factory = deploy(
        "factory",
        "PortfolioFactory",
        deployer,
        platform or deployer,
        registry.address,
        router.address,
        [implementations[k].address for k in IMPLEMENTATIONS],
        [fee_recipient, compliance_signer, arbiter or deployer, agent or deployer],
        recovery_approver or deployer,
        recovery_delay_s,
    )
    stablecoin = deploy("stablecoin", "MockStablecoin") if with_mock_stablecoin else None

    transact(registry.functions.grantRole(registry.functions.COMPLIANCE_ROLE().call(), deployer), deployer)
    transact(registry.functions.grantRole(registry.functions.AGENT_ROLE().call(), deployer), deployer)
    transact(factory.functions.grantRole(factory.functions.CREATOR_ROLE().call(), deployer), deployer)
    transact(anchor.functions.grantRole(anchor.functions.ANCHOR_ROLE().call(), deployer), deployer)
    transact(router.functions.grantRole(router.functions.REGISTRAR_ROLE().call(), factory.address), deployer)
    if stablecoin is not None:  # dev only: a real stablecoin is allowed by the platform's governance
        transact(router.functions.setCurrencyAllowed(stablecoin.address, True, 0), deployer)

    return CoreDeployment(
        w3=w3,
        chain_id=int(w3.eth.chain_id),
        deployer=deployer,
        registry=registry,
        anchor=anchor,
        donation_router=router,
        factory=factory,
        implementations=implementations,
        stablecoin=stablecoin,
        records=records,
    )


def deploy_dev_core(w3: Web3, *, arbiter: str | None = None) -> CoreDeployment:
    """The core on anvil's dev accounts when `accounts[0]` deploys and also plays the creator (tests,
    benches): fee recipient and agent `accounts[8]`, compliance signer (`dev_private_key(9)`) and
    recovery approver `accounts[9]`. The recovery keys must never be the creator's (`RoleConflict`)."""
    accounts: Sequence[str] = w3.eth.accounts  # web3 types it as a 1-tuple
    return deploy_core(
        w3,
        accounts[0],
        compliance_signer=accounts[9],
        fee_recipient=accounts[8],
        arbiter=arbiter,
        agent=accounts[8],
        recovery_approver=accounts[9],
    )


def core_from_addresses(w3: Web3, addresses: dict[str, str], deployer: str = ZERO_ADDRESS) -> CoreDeployment:
    """Handles on an already deployed core (e.g. from a manifest's `contracts`)."""
    implementations = {key: at(w3, _IMPLEMENTATION_ARTIFACTS[key], addresses[f"impl_{key}"]) for key in IMPLEMENTATIONS}
    stablecoin = addresses.get("stablecoin")
    return CoreDeployment(
        w3=w3,
        chain_id=int(w3.eth.chain_id),
        deployer=deployer,
        registry=at(w3, "ComplianceRegistry", addresses["registry"]),
        anchor=at(w3, "LedgerAnchor", addresses["anchor"]),
        donation_router=at(w3, "DonationRouter", addresses["donation_router"]),
        factory=at(w3, "PortfolioFactory", addresses["factory"]),
        implementations=implementations,
        stablecoin=at(w3, "MockStablecoin", stablecoin) if stablecoin else None,
    )


def deploy_portfolio(
    w3: Web3, core: CoreDeployment, spec: PortfolioSpec, *, sender: str | None = None
) -> PortfolioDeployment:
    """Create a portfolio through the factory (sender needs CREATOR_ROLE) and parse `PortfolioCreated`."""
    receipt = transact(core.factory.functions.createPortfolio(spec.as_tuple()), sender or core.deployer)
    events = core.factory.events.PortfolioCreated().process_receipt(receipt, errors=DISCARD)
    if len(events) != 1:
        raise RuntimeError(f"expected one PortfolioCreated event, got {len(events)}")
    args = events[0]["args"]

    def handle(artifact: str, address: str) -> Contract | None:
        return None if int(address, 16) == 0 else at(w3, artifact, address)

    return PortfolioDeployment(
        portfolio_id=int(args["portfolioId"]),
        creator=args["creator"],
        treasury=args["treasury"],
        token=at(w3, "PortfolioToken", args["token"]),
        distributor=handle("PortfolioToken", args["distributor"]),
        round=handle("FundingRound", args["round"]),
        splitter=handle("PayoutSplitter", args["splitter"]),
        rights_token=handle("RightsToken", args["rightsToken"]),
        block_number=int(receipt["blockNumber"]),
        tx_hash=_hex(receipt["transactionHash"]),
        gas_used=int(receipt["gasUsed"]),
    )


# ------------------------------------------------------------------ typed helpers


def verify_investors(
    core: CoreDeployment,
    investors: Sequence[str],
    *,
    country: int = 840,
    accredited: bool = True,
    kyc_valid_until_s: int = MAX_UINT64,
    sender: str | None = None,
    batch_size: int = 500,
) -> list[TxReceipt]:
    """KYC-verify many investors with `batchSetInvestors` (sender needs COMPLIANCE_ROLE)."""
    receipts = []
    for start in range(0, len(investors), batch_size):
        chunk = [Web3.to_checksum_address(a) for a in investors[start : start + batch_size]]
        n = len(chunk)
        receipts.append(
            transact(
                core.registry.functions.batchSetInvestors(
                    chunk, [kyc_valid_until_s] * n, [country] * n, [accredited] * n
                ),
                sender or core.deployer,
            )
        )
    return receipts


def restriction_message(core: CoreDeployment, code: int) -> str:
    message: str = core.registry.functions.messageForTransferRestriction(code).call()
    return message


@dataclass(frozen=True)
class InvestorStatus:
    """ComplianceRegistry.investor(address), with units in the names."""

    kyc_valid_until_s: int
    country: int  # ISO 3166-1 numeric
    accredited: bool
    frozen: bool


def investor_status(core: CoreDeployment, investor: str) -> InvestorStatus:
    investor_address = Web3.to_checksum_address(investor)
    valid_until, country, accredited, frozen = core.registry.functions.investor(investor_address).call()
    return InvestorStatus(int(valid_until), int(country), bool(accredited), bool(frozen))


def restriction_code(token: Contract, sender: str, recipient: str, amount_units: int) -> int:
    """The code a transfer would revert with (`TransferRestricted(code)`), 0 if allowed."""
    cs = Web3.to_checksum_address
    return int(token.functions.detectTransferRestriction(cs(sender), cs(recipient), amount_units).call())


@dataclass(frozen=True)
class RevenueState:
    """The revenue share of a PortfolioToken (amounts in revenue-token base units)."""

    revenue_token: str
    magnified_per_share: int
    total_deposited_units: int
    total_claimed_units: int
    eligible_supply_units: int
    sweep_clock_started_at_s: int
    dust_sweep_delay_s: int
    excluded: tuple[str, ...]


def revenue_state(token: Contract) -> RevenueState:
    deposited, claimed = token.functions.revenueTotals().call()
    clock_started_at, delay = token.functions.dustSweepSchedule().call()
    return RevenueState(
        revenue_token=token.functions.revenueToken().call(),
        magnified_per_share=int(token.functions.magnifiedPerShare().call()),
        total_deposited_units=int(deposited),
        total_claimed_units=int(claimed),
        eligible_supply_units=int(token.functions.eligibleSupply().call()),
        sweep_clock_started_at_s=int(clock_started_at),
        dust_sweep_delay_s=int(delay),
        excluded=tuple(token.functions.excludedAccounts().call()),
    )
