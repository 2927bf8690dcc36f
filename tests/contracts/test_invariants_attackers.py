"""§1.7 of issue 10: the money invariants of one portfolio, under honest use and under attack.

One portfolio (a PortfolioToken whose revenue share is paid in the stablecoin, and a FundingRound
with three milestones) is created through the factory with a separate wallet for every party:
platform, creator, agent, arbiter, recovery approver, compliance signer, fee recipient, treasury,
three investors, a replacement wallet (the target of recoveries) and the creator's accomplice (an
unverified second wallet the creator can hand its own roles to). A hypothesis RuleBasedStateMachine
plays, in any order:

- honest actions: invest under the signer's permit, warp time, deposit revenue, send stray revenue
  tokens to the token, sync the round, claim tokens, claim revenue, transfer between holders,
  approve and release a milestone (creator + arbiter), claim a refund;
- attacker powers, each used from ONE key: the creator with every role the trust model gives it
  (and those it can hand its accomplice), the agent, the arbiter and the recovery approver use for
  real what their roles allow (approve a milestone half, release, cancel, mint the room left under
  the cap, grant their own roles, sweep dust, pause, propose or execute any recovery…).

After every step `Driver.check` reads the chain back and checks the invariants below; then every
attacker (creator, accomplice, signer, agent, arbiter, approver) tries, as eth_calls from its own
key, every function it could use to move funds or roles that its roles do not allow in the current
state — grant or revoke any role, mint beyond the reservation, burn a holder's tokens, transferFrom
a holder, setExcluded, pause, propose a recovery to itself, execute one without the approver role,
approve the other milestone half, invest under a permit it signed itself or one made for someone
else (the signer: for an unverified wallet), setComplianceSigner, attachRound, deliverAllocation /
returnAllocation, sweepDust, transferFrom of the escrow, factory and registry settings. Invariants:
- trust model: every one of those calls reverts;
- escrow: the round's stablecoin balance == totalRaised - releasedGross - refundedTotal, and the
  refunds paid (events) add up to refundedTotal;
- release split: releasedToTreasury + feesPaid == releasedGross, the treasury holds exactly what was
  released to it, the fee recipient exactly the fees (at most feeBps of the releases);
- contributions: Σ contributionOf == totalRaised (every wallet of the world), investorCount agrees;
- settled sums: once settled (closed, or every investor refunded) released + refunded == invested
  and the round holds nothing;
- tokens or refund: in every settled state every investor holds its tokens, can claim them, holds
  its refund (exactly its contribution before success) or can claim it — unless, after a cancelled
  success, it no longer holds the tokens the refund takes back;
- refund and tokens: no investor keeps a refund of X and the tokens X paid for: delivered + still
  claimable + taken back == allocation, refund ≤ contribution, kept·contribution + refund·allocation
  ≤ allocation·contribution;
- holder decrease: no holder's tokens (balance + unclaimed allocation) or revenue (claimable +
  accrued on the unclaimed allocation) decrease unless that holder sent the transaction or a valid
  recovery moved them;
- recovery: every executed recovery was proposed by an AGENT_ROLE key and executed after the delay
  by a different RECOVERY_APPROVER_ROLE key;
- release approvals: every release had an ISSUER_ROLE and an ARBITER_ROLE approval by two
  different addresses, and paid the fixed treasury and fee recipient;
- attacker gain: the signer, agent, arbiter, approver and platform never gain stablecoin; the creator
  and its accomplice gain only revenue claimed on their own tokens and swept dust, and Σ dust swept
  never exceeds the stray revenue tokens sent to the token;
- revenue reserve: the token's stablecoin balance ≥ totalDeposited - totalClaimed ≥ Σ claimable
  (holders and the round), and both totals match the events;
- supply: totalSupply + the open round's reservation ≤ cap, and once minted the round holds exactly
  the unclaimed allocations.

Every invariant is shown able to fail: the `test_*_catch*` tests break the chain state by hand
(anvil impersonation, storage writes, a role the platform should not have granted) and check the
named invariant reports it.

Examples share one deployment (module fixture) and run between evm_snapshot and evm_revert.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from eth_abi import decode
from eth_abi import encode as encode_abi
from eth_account import Account
from eth_utils.abi import get_abi_input_types, get_abi_output_types
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.types import TxReceipt

from contracts.artifacts import load_artifact
from contracts.core import PortfolioSpec, RoundSpec, deploy_core, deploy_portfolio, verify_investors
from contracts.deploy import RECEIPT_TIMEOUT_S, transact
from contracts.funding import RoundState, dev_private_key
from contracts.permits import sign_investment_permit
from tests.contracts.chain_helpers import TOKEN, US, USDC, all_error_abi, now

pytestmark = pytest.mark.chain

DAY = 86_400
PRICE = USDC  # 1 USDC per whole token
SOFT_CAP = 300 * USDC
HARD_CAP = 1_000 * USDC
MIN_INVESTMENT = 10 * USDC
MAX_INVESTMENT = 700 * USDC
FEE_BPS = 250
MILESTONES = (4_000, 3_500, 2_500)
CAP = 1_500 * TOKEN  # the round reserves 1,000 tokens; 500 are the creator's
WINDOW_S = 2 * DAY + 1_800  # off the whole-hour warps: no step lands seconds before the close
BPS = 10_000
MAGNITUDE = 2**128
FUNDS = 1_000_000 * USDC
GAS = 3_000_000
FAR_DEADLINE = 2**40
ROUND_SOLD = 2  # PortfolioToken.ROUND_SOLD
RECOVERY_EXECUTED = 2  # PortfolioToken.RECOVERY_EXECUTED
ERC20_STORAGE = 0x52C63247E1F47DB19D5CE0460030C497F067CA4CEBF71BA98EEADABE20BACE00  # OZ 5 ERC20Upgradeable
TOKEN_STORAGE = 0x837F90E18966638D5D3E1076F613AE3B62179AC8FFA643F54DAA6946EA869B00  # PortfolioToken

ADMIN = bytes(32)
ISSUER, ARBITER, COMPLIANCE, PLATFORM, AGENT, APPROVER, CREATOR = (
    Web3.keccak(text=name)
    for name in (
        "ISSUER_ROLE",
        "ARBITER_ROLE",
        "COMPLIANCE_ROLE",
        "PLATFORM_ROLE",
        "AGENT_ROLE",
        "RECOVERY_APPROVER_ROLE",
        "CREATOR_ROLE",
    )
)

SETTINGS = settings(
    max_examples=16,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=False,
)

# ------------------------------------------------------------------------------------------ world


def cs(address: str) -> str:
    return Web3.to_checksum_address(address)


def extra_wallet(w3: Web3, label: str) -> str:
    """A funded wallet beyond anvil's ten; anvil signs for it (impersonation)."""
    address = cs(Web3.keccak(text=label)[-20:].hex())
    w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    return address


@dataclass
class World:
    w3: Web3
    factory: Contract
    registry: Contract
    coin: Contract
    token: Contract
    round: Contract
    deployer: str  # CREATOR_ROLE on the factory, registry admin; deposits revenue
    platform: str
    creator: str  # DEFAULT_ADMIN_ROLE + ISSUER_ROLE on token and round; KYC'd (can hold tokens)
    agent: str
    arbiter: str
    approver: str
    signer: str
    investors: list[str]
    treasury: str
    fee_recipient: str
    replacement: str  # KYC'd wallet that recoveries and transfers may target
    accomplice: str  # the creator's second wallet, not KYC'd
    keys: dict[str, bytes]  # private keys the attackers sign their own permits with

    @property
    def holders(self) -> list[str]:
        """Every address that can ever hold tokens (the others fail the registry)."""
        return [*self.investors, self.creator, self.replacement, self.round.address]

    @property
    def everyone(self) -> list[str]:
        return [
            *self.investors,
            self.creator,
            self.replacement,
            self.accomplice,
            self.signer,
            self.agent,
            self.arbiter,
            self.approver,
            self.platform,
            self.deployer,
            self.treasury,
            self.fee_recipient,
        ]

    def actor(self, name: str) -> str:
        return str(getattr(self, name))


