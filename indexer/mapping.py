"""THE one place where chain events become ledger entries.

Each mapped event has one pure function `(ChainEvent, ContractInfo) -> list[EntryRequest]`
in `MAPPINGS`, with a one-line description of its legs that `render_mapping_markdown()`
turns into indexer/MAPPING.md (a test keeps the file equal to the code). Events of
followed contracts that move no value are listed in `NO_LEDGER_EFFECT` with the reason, those
recorded outside the ledger (anchors) in `RECORDED_EVENTS`;
contracts not mirrored yet are in `NOT_YET_MAPPED`, so the table is complete and honest.

Conventions (addresses lower-case hex, `<chain>` = chain id):
- portfolio token asset `PTK:<chain>:<token>` (scale 18); ERC-20s held by Kogi contracts
  `ERC20:<chain>:<address>` (scale = decimals()); native coin `ETH:<chain>` (scale 18).
- Stablecoins are mirrored only where they touch a Kogi contract; the outside side is
  `external:<chain>:world` (the counterparty address is in the entry's metadata).
- Idempotency key = external reference = `<chain>:<tx hash>:<log index>[.<n>]@<block hash[2:14]>`
  (plus `~<g>` when a block comes back after its entries were reversed: see indexer.follower).
  The block-hash suffix is there because the ledger keeps external references unique: after
  a reorg, the SAME transaction re-included in another block must post a NEW entry (the old
  one was reversed), while a re-run over the same block replays the same key (exactly once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger import EntryRequest, Leg, Side, transfer_legs
from ledger.chart import (  # the chart of accounts spells every code (and the indexer's tests import them here)
    FEES_ACCOUNT,
    erc20_asset,
    escrow_account,
    holder_account,
    mint_account,
    native_asset,
    pool_account,
    rights_asset,
    splitter_account,
    token_asset,
    treasury_account,
    world_account,
)

ZERO_ADDRESS = "0x" + "00" * 20
MAX_MESSAGE_CHARS = 1_000
"""Donation messages are copied into metadata up to this length (ledger metadata is bounded)."""


@dataclass(frozen=True)
class ChainEvent:
    """One decoded log with its position on the chain."""

    chain_id: int
    address: str
    contract_kind: str
    name: str
    args: Mapping[str, Any]
    block_number: int
    block_hash: str
    block_timestamp_s: int
    tx_hash: str
    log_index: int

    @property
    def ref(self) -> str:
        return f"{self.chain_id}:{self.tx_hash}:{self.log_index}"


@dataclass(frozen=True)
class ContractInfo:
    """What the indexer knows about the emitting contract (from discovery)."""

    chain_id: int
    address: str
    kind: str
    portfolio_id: int | None = None
    asset_address: str | None = None
    """The ERC-20 it holds for Kogi: a round's stablecoin, a token's revenue token."""


# ---------------------------------------------------------------------------- helpers


def _entry(
    event: ChainEvent, kind: str, legs: tuple[Leg, ...], extra: dict[str, Any], suffix: str = ""
) -> EntryRequest:
    key = f"{event.ref}{suffix}@{event.block_hash[2:14]}"
    metadata = {
        "chain_id": event.chain_id,
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        "contract": event.address,
        "event": f"{event.contract_kind}.{event.name}",
        **extra,
    }
    return EntryRequest(
        idempotency_key=key,
        kind=kind,
        legs=legs,
        external_ref=key,
        metadata=metadata,
        effective_at=datetime.fromtimestamp(event.block_timestamp_s, tz=UTC),
    )


def _addr(value: Any) -> str:
    return str(value).lower()


def _held_asset(event: ChainEvent, contract: ContractInfo) -> str:
    if contract.asset_address is None or contract.asset_address == ZERO_ADDRESS:
        raise ValueError(f"{contract.kind} {contract.address} holds no ERC-20 but emitted {event.name}")
    return erc20_asset(event.chain_id, contract.asset_address)


# --------------------------------------------------------------------------- mappings


def map_token_transfer(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """Mint: mint account → holder; burn: holder → mint account; otherwise holder → holder."""
    chain, value = event.chain_id, int(event.args["value"])
    sender, receiver = _addr(event.args["from"]), _addr(event.args["to"])
    if value == 0 or sender == receiver:
        return []  # no value moves: nothing to mirror (the ledger refuses zero amounts)
    extra = {"from": sender, "to": receiver}
    return [_units_entry(event, token_asset(chain, event.address), sender, receiver, value, "", extra)]


def _units_entry(
    event: ChainEvent, asset: str, sender: str, receiver: str, value: int, suffix: str, extra: dict[str, Any]
) -> EntryRequest:
    """Mint / burn / transfer of `value` units between holders (mint account for the zero address)."""
    chain = event.chain_id
    if sender == ZERO_ADDRESS:
        return _entry(
            event,
            "mint",
            transfer_legs(mint_account(chain), holder_account(chain, receiver), asset, value),
            extra,
            suffix,
        )
    if receiver == ZERO_ADDRESS:
        return _entry(
            event,
            "burn",
            transfer_legs(holder_account(chain, sender), mint_account(chain), asset, value),
            extra,
            suffix,
        )
    return _entry(
        event,
        "transfer",
        transfer_legs(holder_account(chain, sender), holder_account(chain, receiver), asset, value),
        extra,
        suffix,
    )


def map_rights_transfer_single(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    sender, receiver = _addr(event.args["from"]), _addr(event.args["to"])
    right_id, value = int(event.args["id"]), int(event.args["value"])
    if value == 0 or sender == receiver:
        return []
    extra = {"from": sender, "to": receiver, "right_id": str(right_id)}
    asset = rights_asset(event.chain_id, event.address, right_id)
    return [_units_entry(event, asset, sender, receiver, value, "", extra)]


def map_rights_transfer_batch(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """One entry per id of the batch (key suffix `.<position>`), so each asset balances on its own."""
    sender, receiver = _addr(event.args["from"]), _addr(event.args["to"])
    if sender == receiver:
        return []
    entries = []
    for position, (right_id, value) in enumerate(zip(event.args["ids"], event.args["values"], strict=True)):
        if int(value) == 0:
            continue
        extra = {"from": sender, "to": receiver, "right_id": str(int(right_id))}
        entries.append(
            _units_entry(
                event,
                rights_asset(event.chain_id, event.address, int(right_id)),
                sender,
                receiver,
                int(value),
                f".{position}",
                extra,
            )
        )
    return entries


def map_revenue_deposited(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    amount = int(event.args["amountCredited"])
    if amount == 0:
        return []
    legs = transfer_legs(
        world_account(event.chain_id), pool_account(event.chain_id, event.address), _held_asset(event, contract), amount
    )
    return [_entry(event, "distribution", legs, {"depositor": _addr(event.args["depositor"])})]


def map_revenue_claimed(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    amount = int(event.args["amount"])
    if amount == 0:
        return []
    legs = transfer_legs(
        pool_account(event.chain_id, event.address), world_account(event.chain_id), _held_asset(event, contract), amount
    )
    return [_entry(event, "claim", legs, {"holder": _addr(event.args["holder"])})]


def map_dust_swept(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    amount = int(event.args["amount"])
    if amount == 0:
        return []
    legs = transfer_legs(
        pool_account(event.chain_id, event.address), world_account(event.chain_id), _held_asset(event, contract), amount
    )
    return [_entry(event, "dust_sweep", legs, {"to": _addr(event.args["to"])})]


def map_invested(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    amount = int(event.args["amount"])
    if amount == 0:
        return []
    legs = transfer_legs(
        world_account(event.chain_id),
        escrow_account(event.chain_id, event.address),
        _held_asset(event, contract),
        amount,
    )
    return [
        _entry(
            event,
            "investment",
            legs,
            {"investor": _addr(event.args["investor"]), "portfolio_id": contract.portfolio_id},
        )
    ]


def map_refunded(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    amount = int(event.args["amount"])
    if amount == 0:
        return []
    legs = transfer_legs(
        escrow_account(event.chain_id, event.address),
        world_account(event.chain_id),
        _held_asset(event, contract),
        amount,
    )
    return [_entry(event, "refund", legs, {"investor": _addr(event.args["investor"])})]


def map_milestone_released(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """gross leaves escrow: net to the portfolio treasury, fee to platform fees (one entry)."""
    gross, net, fee = int(event.args["gross"]), int(event.args["net"]), int(event.args["fee"])
    if gross == 0:
        return []
    if contract.portfolio_id is None:
        raise ValueError(f"round {contract.address} has no portfolio id: cannot name its treasury")
    if gross != net + fee:
        raise ValueError(f"MilestoneReleased gross {gross} != net {net} + fee {fee}")
    asset = _held_asset(event, contract)
    legs = [Leg(escrow_account(event.chain_id, event.address), asset, Side.DEBIT, gross)]
    if net:
        legs.append(Leg(treasury_account(event.chain_id, contract.portfolio_id), asset, Side.CREDIT, net))
    if fee:
        legs.append(Leg(FEES_ACCOUNT, asset, Side.CREDIT, fee))
    return [
        _entry(
            event,
            "milestone_release",
            tuple(legs),
            {
                "milestone": int(event.args["index"]),
                "treasury": _addr(event.args["treasury"]),
                "fee_recipient": _addr(event.args["feeRecipient"]),
                "portfolio_id": contract.portfolio_id,
            },
        )
    ]


DONATION_KINDS = {0: "donation", 1: "tip", 2: "gift"}


def map_donated(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """The router forwards at once: world → treasury (net) and → platform fees (fee)."""
    gross, net, fee = int(event.args["gross"]), int(event.args["net"]), int(event.args["fee"])
    if gross == 0:
        return []
    if gross != net + fee:
        raise ValueError(f"Donated gross {gross} != net {net} + fee {fee}")
    token = _addr(event.args["token"])
    asset = native_asset(event.chain_id) if token == ZERO_ADDRESS else erc20_asset(event.chain_id, token)
    portfolio_id = int(event.args["portfolioId"])
    legs = [Leg(world_account(event.chain_id), asset, Side.DEBIT, gross)]
    if net:
        legs.append(Leg(treasury_account(event.chain_id, portfolio_id), asset, Side.CREDIT, net))
    if fee:
        legs.append(Leg(FEES_ACCOUNT, asset, Side.CREDIT, fee))
    anonymous = bool(event.args["isAnonymous"])
    return [
        _entry(
            event,
            "donation",
            tuple(legs),
            {
                "donation_kind": DONATION_KINDS.get(int(event.args["kind"]), str(event.args["kind"])),
                "donor": None if anonymous else _addr(event.args["donor"]),
                "anonymous": anonymous,
                "message": str(event.args["message"])[:MAX_MESSAGE_CHARS],
                "portfolio_id": portfolio_id,
            },
        )
    ]


SPLITTER_TOKEN_TRANSFER = "ERC20Transfer"
"""Event name given to an ERC-20's own `Transfer(from, to = splitter, value)` log: the follower
fetches it from the token (not a Kogi contract) and hands it over as an event OF THE SPLITTER
(ChainEvent.address = the splitter, args: token, from, to, value), because plain transfers into
a splitter leave no splitter log at all."""


def _token_or_eth(chain_id: int, token: Any) -> str:
    """The splitter's convention: token address zero stands for ETH."""
    address = _addr(token)
    return native_asset(chain_id) if address == ZERO_ADDRESS else erc20_asset(chain_id, address)


