"""The demo's story, on chain: what `kogi demo` makes happen on the running embedded stack.

`kogi demo` (api/cli/demo.py) finds the chain and the API, then calls `open_demo_chain`,
`play_story` and, once the indexer has caught up, `reconcile_mirror`; it prints what the story
narrates and the ledger's side (trial balance, statement, reconciliation). Keeping the story here
keeps the command a parser and printer, and lets the story be driven without Typer.

Cast (dev accounts of the dev mnemonic; the keys are public, development only):
  0 platform (compliance agent, portfolio creation), 1 creator (admin, issuer, treasury),
  2-5 investors Alice, Bob, Carol, Dave, 7 a fan without KYC, and the core's own accounts:
  arbiter (factory setting), fee recipient, compliance signer (signs the investment permits).
Story: KYC the investors (four countries) → create a portfolio set (token with revenue share,
round, rights token) → investors invest with EIP-712 permits (Dave: $1) → the window ends, the
round succeeded → investors claim their tokens → milestone 1 approved by issuer and arbiter and
released (platform fee) → the creator deposits revenue → Alice and Bob claim → Alice pays Carol
(allowed) and then her friend without KYC (blocked: restriction code + message) → the fan donates
with a message. Safe to run again: each run creates a new portfolio.

A story that cannot go on for a reason the user can fix raises `DemoError` (one readable message);
a chain that goes away raises what web3 raises, and the command reports either in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import RPCEndpoint

from contracts.core import (
    CoreDeployment,
    PortfolioDeployment,
    PortfolioSpec,
    core_from_addresses,
    deploy_portfolio,
    restriction_code,
    restriction_message,
)
from contracts.deploy import TransactionFailed, transact
from contracts.funding import RoundState, RoundTerms, dev_private_key, invest_with_permit
from contracts.manifest import ManifestError, manifest_path, read_manifest
from indexer.reconcile import ReconcileReport, reconcile
from indexer.rpc import RpcClient
from ledger.chart import platform_store
from ledger.database import Database

USDC = 10**6
TOKEN = 10**18
ROUND_WINDOW_S = 3_600
INVESTMENTS = (
    ("Alice", 2, 2_500 * USDC, 840),
    ("Bob", 3, 1_500 * USDC, 276),
    ("Carol", 4, 750 * USDC, 250),
    ("Dave", 5, 1 * USDC, 392),
)
"""(name, dev account, investment, ISO 3166-1 numeric country: US, DE, FR, JP). Dave's is the $1 one."""
CREATOR, PLATFORM, FAN = 1, 0, 7
DEV_ACCOUNTS_NEEDED = 10
REVENUE_UNITS = 480 * USDC
DONATION_UNITS = 25 * USDC
DONATION_MESSAGE = "Loved the first EP. Keep going!"
KYC_VALIDITY_S = 365 * 86_400


def demo_round_terms(stablecoin: str, start_time_s: int) -> RoundTerms:
    """The album's round: $2.50 per token, soft cap $1,000, hard cap $10,000, $1 to $5,000 per
    investor, open for ROUND_WINDOW_S from `start_time_s`, 2.5% platform fee, two 50% milestones."""
    return RoundTerms(
        stablecoin,
        price_units=2_500_000,
        soft_cap_units=1_000 * USDC,
        hard_cap_units=10_000 * USDC,
        min_investment_units=1 * USDC,
        max_investment_units=5_000 * USDC,
        start_time_s=start_time_s,
        end_time_s=start_time_s + ROUND_WINDOW_S,
        fee_bps=250,
        milestone_bps=(5_000, 5_000),
    )


class DemoError(RuntimeError):
    """The demo cannot go on (wrong chain, manifest or accounts; compliance not enforced; …); the
    message says why, for the user."""


class Narrator(Protocol):
    """Where the story tells what it does: a chapter heading (`step`) and its lines (`line`)."""

    def step(self, text: str) -> None: ...

    def line(self, text: str) -> None: ...


@dataclass(frozen=True)
class DemoChain:
    """The running stack's chain as the story needs it: the core, its dev stablecoin, the unlocked
    dev accounts and the compliance signer's key (to sign investment permits)."""

    w3: Web3
    chain_id: int
    core: CoreDeployment
    stablecoin: Contract
    accounts: Sequence[str]
    signer_key: bytes


@dataclass(frozen=True)
class StoryResult:
    """What the ledger side of the demo looks at: the portfolio token, Alice, the last block."""

    token: str
    alice: str
    block: int


def units(amount: int, scale: int) -> str:
    """`amount` base units of a `scale`-decimals asset for a reader: 2,500 / 1,000.4 / 0.25."""
    whole, frac = divmod(amount, 10**scale)
    return f"{whole:,}" + (f".{frac:0{scale}d}".rstrip("0").rstrip(".") if frac else "")