def build_world(w3: Web3) -> World:
    a = w3.eth.accounts
    deployer, platform, creator, agent, arbiter, approver = a[0], a[1], a[2], a[3], a[4], a[5]
    investors, signer = list(a[6:9]), a[9]
    parties = {"creator": (creator, 2), "agent": (agent, 3), "arbiter": (arbiter, 4), "approver": (approver, 5)}
    keys = {name: dev_private_key(index) for name, (_, index) in (parties | {"signer": (signer, 9)}).items()}
    for name, (who, _) in (parties | {"signer": (signer, 9)}).items():
        assert Account.from_key(keys[name]).address == who
    keys["accomplice"] = bytes(Web3.keccak(text="invariants: accomplice key"))
    treasury = extra_wallet(w3, "invariants: treasury")
    fee_recipient = extra_wallet(w3, "invariants: fee recipient")
    replacement = extra_wallet(w3, "invariants: replacement wallet")
    accomplice = extra_wallet(w3, "invariants: creator's accomplice")
    core = deploy_core(
        w3,
        deployer,
        compliance_signer=signer,
        fee_recipient=fee_recipient,
        arbiter=arbiter,
        agent=agent,
        platform=platform,
        recovery_approver=approver,
    )
    coin = core.stablecoin
    assert coin is not None
    start = now(w3)
    portfolio = deploy_portfolio(
        w3,
        core,
        PortfolioSpec(
            admin=creator,
            issuer=creator,
            treasury=treasury,
            name="Invariants",
            symbol="INVT",
            cap_units=CAP,
            revenue_token=coin.address,
            round=RoundSpec(
                coin.address,
                PRICE,
                SOFT_CAP,
                HARD_CAP,
                MIN_INVESTMENT,
                MAX_INVESTMENT,
                start,
                start + WINDOW_S,
                FEE_BPS,
                MILESTONES,
            ),
        ),
    )
    assert portfolio.round is not None
    verify_investors(core, [*investors, creator, replacement], country=US)
    # every would-be investor, honest or not, has money approved to the round: only the rules stop it
    for who in (*investors, signer, accomplice, creator, agent, arbiter, approver):
        transact(coin.functions.mint(who, FUNDS), deployer)
        transact(coin.functions.approve(portfolio.round.address, 2**256 - 1), who)
    transact(coin.functions.mint(deployer, FUNDS), deployer)
    transact(coin.functions.approve(portfolio.token.address, 2**256 - 1), deployer)
    return World(
        w3=w3,
        factory=core.factory,
        registry=core.registry,
        coin=coin,
        token=portfolio.token,
        round=portfolio.round,
        deployer=deployer,
        platform=platform,
        creator=creator,
        agent=agent,
        arbiter=arbiter,
        approver=approver,
        signer=signer,
        investors=investors,
        treasury=treasury,
        fee_recipient=fee_recipient,
        replacement=replacement,
        accomplice=accomplice,
        keys=keys,
    )


@pytest.fixture(scope="module")
def invariant_world(anvil_chain: Any) -> World:
    return build_world(anvil_chain.web3())


# ------------------------------------------------------------------------------------- chain I/O


@dataclass(frozen=True)
class Call:
    """An eth_call or transaction payload, encoded without web3's per-call overhead (each step
    sends a few hundred of them)."""

    to: str
    data: str
    outputs: tuple[str, ...]


@cache
def _function(artifact: str, name: str) -> tuple[bytes, tuple[str, ...], tuple[str, ...]]:
    (abi,) = [f for f in load_artifact(artifact).abi if f.get("type") == "function" and f["name"] == name]
    inputs, outputs = tuple(get_abi_input_types(abi)), tuple(get_abi_output_types(abi))
    return bytes(Web3.keccak(text=f"{name}({','.join(inputs)})")[:4]), inputs, outputs


class Target:
    """`Target(address, "FundingRound").cancel()` is the Call of `cancel()` on that address."""

    def __init__(self, address: str, artifact: str) -> None:
        self.address, self.artifact = address, artifact

    def __getattr__(self, name: str) -> Callable[..., Call]:
        def encode(*args: Any) -> Call:
            selector, inputs, outputs = _function(self.artifact, name)
            return Call(self.address, "0x" + (selector + encode_abi(inputs, args)).hex(), outputs)

        return encode


@cache
def _error_names() -> dict[str, str]:
    names = {}
    for error in all_error_abi():
        signature = f"{error['name']}({','.join(i['type'] for i in error['inputs'])})"
        names["0x" + bytes(Web3.keccak(text=signature)[:4]).hex()] = error["name"]
    return names


def error_name(data: Any, fallback: str) -> str:
    if isinstance(data, str) and len(data) >= 10:
        return _error_names().get(data[:10].lower(), fallback)
    return fallback


@dataclass(frozen=True)
class Reverted:
    data: Any
    message: str

    @property
    def error(self) -> str:
        return error_name(self.data, self.message)


def batch_call(w3: Web3, calls: list[tuple[Any, Call, str | None]]) -> dict[Any, Any]:
    """Run `(key, call, sender)` eth_calls as one JSON-RPC batch: key -> decoded output or Reverted."""
    if not calls:
        return {}
    requests = []
    for _, call, sender in calls:
        tx = {"to": call.to, "data": call.data}
        if sender is not None:
            tx["from"] = sender
        requests.append(("eth_call", [tx, "latest"]))
    responses = w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
    assert isinstance(responses, list), responses
    out: dict[Any, Any] = {}
    for (key, call, _), response in zip(calls, responses, strict=True):
        if "error" in response:
            out[key] = Reverted(response["error"].get("data"), str(response["error"].get("message")))
            continue
        values = decode(call.outputs, bytes.fromhex(response["result"][2:]))
        out[key] = values[0] if len(values) == 1 else values
    return out


@dataclass
class Outcome:
    ok: bool
    error: str | None = None


@dataclass
class Ghost:
    """What the events of the driver's own transactions said (read from their receipts)."""

    refund: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    taken_back: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    taken_back_undelivered: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    delivered: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    revenue_claimed: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    swept: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    deposited: int = 0
    stray: int = 0


ROUND_EVENTS = ("Refunded", "AllocationTakenBack", "TokensClaimed", "MilestoneReleased")
TOKEN_EVENTS = ("RevenueClaimed", "DustSwept", "RevenueDeposited", "RecoveryExecuted")

# what each attacker's roles allow (everything else `probe` tries must revert)
CREATOR_MAY = frozenset(
    {
        "round.grantRole(ISSUER)",
        "round.grantRole(ADMIN)",
        "round.revokeRole(ISSUER of the creator)",
        "round.approveMilestoneAsIssuer",
        "round.cancel",
        "token.grantRole(ISSUER)",
        "token.grantRole(ADMIN)",
        "token.revokeRole(ISSUER of the creator)",
        "token.mint(itself, 1)",
        "token.sweepDust(itself)",
    }
)
MAY: dict[str, frozenset[str]] = {
    "creator": CREATOR_MAY,
    "accomplice": CREATOR_MAY,  # only what the creator hands it
    "signer": frozenset(),
    "agent": frozenset({"token.pause", "token.unpause", "token.cancelRecovery"}),
    "arbiter": frozenset({"round.approveMilestoneAsArbiter", "round.cancel"}),
    "approver": frozenset({"token.executeRecovery", "token.cancelRecovery"}),
}
ACTORS = tuple(MAY)