def map_splitter_token_transfer(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """ERC-20 into the splitter, whether by deposit() or by a plain transfer: world → pool.
    Mirroring the token's Transfer (not PaymentReceived) is what keeps the pool equal to
    balanceOf(splitter); the sender is kept in metadata."""
    value = int(event.args["value"])
    if value == 0:
        return []
    token = _addr(event.args["token"])
    legs = transfer_legs(
        world_account(event.chain_id),
        splitter_account(event.chain_id, event.address),
        erc20_asset(event.chain_id, token),
        value,
    )
    return [_entry(event, "split_receipt", legs, {"from": _addr(event.args["from"]), "token": token})]


def map_payment_received(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """ETH through receive() (token = 0): world → pool. For an ERC-20 (deposit()) the token's
    own Transfer into the splitter already records the money, so this maps to nothing."""
    amount = int(event.args["amount"])
    if _addr(event.args["token"]) != ZERO_ADDRESS or amount == 0:
        return []
    legs = transfer_legs(
        world_account(event.chain_id),
        splitter_account(event.chain_id, event.address),
        native_asset(event.chain_id),
        amount,
    )
    return [_entry(event, "split_receipt", legs, {"from": _addr(event.args["from"]), "token": ZERO_ADDRESS})]


def map_payment_released(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    """A payee's pull, ETH or ERC-20: pool → world (the only way money leaves a splitter)."""
    amount = int(event.args["amount"])
    if amount == 0:
        return []
    legs = transfer_legs(
        splitter_account(event.chain_id, event.address),
        world_account(event.chain_id),
        _token_or_eth(event.chain_id, event.args["token"]),
        amount,
    )
    return [
        _entry(
            event,
            "split_release",
            legs,
            {
                "payee": _addr(event.args["payee"]),
                "by": _addr(event.args["by"]),
                "token": _addr(event.args["token"]),
            },
        )
    ]


Handler = Callable[[ChainEvent, ContractInfo], list[EntryRequest]]


@dataclass(frozen=True)
class EventMapping:
    contract_kind: str
    event: str
    entry_kind: str
    legs: str
    """Human description of the legs, for MAPPING.md."""
    handler: Handler = field(repr=False)


MAPPINGS: tuple[EventMapping, ...] = (
    EventMapping(
        "token",
        "Transfer",
        "mint",
        "from = 0: `chain:<chain>:mint` → `holder:<chain>:<to>` in `PTK:<chain>:<token>` (round token claims too)",
        map_token_transfer,
    ),
    EventMapping(
        "token",
        "Transfer",
        "burn",
        "to = 0: `holder:<chain>:<from>` → `chain:<chain>:mint` in `PTK:<chain>:<token>`",
        map_token_transfer,
    ),
    EventMapping(
        "token",
        "Transfer",
        "transfer",
        "`holder:<chain>:<from>` → `holder:<chain>:<to>` in `PTK:<chain>:<token>` (forced transfers too)",
        map_token_transfer,
    ),
    EventMapping(
        "token",
        "RevenueDeposited",
        "distribution",
        "`external:<chain>:world` → `distribution:<chain>:<token>:pool`, amountCredited in the revenue token",
        map_revenue_deposited,
    ),
    EventMapping(
        "token",
        "RevenueClaimed",
        "claim",
        "`distribution:<chain>:<token>:pool` → `external:<chain>:world` (holder in metadata)",
        map_revenue_claimed,
    ),
    EventMapping(
        "token",
        "DustSwept",
        "dust_sweep",
        "`distribution:<chain>:<token>:pool` → `external:<chain>:world` (recipient in metadata)",
        map_dust_swept,
    ),
    EventMapping(
        "round",
        "Invested",
        "investment",
        "`external:<chain>:world` → `round:<chain>:<round>:escrow` in the round's stablecoin",
        map_invested,
    ),
    EventMapping(
        "round",
        "Refunded",
        "refund",
        "`round:<chain>:<round>:escrow` → `external:<chain>:world`",
        map_refunded,
    ),
    EventMapping(
        "round",
        "MilestoneReleased",
        "milestone_release",
        "`round:<chain>:<round>:escrow` (gross) → `portfolio:<chain>:<pid>:treasury` (net) + `platform:fees` (fee)",
        map_milestone_released,
    ),
    EventMapping(
        "rights_token",
        "TransferSingle",
        "mint/burn/transfer",
        "like the token's Transfer, in `RGT:<chain>:<rights token>:<hex id>` (scale 0)",
        map_rights_transfer_single,
    ),
    EventMapping(
        "rights_token",
        "TransferBatch",
        "mint/burn/transfer",
        "one entry per id (key suffix `.<position>`), as TransferSingle",
        map_rights_transfer_batch,
    ),
    EventMapping(
        "splitter",
        SPLITTER_TOKEN_TRANSFER,
        "split_receipt",
        "the ERC-20's own `Transfer(from, to = splitter, value)` log of a watched token (deposit() and plain "
        "transfers alike; see below): `external:<chain>:world` → `splitter:<chain>:<splitter>:pool` in "
        "`ERC20:<chain>:<token>` (from, token in metadata)",
        map_splitter_token_transfer,
    ),
    EventMapping(
        "splitter",
        "PaymentReceived",
        "split_receipt",
        "token = 0 (ETH through receive()): `external:<chain>:world` → `splitter:<chain>:<splitter>:pool` in "
        "`ETH:<chain>` (from in metadata)",
        map_payment_received,
    ),
    EventMapping(
        "splitter",
        "PaymentReleased",
        "split_release",
        "`splitter:<chain>:<splitter>:pool` → `external:<chain>:world` in `ERC20:<chain>:<token>` or `ETH:<chain>` "
        "(payee, by in metadata)",
        map_payment_released,
    ),
    EventMapping(
        "donation_router",
        "Donated",
        "donation",
        "`external:<chain>:world` (gross) → `portfolio:<chain>:<pid>:treasury` (net) + `platform:fees` (fee) in "
        "`ERC20:<chain>:<token>` or `ETH:<chain>`; kind donation/tip/gift, message, anonymity in metadata",
        map_donated,
    ),
)

HANDLERS: dict[tuple[str, str], Handler] = {(m.contract_kind, m.event): m.handler for m in MAPPINGS}

DISCOVERY_EVENTS: dict[tuple[str, str], str] = {
    ("factory", "PortfolioCreated"): "registers the portfolio's token, round, splitter and rights token for following",
}

NO_LEDGER_EFFECT: dict[tuple[str, str], str] = {
    ("token", "ForcedTransfer"): "the token emits a Transfer with the same parties and amount",
    ("token", "ClaimableMoved"): "re-assigns claimable revenue inside the pool; the pool's holdings do not change",
    ("token", "ExclusionSet"): "accrual bookkeeping only",
    ("token", "RecoveryProposed"): "a pending recovery request (two keys and a delay); nothing moves yet",
    ("token", "RecoveryExecuted"): "the executed move emits ForcedTransfer + Transfer (and ClaimableMoved)",
    ("token", "RecoveryCancelled"): "a pending recovery request withdrawn; nothing moves",
    ("token", "RoundAttached"): "cap reservation for the round's allocations; no token exists yet",
    ("token", "RoundAllocationMinted"): "the mint Transfer (0 → round) records the sold allocation",
    ("token", "RoundReservationReleased"): "the failed round's cap reservation ends; nothing was minted",
    ("token", "AllocationReturned"): "the burn Transfers record the returned tokens; accrued revenue stays claimable",
    ("round", "TokensClaimed"): "the token's Transfer (round → investor) records the delivered allocation",
    ("round", "AllocationTakenBack"): "the token's burn Transfer records the allocation a refund took back",
    ("round", "RoundInitialized"): "configuration; the indexer reads the stablecoin at discovery",
    ("round", "RoundFinalized"): "outcome marker; money moves with Refunded / MilestoneReleased",
    ("round", "RoundCancelled"): "state change; refunds move money",
    ("round", "MilestoneApproved"): "approval only",
    ("rights_token", "RightCreated"): "licence terms of a new id; units appear with its mint",
    ("rights_token", "URI"): "metadata",
    ("rights_token", "DefaultRoyaltySet"): "configuration",
    ("rights_token", "TokenRoyaltySet"): "configuration",
    ("rights_token", "ComplianceRegistryChanged"): "configuration",
    ("splitter", "PaymentReceived"): "token ≠ 0 (deposit()): the token's Transfer into the splitter records it",
    ("splitter", "SplitterInitialized"): "configuration (payees and shares, fixed forever)",
    ("donation_router", "PortfolioRegistered"): "configuration",
    ("donation_router", "TreasuryChanged"): "configuration",
    ("donation_router", "CurrencyChanged"): "configuration (which currencies may be donated, minimum fee)",
    ("factory", "RecoveryApproverSet"): "configuration (the recovery approver of future portfolios)",
}

RECORDED_EVENTS: dict[tuple[str, str], str] = {
    (
        "anchor",
        "LedgerAnchored",
    ): "recorded in indexer_anchors; `kogi indexer anchors` verifies the root against the journal",
}
"""Fetched events that make no ledger entry but are kept elsewhere (see indexer.anchors)."""

NOT_YET_MAPPED: dict[str, str] = {}


FOREIGN_EVENTS: frozenset[tuple[str, str]] = frozenset({("splitter", SPLITTER_TOKEN_TRANSFER)})
"""Mapped events that another contract emits (an ERC-20) on behalf of a followed contract: not in
the followed contract's ABI, fetched and decoded separately (indexer.follower, indexer.decode)."""

SPLITTER_NOTES = (
    "## PayoutSplitter: what is watched, and the limits",
    "",
    "- ERC-20 money enters a splitter by `deposit()` (a `PaymentReceived` plus the token's `Transfer`) or by a",
    "  plain `transfer` (the token's `Transfer` only), so the token's `Transfer(to = splitter)` is what is",
    "  mirrored; one `eth_getLogs` per step asks the watched tokens for `Transfer` with topic2 = a followed",
    "  splitter (no call when no splitter is followed).",
    "- Watched tokens: every ERC-20 the indexer knows for Kogi contracts (rounds' stablecoins, tokens' revenue",
    "  tokens), every `ERC20:<chain>:*` asset already in the ledger, and any token named by a splitter's",
    "  `PaymentReceived` / `PaymentReleased` in the same step (so a `deposit()` of a new token is caught in",
    "  its own block). Limit: a plain transfer of a token that is none of these, before the first",
    "  `deposit()` or `release()` names it, is not mirrored; `kogi reconcile` then shows the difference on",
    "  the splitter's pool.",
    "- ETH: `receive()` emits `PaymentReceived(token = 0)` for every plain send and call with value, so ETH",
    "  is mirrored from it. Limit: ETH that arrives without running code (a `selfdestruct` beneficiary, a",
    "  block reward or withdrawal to the address) leaves no log and is not mirrored; reconcile shows it.",
    "- Money leaves only through `release()` (`PaymentReleased`, emitted for ETH and ERC-20 alike).",
    "  `splitter:*` accounts allow overdraft (ledger.chart): a release of money that arrived unseen must",
    "  still post (the chain allowed it); the pool then goes below the chain and reconcile shows the gap.",
    "- Portfolio tokens held by a splitter are mirrored by their own `Transfer` (`holder:<chain>:<splitter>`);",
    "  the splitter's events about them are not mapped a second time.",
    "",
)


def followed_events() -> set[tuple[str, str]]:
    """(contract kind, event) pairs the follower fetches from the followed contracts themselves
    (FOREIGN_EVENTS are emitted by other contracts and fetched on their own)."""
    return (set(HANDLERS) | set(DISCOVERY_EVENTS) | set(RECORDED_EVENTS)) - FOREIGN_EVENTS


def entries_for(event: ChainEvent, contract: ContractInfo) -> list[EntryRequest]:
    handler = HANDLERS.get((event.contract_kind, event.name))
    return handler(event, contract) if handler is not None else []


def render_mapping_markdown() -> str:
    """The Markdown of indexer/MAPPING.md, generated from the tables above."""
    lines = [
        "# Chain events → ledger entries",
        "",
        "Generated from `indexer/mapping.py` by `python -m indexer.mapping > indexer/MAPPING.md`;",
        "`tests/indexer/test_mapping.py` fails when the two differ.",
        "",
        "Idempotency key = external reference = `<chain>:<tx hash>:<log index>[.<n>]@<block hash[2:14]>`",
        "(the block-hash part lets a transaction re-included by a reorg post anew after its old entry",
        "was reversed). Stablecoins are mirrored only where they touch Kogi contracts; the outside",
        "side is `external:<chain>:world`. Effective time = block timestamp.",
        "",
        "| Contract | Event | Entry kind | Legs (debit → credit) |",
        "|---|---|---|---|",
    ]
    for m in MAPPINGS:
        lines.append(f"| {m.contract_kind} | {m.event} | `{m.entry_kind}` | {m.legs} |")
    lines += ["", "## Discovery", "", "| Contract | Event | Effect |", "|---|---|---|"]
    for (kind, name), effect in sorted(DISCOVERY_EVENTS.items()):
        lines.append(f"| {kind} | {name} | {effect} |")
    lines += ["", "## Recorded without ledger entries", "", "| Contract | Event | Where |", "|---|---|---|"]
    for (kind, name), where in sorted(RECORDED_EVENTS.items()):
        lines.append(f"| {kind} | {name} | {where} |")
    lines += ["", "## Events with no ledger effect", "", "| Contract | Event | Why |", "|---|---|---|"]
    for (kind, name), why in sorted(NO_LEDGER_EFFECT.items()):
        lines.append(f"| {kind} | {name} | {why} |")
    lines += ["", *SPLITTER_NOTES]
    if NOT_YET_MAPPED:
        lines += ["## Not mapped yet", "", "| Contract | Events |", "|---|---|"]
    for kind, what in sorted(NOT_YET_MAPPED.items()):
        lines.append(f"| {kind} | {what} |")
    lines += [
        "",
        "Role, pause, delegation, approval and initialisation events move no value and are not fetched.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    print(render_mapping_markdown(), end="")