def open_demo_chain(w3: Web3, chain_id: int, rpc_url: str, manifest: Path | None, deployments_dir: Path) -> DemoChain:
    """The core of the manifest (`manifest`, else the one the embedded stack wrote for `chain_id`),
    checked to be a dev chain the story can run on (dev stablecoin, ten unlocked dev accounts, a dev
    compliance signer); DemoError otherwise."""
    try:
        data = read_manifest(manifest or manifest_path(chain_id, deployments_dir))
    except ManifestError as exc:
        raise DemoError(f"{exc} (the embedded stack writes it on start)") from exc
    core = core_from_addresses(w3, data.addresses(), data.deployer)
    if core.stablecoin is None:
        raise DemoError("the manifest has no dev stablecoin: the demo runs on the embedded dev chain only")
    accounts = list(w3.eth.accounts)
    if len(accounts) < DEV_ACCOUNTS_NEEDED:
        raise DemoError(
            f"the node at {rpc_url} has {len(accounts)} unlocked accounts; the demo needs anvil's 10 dev accounts"
        )
    signer = core.factory.functions.complianceSigner().call()
    keys = [dev_private_key(i) for i in range(DEV_ACCOUNTS_NEEDED)]
    signer_key = next((k for k in keys if Account.from_key(k).address.lower() == signer.lower()), None)
    if signer_key is None:
        raise DemoError(f"the compliance signer {signer} is not a dev account: cannot sign investment permits")
    return DemoChain(w3, chain_id, core, core.stablecoin, accounts, signer_key)


def play_story(chain: DemoChain, narrator: Narrator) -> StoryResult:
    """Everything on chain, chapter by chapter (module docstring), told to `narrator`."""
    story = _Story(chain, narrator)
    story.kyc()
    portfolio = story.issue()
    token, round_ = portfolio.token, portfolio.round
    assert round_ is not None
    story.fund(round_)
    story.close_window(round_)
    story.claim_tokens(round_, token)
    story.release_milestone(round_)
    story.share_revenue(token)
    story.transfer(token)
    story.donate(portfolio.portfolio_id)
    return StoryResult(token.address, story.investors["Alice"], int(chain.w3.eth.block_number))


def reconcile_mirror(database: Database, rpc_url: str, *, chain_id: int, ledger: str) -> ReconcileReport:
    """The ledger's mirror of the chain compared with the chain at the indexed block (raises
    indexer.reconcile.NotIndexed when nothing is indexed yet)."""
    rpc = RpcClient(rpc_url)
    try:
        return reconcile(platform_store(database), rpc, chain_id=chain_id, ledger=ledger)
    finally:
        rpc.close()


