"""The mapping table: one documented set of entries per event, and the docs equal the code."""

from __future__ import annotations

from pathlib import Path

from contracts.artifacts import load_artifact
from indexer.decode import ARTIFACT_OF_KIND
from indexer.mapping import (
    DISCOVERY_EVENTS,
    HANDLERS,
    NO_LEDGER_EFFECT,
    RECORDED_EVENTS,
    ChainEvent,
    ContractInfo,
    entries_for,
    render_mapping_markdown,
)
from ledger import Side

MAPPING_MD = Path(__file__).resolve().parents[2] / "indexer" / "MAPPING.md"
CHAIN = 31337
ZERO = "0x" + "00" * 20
TOKEN = "0x" + "ab" * 20
ALICE = "0x" + "11" * 20
BOB = "0x" + "22" * 20
# events that move no value and are not fetched (roles, pausing, delegation, approvals, init)
UNFETCHED = {
    "Approval",
    "DelegateChanged",
    "DelegateVotesChanged",
    "EIP712DomainChanged",
    "Initialized",
    "Paused",
    "Unpaused",
    "RoleAdminChanged",
    "RoleGranted",
    "RoleRevoked",
    "ComplianceSignerChanged",
    "PermitRevoked",
    "FeeChanged",
    "FeeRecipientChanged",
    "PlatformAccountsSet",
    "ApprovalForAll",
}


def event(name: str, contract_kind: str = "token", **args: object) -> ChainEvent:
    return ChainEvent(CHAIN, TOKEN, contract_kind, name, args, 10, "0x" + "cd" * 32, 1_700_000_000, "0x" + "ef" * 32, 3)


def test_mapping_md_is_generated_from_the_code() -> None:
    assert MAPPING_MD.read_text() == render_mapping_markdown(), "run: python -m indexer.mapping > indexer/MAPPING.md"


def test_every_event_of_every_followed_contract_is_classified() -> None:
    classified = set(HANDLERS) | set(DISCOVERY_EVENTS) | set(NO_LEDGER_EFFECT) | set(RECORDED_EVENTS)
    for kind, artifact in ARTIFACT_OF_KIND.items():
        for item in load_artifact(artifact).abi:
            if item["type"] == "event" and item["name"] not in UNFETCHED:
                assert (kind, item["name"]) in classified, f"{artifact}.{item['name']} has no documented mapping"


def test_transfer_variants_and_keys() -> None:
    contract = ContractInfo(CHAIN, TOKEN, "token", 1)
    (mint,) = entries_for(event("Transfer", **{"from": ZERO, "to": ALICE, "value": 5}), contract)
    (move,) = entries_for(event("Transfer", **{"from": ALICE, "to": BOB, "value": 2}), contract)
    (burn,) = entries_for(event("Transfer", **{"from": BOB, "to": ZERO, "value": 1}), contract)
    assert (mint.kind, move.kind, burn.kind) == ("mint", "transfer", "burn")
    assert [(leg.account, leg.side) for leg in mint.legs] == [
        (f"chain:{CHAIN}:mint", Side.DEBIT),
        (f"holder:{CHAIN}:{ALICE}", Side.CREDIT),
    ]
    assert mint.legs[0].asset == f"PTK:{CHAIN}:{TOKEN}"
    assert mint.idempotency_key == mint.external_ref == f"{CHAIN}:{'0x' + 'ef' * 32}:3@{'cd' * 6}"
    assert len(mint.idempotency_key) <= 128
    assert entries_for(event("Transfer", **{"from": ALICE, "to": BOB, "value": 0}), contract) == []


def test_milestone_release_splits_net_and_fee_in_one_entry() -> None:
    round_ = ContractInfo(CHAIN, TOKEN, "round", 4, "0x" + "99" * 20)
    (entry,) = entries_for(
        event("MilestoneReleased", "round", index=0, treasury=ALICE, feeRecipient=BOB, gross=1_000, net=975, fee=25),
        round_,
    )
    assert [(leg.account, leg.side, leg.amount_units) for leg in entry.legs] == [
        (f"round:{CHAIN}:{TOKEN}:escrow", Side.DEBIT, 1_000),
        (f"portfolio:{CHAIN}:4:treasury", Side.CREDIT, 975),
        ("platform:fees", Side.CREDIT, 25),
    ]


def test_anonymous_donation_hides_the_donor() -> None:
    router = ContractInfo(CHAIN, TOKEN, "donation_router")
    (entry,) = entries_for(
        event(
            "Donated",
            "donation_router",
            portfolioId=2,
            kind=1,
            donor=ZERO,
            token=ZERO,
            gross=100,
            fee=3,
            net=97,
            isAnonymous=True,
            message="hi",
        ),
        router,
    )
    assert entry.metadata["donor"] is None and entry.metadata["donation_kind"] == "tip"
    assert entry.legs[0].asset == f"ETH:{CHAIN}"