class Driver:
    """One example: a chain snapshot, the actions, the ghost state and the invariant checks."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.w3 = world.w3
        self.snapshot = self.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
        self.chain_id = self.w3.eth.chain_id
        self.ghost = Ghost()
        self.nonce = 0
        self.permits: dict[tuple[str, bytes], Call] = {}
        self.senders: set[str] = set()
        self.events: list[tuple[str, dict[str, Any], TxReceipt]] = []
        self.reads = self._reads()
        self.S = self.read()
        self.base = {who: self.S["coin", who] for who in self.coin_watch}

    def close(self) -> None:
        self.w3.provider.make_request("evm_revert", [self.snapshot])  # type: ignore[arg-type]

    # ------------------------------------------------------------------ reading the chain

    @property
    def coin_watch(self) -> list[str]:
        w = self.w
        return [
            w.round.address,
            w.token.address,
            w.treasury,
            w.fee_recipient,
            w.creator,
            w.accomplice,
            w.signer,
            w.agent,
            w.arbiter,
            w.approver,
            w.platform,
        ]

    def targets(self) -> tuple[Target, Target, Target, Target, Target]:
        w = self.w
        return (
            Target(w.round.address, "FundingRound"),
            Target(w.token.address, "PortfolioToken"),
            Target(w.coin.address, "MockStablecoin"),
            Target(w.factory.address, "PortfolioFactory"),
            Target(w.registry.address, "ComplianceRegistry"),
        )

    def _reads(self) -> list[tuple[Any, Call, str | None]]:
        """What every check reads (the same calls every step)."""
        w = self.w
        r, t, c, _, _ = self.targets()
        reads: list[tuple[Any, Call, str | None]] = []
        for name in (
            "state",
            "totalRaised",
            "releasedGross",
            "releasedToTreasury",
            "feesPaid",
            "refundedTotal",
            "refundedCount",
            "investorCount",
            "cancelledAfterSuccess",
            "nextMilestone",
            "allocatedTotal",
            "allocationStatus",
            "feeBps",
        ):
            reads.append((("round", name), getattr(r, name)(), None))
        for inv in w.investors:
            for name in ("tokensClaimed", "refunded", "allocationReturned", "refundableOf", "tokenAllocation"):
                reads.append(((name, inv), getattr(r, name)(inv), None))
            reads.append((("can claimTokens", inv), r.claimTokens(), inv))
            reads.append((("can claimRefund", inv), r.claimRefund(), inv))
        reads += [(("contribution", who), r.contributionOf(who), None) for who in w.everyone]
        for name in (
            "totalSupply",
            "cap",
            "openRound",
            "magnifiedPerShare",
            "revenueTotals",
            "paused",
            "recoveryCount",
        ):
            reads.append((("token", name), getattr(t, name)(), None))
        reads.append((("token", "roundLink"), t.roundLink(w.round.address), None))
        for h in w.holders:
            reads.append((("balance", h), t.balanceOf(h), None))
            reads.append((("correction", h), t.correctionOf(h), None))
            reads.append((("excluded", h), t.isExcluded(h), None))
        reads += [(("coin", who), c.balanceOf(who), None) for who in self.coin_watch]
        reads.append(("arbiter is issuer", r.hasRole(ISSUER, w.arbiter), None))
        reads.append(("agent is agent", t.hasRole(AGENT, w.agent), None))
        reads.append(("approver is approver", t.hasRole(APPROVER, w.approver), None))
        return reads

    def read(self) -> dict[Any, Any]:
        return batch_call(self.w3, self.reads)

    # ------------------------------------------------------------------ derived views

    @staticmethod
    def state(S: dict[Any, Any]) -> int:
        return int(S["round", "state"])

    def sold(self, S: dict[Any, Any]) -> bool:
        s = self.state(S)
        return s in (RoundState.SUCCEEDED, RoundState.CLOSED) or (
            s == RoundState.CANCELLED and bool(S["round", "cancelledAfterSuccess"])
        )

    def pending(self, S: dict[Any, Any], who: str) -> int:
        """Tokens of `who`'s allocation still in the round (claimable by `who`)."""
        if who not in self.w.investors or not self.sold(S) or S["tokensClaimed", who]:
            return 0
        return int(S["tokenAllocation", who] - S["allocationReturned", who])

    @staticmethod
    def claim_magnified(S: dict[Any, Any], who: str) -> int:
        magnified = S["correction", who]
        if not S["excluded", who]:
            magnified += S["token", "magnifiedPerShare"] * S["balance", who]
        return max(0, int(magnified))

    def entitlement(self, S: dict[Any, Any], who: str) -> tuple[int, int]:
        """(tokens held or claimable from the round, revenue claimable or accrued on those)."""
        pending = self.pending(S, who)
        magnified = self.claim_magnified(S, who)
        status, allocation_per_share = S["token", "roundLink"]
        if pending and status == ROUND_SOLD:
            magnified += (S["token", "magnifiedPerShare"] - allocation_per_share) * pending
        return int(S["balance", who]) + pending, magnified // MAGNITUDE

    def mint_room(self, S: dict[Any, Any]) -> int:
        """What `mint` accepts now (it settles the round first)."""
        supply = S["token", "totalSupply"]
        open_round, reserved = S["token", "openRound"]
        if int(open_round, 16) != 0:
            status, allocation = S["round", "allocationStatus"]
            if status == 1:
                supply, reserved = supply + allocation, 0
            elif status == 2:
                reserved = 0
        return max(0, S["token", "cap"] - supply - reserved)

    # ------------------------------------------------------------------ acting

    def send(self, fn: Any, sender: str) -> Outcome:
        """Simulate, then send if it would succeed; record the sender and the receipt's events."""
        try:
            fn.call({"from": sender})
        except (ContractCustomError, ContractLogicError) as exc:
            return Outcome(False, error_name(getattr(exc, "data", None), type(exc).__name__))
        tx_hash = fn.transact({"from": sender, "gas": GAS})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT_S, poll_latency=0.01)
        if receipt["status"] != 1:  # only a time boundary between simulation and mining gets here
            return Outcome(False, "reverted when mined")
        self.senders.add(cs(sender))
        self._record(receipt)
        return Outcome(True)

    def _record(self, receipt: TxReceipt) -> None:
        g = self.ghost
        for contract, names in ((self.w.round, ROUND_EVENTS), (self.w.token, TOKEN_EVENTS)):
            for name in names:
                for event in getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD):
                    if event["address"] != contract.address:
                        continue
                    args = dict(event["args"])
                    self.events.append((name, args, receipt))
                    if name == "Refunded":
                        g.refund[args["investor"]] += args["amount"]
                    elif name == "AllocationTakenBack":
                        g.taken_back[args["investor"]] += args["tokens"]
                        if not args["delivered"]:
                            g.taken_back_undelivered[args["investor"]] += args["tokens"]
                    elif name == "TokensClaimed":
                        g.delivered[args["investor"]] += args["amount"]
                    elif name == "RevenueClaimed":
                        g.revenue_claimed[args["holder"]] += args["amount"]
                    elif name == "DustSwept":
                        g.swept[args["to"]] += args["amount"]
                    elif name == "RevenueDeposited":
                        g.deposited += args["amountCredited"]

    def permit(self, investor: str, amount: int) -> tuple[int, int, int, int, bytes]:
        """invest() arguments under a fresh permit of the compliance signer."""
        self.nonce += 1
        signature = sign_investment_permit(
            self.w.keys["signer"],
            chain_id=self.chain_id,
            round_address=self.w.round.address,
            investor=investor,
            max_amount=amount,
            deadline=FAR_DEADLINE,
            nonce=self.nonce,
        )
        return amount, amount, FAR_DEADLINE, self.nonce, signature

    def invest(self, i: int, amount: int) -> Outcome:
        investor = self.w.investors[i]
        return self.send(self.w.round.functions.invest(*self.permit(investor, amount)), investor)

    def warp(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def deposit(self, amount: int) -> Outcome:
        return self.send(self.w.token.functions.deposit(amount), self.w.deployer)

    def stray(self, amount: int) -> Outcome:
        out = self.send(self.w.coin.functions.transfer(self.w.token.address, amount), self.w.deployer)
        if out.ok:
            self.ghost.stray += amount
        return out

    def next_milestone(self) -> int:
        return int(self.S["round", "nextMilestone"])

    # ------------------------------------------------------------------ invariants

    def check(self) -> list[str]:
        """Read the chain, compare with the previous reading and the step's transactions, and let
        every attacker try every forbidden call in the new state."""
        current = self.read()
        found = self.violations(self.S, current)
        self.S = current
        self.senders, self.events = set(), []
        found += [f"trust model: the {actor} alone could call {label}" for actor, label in self.probe()]
        return found

    def violations(self, prev: dict[Any, Any], cur: dict[Any, Any]) -> list[str]:
        """Every invariant broken between the readings `prev` and `cur`, as "name: detail"."""
        found: list[str] = []
        self._check_escrow(cur, found)
        for inv in self.w.investors:
            self._check_investor(cur, inv, found)
        recovered = self._check_two_keys(found)
        self._check_holders(prev, cur, recovered, found)
        self._check_gains_and_revenue(cur, found)
        self._check_supply(cur, found)
        return found

    def _check_escrow(self, cur: dict[Any, Any], found: list[str]) -> None:
        w, g = self.w, self.ghost
        raised, released, refunded = (cur["round", k] for k in ("totalRaised", "releasedGross", "refundedTotal"))
        escrow = cur["coin", w.round.address]
        if escrow != raised - released - refunded:
            found.append(f"escrow: round holds {escrow} != raised {raised} - released {released} - refunded {refunded}")
        if sum(g.refund.values()) != refunded:
            found.append(f"escrow: refunds paid {dict(g.refund)} != refundedTotal {refunded}")
        to_treasury, fees = cur["round", "releasedToTreasury"], cur["round", "feesPaid"]
        if to_treasury + fees != released or fees * BPS > released * cur["round", "feeBps"]:
            found.append(f"release split: treasury {to_treasury} + fees {fees} vs released {released}")
        if cur["coin", w.treasury] != to_treasury or cur["coin", w.fee_recipient] != fees:
            found.append(
                f"release split: treasury holds {cur['coin', w.treasury]} (released {to_treasury}), "
                f"fee recipient {cur['coin', w.fee_recipient]} (fees {fees})"
            )
        contributions = [cur["contribution", who] for who in w.everyone]
        if sum(contributions) != raised or sum(1 for c in contributions if c) != cur["round", "investorCount"]:
            found.append(
                f"contributions: {contributions} vs raised {raised}, {cur['round', 'investorCount']} investors"
            )
        state = self.state(cur)
        everyone_refunded = cur["round", "refundedCount"] == cur["round", "investorCount"]
        if state == RoundState.CLOSED or (state in (RoundState.FAILED, RoundState.CANCELLED) and everyone_refunded):
            if escrow != 0 or released + refunded != raised:
                found.append(f"settled sums: released {released} + refunded {refunded} vs {raised}, {escrow} left")

    def _check_investor(self, cur: dict[Any, Any], inv: str, found: list[str]) -> None:
        """`inv` ends with its tokens or its money, never both."""
        g, state, sold = self.ghost, self.state(cur), self.sold(cur)
        c, alloc = cur["contribution", inv], cur["tokenAllocation", inv]
        claimed, was_refunded, pending = cur["tokensClaimed", inv], cur["refunded", inv], self.pending(cur, inv)
        can_claim, can_refund = cur["can claimTokens", inv], cur["can claimRefund", inv]
        if c == 0:
            return
        if was_refunded and state in (RoundState.UPCOMING, RoundState.ACTIVE, RoundState.SUCCEEDED, RoundState.CLOSED):
            found.append(f"refund and tokens: {inv} refunded in state {state}")
        if sold:
            if g.delivered[inv] + pending + g.taken_back_undelivered[inv] != alloc:
                found.append(
                    f"refund and tokens: {inv} delivered {g.delivered[inv]} + claimable {pending} + taken back "
                    f"{g.taken_back_undelivered[inv]} != allocation {alloc}"
                )
            if pending and isinstance(can_claim, Reverted):
                found.append(f"tokens or refund: {inv} cannot claim {pending} tokens: {can_claim.error}")
        elif claimed or g.delivered[inv]:
            found.append(f"refund and tokens: {inv} received tokens from an unsold round")
        if state == RoundState.FAILED or (state == RoundState.CANCELLED and not sold):
            if was_refunded and g.refund[inv] != c:
                found.append(f"tokens or refund: {inv} refunded {g.refund[inv]} of {c}")
            if not was_refunded and (cur["refundableOf", inv] != c or isinstance(can_refund, Reverted)):
                found.append(f"tokens or refund: {inv} cannot get its {c} back: {getattr(can_refund, 'error', 'ok')}")
        if state == RoundState.CANCELLED and sold:
            if was_refunded:
                money, kept = g.refund[inv], alloc - g.taken_back[inv]
                if money > c or kept * c + money * alloc > alloc * c:
                    found.append(f"refund and tokens: {inv} refunded {money} of {c}, kept {kept} of {alloc} tokens")
            else:
                back = min(alloc, -(-alloc * cur["refundableOf", inv] // c))
                handed_on = claimed and cur["balance", inv] < back  # sold or recovered what it must return
                if isinstance(can_refund, Reverted) and not handed_on:
                    found.append(f"tokens or refund: {inv} cannot claim its refund: {can_refund.error}")

    def _check_two_keys(self, found: list[str]) -> dict[str, tuple[int, bool]]:
        """Executed recoveries and releases of the step were two-key; returns holder -> (tokens
        recovered, with revenue) of the valid recoveries."""
        w = self.w
        t, r = w.token.functions, w.round.functions
        recovered: dict[str, tuple[int, bool]] = {}
        for name, args, receipt in self.events:
            if name == "RecoveryExecuted":
                holder, rid, approver = args["from"], args["id"], args["approver"]
                request = t.recoveryRequest(rid).call()
                executed_at = self.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
                proposer = request[5]
                if (
                    request[2] != RECOVERY_EXECUTED
                    or request[0] != holder
                    or proposer == approver
                    or not t.hasRole(AGENT, proposer).call()
                    or not t.hasRole(APPROVER, approver).call()
                    or executed_at < request[1]
                ):
                    found.append(f"recovery: {rid} {request} executed by {approver} at {executed_at}")
                    continue
                amount, with_revenue = recovered.get(holder, (0, False))
                recovered[holder] = (amount + request[6], with_revenue or request[3])
            elif name == "MilestoneReleased":
                issuer_side, arbiter_side = r.milestoneApproval(args["index"]).call()
                if (
                    issuer_side == arbiter_side
                    or int(issuer_side, 16) == 0
                    or not r.hasRole(ISSUER, issuer_side).call()
                    or not r.hasRole(ARBITER, arbiter_side).call()
                    or (args["treasury"], args["feeRecipient"]) != (w.treasury, w.fee_recipient)
                    or args["gross"] != args["net"] + args["fee"]
                ):
                    found.append(f"release approvals: {args} approved by {issuer_side} and {arbiter_side}")
        return recovered

    def _check_holders(
        self, prev: dict[Any, Any], cur: dict[Any, Any], recovered: dict[str, tuple[int, bool]], found: list[str]
    ) -> None:
        """Nobody's tokens or revenue go down without their signature or a valid recovery."""
        for h in self.w.holders:
            if h == self.w.round.address or cs(h) in self.senders:
                continue
            (tokens_before, revenue_before), (tokens_after, revenue_after) = (
                self.entitlement(prev, h),
                self.entitlement(cur, h),
            )
            amount, with_revenue = recovered.get(h, (0, False))
            if tokens_before - tokens_after > amount:
                found.append(f"holder decrease: {h} tokens {tokens_before} -> {tokens_after}, by {self.senders}")
            if revenue_after < revenue_before and not with_revenue:
                found.append(f"holder decrease: {h} revenue {revenue_before} -> {revenue_after}, by {self.senders}")

    def _check_gains_and_revenue(self, cur: dict[Any, Any], found: list[str]) -> None:
        """Attackers gain nothing (the creator: its own revenue and stray dust); the pool covers every claim."""
        w, g = self.w, self.ghost
        for who in (w.signer, w.agent, w.arbiter, w.approver, w.platform):
            if cur["coin", who] != self.base[who]:
                found.append(f"attacker gain: {who} holds {cur['coin', who]}, had {self.base[who]}")
        for who in (w.creator, w.accomplice):
            expected = self.base[who] + g.revenue_claimed[who] + g.swept[who]
            if cur["coin", who] != expected:
                found.append(f"attacker gain: {who} holds {cur['coin', who]}, may hold {expected}")
        if sum(g.swept.values()) > g.stray:
            found.append(f"attacker gain: swept {dict(g.swept)} > stray revenue tokens {g.stray}")
        deposited, claimed_total = cur["token", "revenueTotals"]
        owed_total = sum(self.claim_magnified(cur, h) // MAGNITUDE for h in w.holders)
        if not cur["coin", w.token.address] >= deposited - claimed_total >= owed_total:
            found.append(
                f"revenue reserve: token holds {cur['coin', w.token.address]}, deposited {deposited} - claimed "
                f"{claimed_total}, claimable {owed_total}"
            )
        if deposited != g.deposited or claimed_total != sum(g.revenue_claimed.values()):
            found.append(f"revenue reserve: {deposited}/{claimed_total} vs events {g.deposited}/{g.revenue_claimed}")

    def _check_supply(self, cur: dict[Any, Any], found: list[str]) -> None:
        """The supply stays under the cap with the reservation; the round holds the unclaimed allocations."""
        _, reserved = cur["token", "openRound"]
        supply, cap = cur["token", "totalSupply"], cur["token", "cap"]
        if supply + reserved > cap:
            found.append(f"supply: supply {supply} + reserved {reserved} > cap {cap}")
        if cur["token", "roundLink"][0] == ROUND_SOLD:
            unclaimed = sum(self.pending(cur, inv) for inv in self.w.investors)
            if cur["balance", self.w.round.address] != unclaimed:
                found.append(f"supply: round holds {cur['balance', self.w.round.address]} tokens, owes {unclaimed}")

    # ------------------------------------------------------------------ attackers

    def permit_call(self, investor: str, key: bytes) -> Call:
        """invest() under a permit for `investor` signed with `key` (a nonce no real permit uses)."""
        if (investor, key) not in self.permits:
            nonce = 2**255
            signature = sign_investment_permit(
                key,
                chain_id=self.chain_id,
                round_address=self.w.round.address,
                investor=investor,
                max_amount=MIN_INVESTMENT,
                deadline=FAR_DEADLINE,
                nonce=nonce,
            )
            self.permits[investor, key] = self.targets()[0].invest(
                MIN_INVESTMENT, MIN_INVESTMENT, FAR_DEADLINE, nonce, signature
            )
        return self.permits[investor, key]

    def forbidden(self, actor: str) -> list[tuple[str, Call, str]]:
        """(label, call, sender): everything `actor` could try to move funds or roles that its roles
        do not allow, against the investor with the most tokens."""
        w, S = self.w, self.S
        r, t, c, f, reg = self.targets()
        a = w.actor(actor)
        inv = max(w.investors, key=lambda who: S["balance", who])
        amount = max(1, int(S["balance", inv]))
        ms = self.next_milestone()
        reason = Web3.keccak(text="attack")
        calls: list[tuple[str, Call]] = [
            ("round.grantRole(ARBITER)", r.grantRole(ARBITER, a)),
            ("round.grantRole(PLATFORM)", r.grantRole(PLATFORM, a)),
            ("round.grantRole(COMPLIANCE)", r.grantRole(COMPLIANCE, a)),
            ("round.grantRole(ISSUER)", r.grantRole(ISSUER, a)),
            ("round.grantRole(ADMIN)", r.grantRole(ADMIN, a)),
            ("round.revokeRole(ARBITER)", r.revokeRole(ARBITER, w.arbiter)),
            ("round.revokeRole(PLATFORM)", r.revokeRole(PLATFORM, w.platform)),
            ("round.revokeRole(COMPLIANCE)", r.revokeRole(COMPLIANCE, w.platform)),
            ("round.revokeRole(ISSUER of the creator)", r.revokeRole(ISSUER, w.creator)),
            ("round.setComplianceSigner", r.setComplianceSigner(a)),
            ("round.revokePermit", r.revokePermit(inv, 10**9)),
            ("round.approveMilestoneAsIssuer", r.approveMilestoneAsIssuer(ms)),
            ("round.approveMilestoneAsArbiter", r.approveMilestoneAsArbiter(ms)),
            ("round.cancel", r.cancel()),
            ("round.claimRefund", r.claimRefund()),
            ("round.claimTokens", r.claimTokens()),
            ("round.invest(a permit it signed itself)", self.permit_call(a, w.keys[actor])),
            ("round.invest(an investor's permit)", self.permit_call(inv, w.keys["signer"])),
            ("token.grantRole(AGENT)", t.grantRole(AGENT, a)),
            ("token.grantRole(RECOVERY_APPROVER)", t.grantRole(APPROVER, a)),
            ("token.grantRole(PLATFORM)", t.grantRole(PLATFORM, a)),
            ("token.grantRole(ISSUER)", t.grantRole(ISSUER, a)),
            ("token.grantRole(ADMIN)", t.grantRole(ADMIN, a)),
            ("token.grantRole(ISSUER to the agent)", t.grantRole(ISSUER, w.agent)),
            ("token.grantRole(ADMIN to the approver)", t.grantRole(ADMIN, w.approver)),
            ("token.revokeRole(AGENT)", t.revokeRole(AGENT, w.agent)),
            ("token.revokeRole(RECOVERY_APPROVER)", t.revokeRole(APPROVER, w.approver)),
            ("token.revokeRole(PLATFORM)", t.revokeRole(PLATFORM, w.platform)),
            ("token.revokeRole(ISSUER of the creator)", t.revokeRole(ISSUER, w.creator)),
            ("token.mint(itself, 1)", t.mint(a, 1)),
            ("token.mint(beyond the reservation)", t.mint(a, self.mint_room(S) + 1)),
            ("token.burn(holder)", t.burn(inv, amount)),
            ("token.burn(round)", t.burn(w.round.address, 1)),
            ("token.transferFrom(holder)", t.transferFrom(inv, a, amount)),
            ("token.setExcluded(holder)", t.setExcluded(inv, True)),
            ("token.pause", t.pause()),
            ("token.unpause", t.unpause()),
            ("token.proposeRecovery(holder to itself)", t.proposeRecovery(inv, a, amount, True, reason)),
            ("token.attachRound", t.attachRound(w.round.address)),
            ("token.deliverAllocation", t.deliverAllocation(a, 1)),
            ("token.returnAllocation(from the round)", t.returnAllocation(inv, 1, 0)),
            ("token.returnAllocation(from the holder)", t.returnAllocation(inv, 0, 1)),
            ("token.sweepDust(itself)", t.sweepDust(a)),
            ("coin.transferFrom(round)", c.transferFrom(w.round.address, a, 1)),
            ("coin.transferFrom(token)", c.transferFrom(w.token.address, a, 1)),
            ("coin.transferFrom(investor)", c.transferFrom(inv, a, 1)),
            ("factory.grantRole(CREATOR)", f.grantRole(CREATOR, a)),
            ("factory.setPlatformAccounts", f.setPlatformAccounts(a, a, a, a)),
            ("factory.setRecoveryApprover", f.setRecoveryApprover(a)),
            ("registry.setInvestor", reg.setInvestor(a, 2**64 - 1, US, True)),
            ("registry.setFrozen(holder)", reg.setFrozen(inv, True)),
        ]
        for rid in range(1, S["token", "recoveryCount"] + 2):
            calls.append(("token.executeRecovery", t.executeRecovery(rid)))
            calls.append(("token.cancelRecovery", t.cancelRecovery(rid)))
        may = set(MAY[actor])
        if actor == "arbiter" and S["arbiter is issuer"]:
            may.add("round.approveMilestoneAsIssuer")  # the creator made it an issuer too
        if not S["agent is agent"]:
            may.add("token.grantRole(ISSUER to the agent)")  # only a recovery key is off limits
        if not S["approver is approver"]:
            may.add("token.grantRole(ADMIN to the approver)")
        out = [(label, call, a) for label, call in calls if label not in may]
        if actor == "signer":  # a permit for a wallet the registry does not clear
            label = "round.invest(the signer's permit for an unverified wallet)"
            out.append((label, self.permit_call(w.accomplice, w.keys["signer"]), w.accomplice))
        return out

    def probe(self) -> list[tuple[str, str]]:
        """(actor, label) of every forbidden call that did not revert, for every attacker."""
        calls = [
            ((actor, index, label), call, sender)
            for actor in ACTORS
            for index, (label, call, sender) in enumerate(self.forbidden(actor))
        ]
        results = batch_call(self.w3, calls)
        return [(actor, label) for (actor, _, label), result in results.items() if not isinstance(result, Reverted)]


# ------------------------------------------------------------------------------------- the machine


def _state_is(*states: int) -> Callable[[Any], bool]:
    return lambda self: Driver.state(self.d.S) in states


class AttackMachine(RuleBasedStateMachine):
    """Honest parties and single-key attackers in any order; `money_is_safe` after every step."""

    world: World

    def __init__(self) -> None:
        super().__init__()
        self.d = Driver(self.world)
        self.steps = 0
        self.patience = 0  # steps before anyone may cancel (drawn by `fund`)

    def teardown(self) -> None:
        self.d.close()

    @invariant()
    def money_is_safe(self) -> None:
        self.steps += 1
        problems = self.d.check()
        assert not problems, "\n".join(problems)

    # ---------------------------------------------------------------- honest actions

    def _invest(self, i: int, whole: int) -> None:
        d, S = self.d, self.d.read()
        investor, amount = d.w.investors[i], whole * USDC
        room = HARD_CAP - S["round", "totalRaised"]
        accepted = min(amount, room)
        expected = (
            Driver.state(S) == RoundState.ACTIVE
            and not (amount < MIN_INVESTMENT and amount < room)
            and S["contribution", investor] + accepted <= MAX_INVESTMENT
        )
        out = d.invest(i, amount)
        assert out.ok == expected, f"invest {amount} by {investor}: {out.error}"

    @initialize(wholes=st.lists(st.integers(0, 450), min_size=3, max_size=3), patience=st.integers(0, 20))
    def fund(self, wholes: list[int], patience: int) -> None:
        """Most examples start with money in the round; a cancellation waits `patience` steps."""
        self.patience = patience
        for i, whole in enumerate(wholes):
            if whole:
                self._invest(i, whole)

    @precondition(_state_is(RoundState.ACTIVE))
    @rule(i=st.integers(0, 2), whole=st.integers(1, 450))
    def invest(self, i: int, whole: int) -> None:
        self._invest(i, whole)

    @rule(hours=st.sampled_from([1, 12, 30, 49, 31 * 24]))
    def warp(self, hours: int) -> None:
        """Time passes: the window closes after 48.5 h, recoveries wait 48 h, dust sweeps 30 days."""
        self.d.warp(hours * 3_600)

    @precondition(lambda self: self.d.S["token", "totalSupply"] > 0 or self.d.sold(self.d.S))
    @rule(choice=st.sampled_from(["deposit", "deposit", "stray", "sync"]), units=st.integers(1, 300 * USDC))
    def revenue(self, choice: str, units: int) -> None:
        """Revenue is deposited (anyone may), sent to the token without `deposit` (dust the creator may
        sweep), or the round is settled into the token (anyone may)."""
        d = self.d
        if choice == "deposit":
            out = d.deposit(units)
            assert out.ok or out.error == "NoEligibleSupply", out.error
        elif choice == "stray":
            assert d.stray(units).ok
        else:
            assert d.send(d.w.token.functions.syncRound(), d.w.deployer).ok

    @precondition(lambda self: self.d.sold(self.d.S))
    @rule(i=st.integers(0, 2))
    def claim_tokens(self, i: int) -> None:
        d = self.d
        investor = d.w.investors[i]
        expected = d.pending(d.S, investor) > 0
        out = d.send(d.w.round.functions.claimTokens(), investor)
        assert out.ok == expected, f"claimTokens by {investor}: {out.error}"

    @precondition(lambda self: self.d.S["token", "revenueTotals"][0] > 0)
    @rule(h=st.integers(0, 3))
    def claim_revenue(self, h: int) -> None:
        d = self.d
        holder = [*d.w.investors, d.w.replacement][h]
        expected = d.claim_magnified(d.S, holder) // MAGNITUDE > 0
        out = d.send(d.w.token.functions.claim(), holder)
        assert out.ok == expected, f"claim by {holder}: {out.error}"

    @precondition(lambda self: any(self.d.S["balance", inv] for inv in self.d.w.investors))
    @rule(i=st.integers(0, 2), j=st.integers(0, 3), percent=st.integers(1, 100))
    def transfer(self, i: int, j: int, percent: int) -> None:
        d = self.d
        sender, recipient = d.w.investors[i], [*d.w.investors, d.w.replacement][j]
        amount = d.S["balance", sender] * percent // 100
        if amount:
            out = d.send(d.w.token.functions.transfer(recipient, amount), sender)
            assert out.ok != d.S["token", "paused"], f"transfer by {sender}: {out.error}"

    @precondition(_state_is(RoundState.SUCCEEDED))
    @rule(i=st.integers(0, 2))
    def milestone(self, i: int) -> None:
        """The creator and the arbiter approve the next milestone and an investor releases it (the
        creator may have given its role away, the arbiter may have approved already: any outcome)."""
        d, w = self.d, self.d.w
        r, ms = w.round.functions, d.next_milestone()
        d.send(r.approveMilestoneAsIssuer(ms), w.creator)
        d.send(r.approveMilestoneAsArbiter(ms), w.arbiter)
        d.send(r.releaseMilestone(ms), w.investors[i])

    @precondition(_state_is(RoundState.FAILED, RoundState.CANCELLED))
    @rule(i=st.integers(0, 2))
    def refund(self, i: int) -> None:
        d = self.d
        investor = d.w.investors[i]
        expected = not isinstance(d.S["can claimRefund", investor], Reverted)
        out = d.send(d.w.round.functions.claimRefund(), investor)
        assert out.ok == expected, f"claimRefund by {investor}: {out.error}"

    # ---------------------------------------------------------------- attackers (their powers)

    @precondition(
        lambda self: (
            self.steps > self.patience and Driver.state(self.d.S) not in (RoundState.CANCELLED, RoundState.CLOSED)
        )
    )
    @rule(by=st.sampled_from(["creator", "arbiter", "accomplice"]))
    def cancel(self, by: str) -> None:
        """The creator (or a wallet it made an issuer) or the arbiter cancels, whenever it likes."""
        self.d.send(self.d.w.round.functions.cancel(), self.d.w.actor(by))

    @rule(
        choice=st.sampled_from(
            [
                "mint the room",
                "approve the issuer half",
                "accomplice approves the issuer half",
                "release",
                "round issuer to the accomplice",
                "round issuer to the arbiter",
                "round admin to the accomplice",
                "token issuer to the accomplice",
                "revoke its own round issuer role",
                "sweep dust",
                "accomplice sweeps dust",
                "claim revenue",
                "give tokens away",
            ]
        ),
        i=st.integers(0, 2),
    )
    def creator_power(self, choice: str, i: int) -> None:
        d, w = self.d, self.d.w
        r, t = w.round.functions, w.token.functions
        ms = d.next_milestone()
        action: dict[str, tuple[Any, str]] = {
            "mint the room": (t.mint(w.creator, max(1, d.mint_room(d.S))), w.creator),
            "approve the issuer half": (r.approveMilestoneAsIssuer(ms), w.creator),
            "accomplice approves the issuer half": (r.approveMilestoneAsIssuer(ms), w.accomplice),
            "release": (r.releaseMilestone(ms), w.creator),
            "round issuer to the accomplice": (r.grantRole(ISSUER, w.accomplice), w.creator),
            "round issuer to the arbiter": (r.grantRole(ISSUER, w.arbiter), w.creator),
            "round admin to the accomplice": (r.grantRole(ADMIN, w.accomplice), w.creator),
            "token issuer to the accomplice": (t.grantRole(ISSUER, w.accomplice), w.creator),
            "revoke its own round issuer role": (r.revokeRole(ISSUER, w.creator), w.creator),
            "sweep dust": (t.sweepDust(w.creator), w.creator),
            "accomplice sweeps dust": (t.sweepDust(w.accomplice), w.accomplice),
            "claim revenue": (t.claim(), w.creator),
            "give tokens away": (t.transfer(w.investors[i], d.S["balance", w.creator] // 2), w.creator),
        }
        d.send(*action[choice])

    @rule(
        choice=st.sampled_from(["pause", "unpause", "propose", "propose", "cancel a recovery"]),
        h=st.integers(0, 3),
        j=st.integers(0, 3),
        percent=st.integers(0, 100),
        with_revenue=st.booleans(),
    )
    def agent_power(self, choice: str, h: int, j: int, percent: int, with_revenue: bool) -> None:
        """Pause, or propose moving any holder's tokens (and revenue) to another cleared wallet."""
        d, w = self.d, self.d.w
        t = w.token.functions
        holder, to = [*w.investors, w.creator][h], [*w.investors, w.replacement][j]
        amount = d.S["balance", holder] * percent // 100
        calls = {
            "pause": t.pause(),
            "unpause": t.unpause(),
            "propose": t.proposeRecovery(holder, to, amount, with_revenue, Web3.keccak(text="LOST_KEYS")),
            "cancel a recovery": t.cancelRecovery(max(1, d.S["token", "recoveryCount"] - j)),
        }
        d.send(calls[choice], w.agent)

    @precondition(_state_is(RoundState.SUCCEEDED))
    @rule(choice=st.sampled_from(["approve the arbiter half", "approve the issuer half", "release"]))
    def arbiter_power(self, choice: str) -> None:
        d, w = self.d, self.d.w
        r, ms = w.round.functions, d.next_milestone()
        calls = {
            "approve the arbiter half": r.approveMilestoneAsArbiter(ms),
            "approve the issuer half": r.approveMilestoneAsIssuer(ms),
            "release": r.releaseMilestone(ms),
        }
        d.send(calls[choice], w.arbiter)

    @precondition(lambda self: self.d.S["token", "recoveryCount"] > 0)
    @rule(choice=st.sampled_from(["execute", "wait and execute", "cancel"]), back=st.integers(0, 3))
    def approver_power(self, choice: str, back: int) -> None:
        """Execute any recovery (its documented power once the delay is over: it may wait for it),
        or cancel one."""
        d, w = self.d, self.d.w
        t = w.token.functions
        rid = max(1, d.S["token", "recoveryCount"] - back)
        if choice == "cancel":
            d.send(t.cancelRecovery(rid), w.approver)
            return
        if choice == "wait and execute":
            d.warp(max(0, t.recoveryRequest(rid).call()[1] - now(d.w3)))
        d.send(t.executeRecovery(rid), w.approver)


def test_money_invariants_hold_whatever_honest_parties_and_single_attackers_do(
    invariant_world: World, w3: Web3
) -> None:
    machine = type("Machine", (AttackMachine,), {"world": invariant_world})
    run_state_machine_as_test(machine, settings=SETTINGS)


# ------------------------------------------------------------------ each invariant can fail


@pytest.fixture()
def driver(invariant_world: World, w3: Web3) -> Iterator[Driver]:
    d = Driver(invariant_world)
    try:
        yield d
    finally:
        d.close()


def as_contract(w3: Web3, address: str) -> str:
    """Let a test send transactions from a contract's address (a manual violation)."""
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [address, hex(10**18)])  # type: ignore[arg-type]
    return address


def poke(w3: Web3, address: str, slot: int, value: int) -> None:
    w3.provider.make_request(  # type: ignore[arg-type]
        "anvil_setStorageAt", [address, "0x" + slot.to_bytes(32, "big").hex(), "0x" + value.to_bytes(32, "big").hex()]
    )


def mapping_slot(key: str | int, position: int) -> int:
    encoded_key = int(key, 16) if isinstance(key, str) else key
    return int.from_bytes(Web3.keccak(encoded_key.to_bytes(32, "big") + position.to_bytes(32, "big")), "big")


def round_mapping_slot(w3: Web3, round_address: str, key: str | int, value: int) -> int:
    """Where the round stores `mapping[key] == value` (found by value; FundingRound keeps its own
    variables unstructured, so the mapping's position is small)."""
    for position in range(64):
        slot = mapping_slot(key, position)
        if int.from_bytes(w3.eth.get_storage_at(round_address, slot), "big") == value:
            return slot
    raise AssertionError(f"no round mapping holds {value} for {key}")


def flagged(found: list[str], name: str) -> bool:
    return any(v.startswith(name + ":") for v in found)


def _succeed(d: Driver) -> None:
    """Investors 0 and 1 fill the hard cap (600 + 400): the round succeeds."""
    assert d.invest(0, 600 * USDC).ok and d.invest(1, 400 * USDC).ok
    assert Driver.state(d.read()) == RoundState.SUCCEEDED


def _fail_round(d: Driver) -> None:
    """Investors 0 and 1 invest below the soft cap and the window closes: the round fails."""
    assert d.invest(0, 100 * USDC).ok and d.invest(1, 50 * USDC).ok
    d.warp(WINDOW_S)
    assert Driver.state(d.read()) == RoundState.FAILED


def test_escrow_and_release_split_catch_money_leaving_the_round_outside_a_release(driver: Driver) -> None:
    d, w = driver, driver.w
    _succeed(d)
    assert d.check() == []
    round_ = as_contract(d.w3, w.round.address)
    transact(w.coin.functions.transfer(w.deployer, 1), round_)
    assert flagged(d.check(), "escrow")
    transact(w.coin.functions.transfer(w.treasury, 1), round_)
    assert flagged(d.check(), "release split")


def test_contributions_catch_a_contribution_the_round_did_not_receive(driver: Driver) -> None:
    d, w = driver, driver.w
    _succeed(d)
    investor = w.investors[0]
    slot = round_mapping_slot(d.w3, w.round.address, investor, 600 * USDC)
    assert d.check() == []
    poke(d.w3, w.round.address, slot, 600 * USDC + 1)
    assert w.round.functions.contributionOf(investor).call() == 600 * USDC + 1
    assert flagged(d.check(), "contributions")


def test_settled_sums_and_tokens_or_refund_catch_a_round_that_cannot_pay_back(driver: Driver) -> None:
    d, w = driver, driver.w
    _fail_round(d)
    assert d.send(w.round.functions.claimRefund(), w.investors[0]).ok
    assert d.check() == []
    # the escrow is drained: the second investor can no longer get its money
    transact(w.coin.functions.transfer(w.deployer, 50 * USDC), as_contract(d.w3, w.round.address))
    found = d.check()
    assert flagged(found, "tokens or refund") and flagged(found, "escrow")
    # once everybody is refunded, anything left in the round is a settlement error
    transact(w.coin.functions.transfer(w.round.address, 50 * USDC), w.deployer)
    assert d.send(w.round.functions.claimRefund(), w.investors[1]).ok
    assert d.check() == []
    transact(w.coin.functions.transfer(w.round.address, 1), w.deployer)
    assert flagged(d.check(), "settled sums")


def test_refund_and_tokens_catches_an_investor_keeping_both(driver: Driver) -> None:
    d, w = driver, driver.w
    _succeed(d)
    assert d.send(w.round.functions.cancel(), w.arbiter).ok
    investor = w.investors[0]
    assert d.send(w.round.functions.claimRefund(), investor).ok  # before claiming: the round takes it all back
    returned = w.round.functions.allocationReturned(investor).call()
    assert returned == 600 * TOKEN
    assert d.check() == []
    poke(d.w3, w.round.address, round_mapping_slot(d.w3, w.round.address, investor, returned), 0)
    assert flagged(d.check(), "refund and tokens")


def test_holder_decrease_and_recovery_catch_tokens_moved_without_the_holders_signature(driver: Driver) -> None:
    d, w = driver, driver.w
    t = w.token.functions
    _succeed(d)
    investor = w.investors[0]
    assert d.send(w.round.functions.claimTokens(), investor).ok
    assert d.deposit(100 * USDC).ok
    assert d.check() == []
    # a two-key recovery after the delay is the documented exception…
    assert d.send(t.proposeRecovery(investor, w.replacement, 100 * TOKEN, True, bytes(32)), w.agent).ok
    d.warp(2 * DAY)
    assert d.send(t.executeRecovery(1), w.approver).ok
    assert d.check() == []
    # …one whose proposer is its executor is not
    assert d.send(t.proposeRecovery(investor, w.replacement, 100 * TOKEN, False, bytes(32)), w.agent).ok
    d.warp(2 * DAY)
    assert d.check() == []
    assert d.send(t.executeRecovery(2), w.approver).ok
    request_slot = mapping_slot(2, TOKEN_STORAGE + 19)
    poke(d.w3, w.token.address, request_slot + 2, int(w.approver, 16))  # RecoveryRequest.proposer
    assert t.recoveryRequest(2).call()[5] == w.approver
    found = d.check()
    assert flagged(found, "recovery") and flagged(found, "holder decrease")
    # and a balance, or claimable revenue, that drops in a step the holder did not sign is flagged
    balance = t.balanceOf(investor).call()
    poke(d.w3, w.token.address, mapping_slot(investor, ERC20_STORAGE), balance - 1)
    assert t.balanceOf(investor).call() == balance - 1
    assert flagged(d.check(), "holder decrease")
    assert d.deposit(100 * USDC).ok
    assert d.check() == []
    claimable = t.claimable(investor).call()
    account_slot = mapping_slot(investor, TOKEN_STORAGE + 13)  # Account{int248 correction; bool excluded}
    word = int.from_bytes(d.w3.eth.get_storage_at(w.token.address, account_slot), "big")
    low = (1 << 248) - 1
    correction = (word & low) - ((word & (1 << 247)) << 1)  # int248, two's complement
    poke(d.w3, w.token.address, account_slot, (word & ~low) | ((correction - MAGNITUDE) & low))
    assert t.claimable(investor).call() == claimable - 1
    assert flagged(d.check(), "holder decrease")


def test_trust_model_catches_a_key_holding_more_than_its_role(driver: Driver) -> None:
    d, w = driver, driver.w
    assert d.check() == []
    transact(w.round.functions.grantRole(ARBITER, w.signer), w.platform)  # a role the signer must not have
    assert "trust model: the signer alone could call round.cancel" in d.check()


def test_release_approvals_catch_a_release_without_two_different_approvers(driver: Driver) -> None:
    d, w = driver, driver.w
    r = w.round.functions
    _succeed(d)
    assert d.send(r.approveMilestoneAsIssuer(0), w.creator).ok
    assert d.send(r.approveMilestoneAsArbiter(0), w.arbiter).ok
    assert d.check() == []
    assert d.send(r.releaseMilestone(0), w.deployer).ok
    issuer_slot = round_mapping_slot(d.w3, w.round.address, 0, int(w.creator, 16))
    poke(d.w3, w.round.address, issuer_slot, int(w.arbiter, 16))  # as if the arbiter had approved both halves
    assert tuple(r.milestoneApproval(0).call()) == (w.arbiter, w.arbiter)
    assert flagged(d.check(), "release approvals")


def test_attacker_gain_catches_a_platform_key_receiving_money(driver: Driver) -> None:
    d, w = driver, driver.w
    assert d.check() == []
    transact(w.coin.functions.mint(w.signer, 1), w.deployer)
    assert flagged(d.check(), "attacker gain")


def test_revenue_reserve_catches_revenue_leaving_the_token(driver: Driver) -> None:
    d, w = driver, driver.w
    _succeed(d)
    assert d.deposit(100 * USDC).ok
    assert d.check() == []
    transact(w.coin.functions.transfer(w.deployer, 1), as_contract(d.w3, w.token.address))
    assert flagged(d.check(), "revenue reserve")


def test_supply_catches_a_mint_into_the_reservation(driver: Driver) -> None:
    d, w = driver, driver.w
    assert d.check() == []
    supply = w.token.functions.totalSupply().call()
    poke(d.w3, w.token.address, TOKEN_STORAGE + 1, supply + 999 * TOKEN)  # the cap, one token short
    assert w.token.functions.cap().call() == supply + 999 * TOKEN
    assert flagged(d.check(), "supply")