class _Story:
    """The chapters of `play_story`; one method each, sharing the cast."""

    def __init__(self, chain: DemoChain, narrator: Narrator) -> None:
        self.w3, self.core, self.usdc, self.signer_key = chain.w3, chain.core, chain.stablecoin, chain.signer_key
        self.say = narrator
        acc = chain.accounts
        self.platform, self.creator, self.fan = acc[PLATFORM], acc[CREATOR], acc[FAN]
        self.investors = {name: acc[index] for name, index, _, _ in INVESTMENTS}
        self.names = [name for name, _, _, _ in INVESTMENTS]
        self.arbiter = Web3.to_checksum_address(self.core.factory.functions.arbiter().call())
        if self.arbiter == self.creator:
            raise DemoError(
                "the factory's arbiter is the demo's creator account: the milestone needs two different approvers"
            )
        self.terms = demo_round_terms(self.usdc.address, 0)
        """The round's terms; `issue` sets its window from the chain's time."""

    def _now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def kyc(self) -> None:
        self.say.step("Compliance: KYC for four investors (ComplianceRegistry.batchSetInvestors)")
        kyc_until = self._now() + KYC_VALIDITY_S
        transact(
            self.core.registry.functions.batchSetInvestors(
                [self.investors[n] for n in self.names],
                [kyc_until] * len(self.names),
                [country for _, _, _, country in INVESTMENTS],
                [True] * len(self.names),
            ),
            self.platform,
        )
        for name, _, _, country in INVESTMENTS:
            self.say.line(f"  {name:6} {self.investors[name]}  verified, country {country}")

    def issue(self) -> PortfolioDeployment:
        self.say.step("Issuance: the platform creates a portfolio set for the creator (PortfolioFactory)")
        self.terms = terms = demo_round_terms(self.usdc.address, self._now())
        portfolio = deploy_portfolio(
            self.w3,
            self.core,
            PortfolioSpec(
                admin=self.creator,
                issuer=self.creator,
                treasury=self.creator,
                name="Kogi Demo Album",
                symbol="KDA",
                revenue_token=self.usdc.address,
                with_rights=True,
                royalty_receiver=self.creator,
                royalty_bps=500,
                round=terms,
            ),
            sender=self.platform,
        )
        round_ = portfolio.round
        assert round_ is not None
        self.say.line(
            f"  portfolio {portfolio.portfolio_id}: token {portfolio.token.address}, round {round_.address}, "
            f"rights {portfolio.rights_token.address if portfolio.rights_token else '-'}"
        )
        self.say.line(
            f"  round: $2.50 per token, soft cap $1,000, hard cap $10,000, fee {terms.fee_bps / 100}%, "
            "milestones 50% + 50%"
        )
        return portfolio

    def fund(self, round_: Contract) -> None:
        self.say.step("Funding: investors invest with EIP-712 compliance permits")
        for nonce, (name, _, amount, _) in enumerate(INVESTMENTS, start=1):
            investor = self.investors[name]
            transact(self.usdc.functions.mint(investor, amount), self.platform)  # dev stablecoin: anyone may mint
            transact(self.usdc.functions.approve(round_.address, amount), investor)
            invest_with_permit(
                self.w3, round_, investor=investor, amount_units=amount, signer_key=self.signer_key, nonce=nonce
            )
            tokens = amount * TOKEN // self.terms.price_units
            self.say.line(f"  {name:6} invests ${units(amount, 6):>8} → {units(tokens, 18)} KDA")

    def close_window(self, round_: Contract) -> None:
        self.say.step("The window ends (evm_increaseTime + evm_mine): the round succeeded")
        ahead = self.terms.end_time_s + 1 - self._now()
        self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [max(ahead, 1)])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        state = RoundState(round_.functions.state().call())
        if state != RoundState.SUCCEEDED:
            raise DemoError(f"the round is {state.name}, expected SUCCEEDED")
        transact(round_.functions.finalize(), self.platform)
        self.say.line(f"  state {state.name}, raised ${units(round_.functions.totalRaised().call(), 6)}")

    def claim_tokens(self, round_: Contract, token: Contract) -> None:
        self.say.step("Investors claim their tokens (minted through the compliance check)")
        for name in self.names:
            transact(round_.functions.claimTokens(), self.investors[name])
            self.say.line(f"  {name:6} holds {units(token.functions.balanceOf(self.investors[name]).call(), 18)} KDA")

    def release_milestone(self, round_: Contract) -> None:
        self.say.step("Milestone 1: approved by the issuer and the arbiter, released to the treasury")
        transact(round_.functions.approveMilestoneAsIssuer(0), self.creator)
        transact(round_.functions.approveMilestoneAsArbiter(0), self.arbiter)
        receipt = transact(round_.functions.releaseMilestone(0), self.creator)
        (released,) = round_.events.MilestoneReleased().process_receipt(receipt, errors=DISCARD)
        args = released["args"]
        self.say.line(
            f"  gross ${units(args['gross'], 6)}: treasury ${units(args['net'], 6)}, "
            f"platform fee ${units(args['fee'], 6)}"
        )

    def share_revenue(self, token: Contract) -> None:
        self.say.step("Revenue: the creator deposits sales revenue; holders claim their share")
        transact(self.usdc.functions.mint(self.creator, REVENUE_UNITS), self.platform)
        transact(self.usdc.functions.approve(token.address, REVENUE_UNITS), self.creator)
        transact(token.functions.deposit(REVENUE_UNITS), self.creator)
        self.say.line(f"  deposited ${units(REVENUE_UNITS, 6)}")
        for name in ("Alice", "Bob"):
            before = self.usdc.functions.balanceOf(self.investors[name]).call()
            transact(token.functions.claim(), self.investors[name])
            after = self.usdc.functions.balanceOf(self.investors[name]).call()
            self.say.line(f"  {name:6} claims ${units(after - before, 6)}")

    def transfer(self, token: Contract) -> None:
        """One transfer compliance allows, one it must block (the fan has no KYC)."""
        self.say.step("Transfers: one allowed, one blocked by compliance")
        alice, carol, fan = self.investors["Alice"], self.investors["Carol"], self.fan
        transact(token.functions.transfer(carol, 100 * TOKEN), alice)
        self.say.line("  Alice → Carol 100 KDA: ok")
        code = restriction_code(token, alice, fan, 50 * TOKEN)
        message = restriction_message(self.core, code)
        try:
            transact(token.functions.transfer(fan, 50 * TOKEN), alice)
        except TransactionFailed as exc:
            self.say.line(f"  Alice → {fan} (no KYC) 50 KDA: BLOCKED, restriction code {code}: {message}")
            self.say.line(f"    ({exc})")
        else:
            raise DemoError("the transfer to an account without KYC went through: compliance is not enforced")
        if code == 0:
            raise DemoError("detectTransferRestriction reported no restriction for an account without KYC")

    def donate(self, portfolio_id: int) -> None:
        self.say.step("Donation with a message (DonationRouter, 2.5% platform fee)")
        router = self.core.donation_router
        transact(self.usdc.functions.mint(self.fan, DONATION_UNITS), self.platform)
        transact(self.usdc.functions.approve(router.address, DONATION_UNITS), self.fan)
        transact(
            router.functions.donate(portfolio_id, 0, self.usdc.address, DONATION_UNITS, DONATION_MESSAGE, False),
            self.fan,
        )
        self.say.line(f'  the fan donates ${units(DONATION_UNITS, 6)}: "{DONATION_MESSAGE}"')
