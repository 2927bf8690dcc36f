"""LedgerAnchor: append-only contiguous ranges per ledger, role gate, events, lookup and proofs."""

from __future__ import annotations

from eth_utils import keccak

from tests.contracts.chain_helpers import World, expect_revert, one_event, role, world, world_deployed  # noqa: F401

LEDGER = keccak(text="ledger:main")
OTHER = keccak(text="ledger:other")


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))  # OpenZeppelin MerkleProof: sorted pairs


def test_anchor_appends_contiguous_ranges_and_emits(world: World) -> None:
    anchor = world.core.anchor
    root = keccak(text="root-1")
    r = world.send(anchor.functions.anchor(LEDGER, 1, 100, root))
    assert one_event(anchor, "LedgerAnchored", r) == {
        "ledgerId": LEDGER,
        "anchorIndex": 0,
        "fromSequence": 1,
        "toSequence": 100,
        "merkleRoot": root,
        "submitter": world.admin,
    }
    r = world.send(anchor.functions.anchor(LEDGER, 101, 101, keccak(text="root-2")))
    assert one_event(anchor, "LedgerAnchored", r)["anchorIndex"] == 1
    assert anchor.functions.anchorCount(LEDGER).call() == 2
    assert anchor.functions.nextSequence(LEDGER).call() == 102
    stored = anchor.functions.anchorAt(LEDGER, 0).call()
    assert tuple(stored[0:2]) == (1, 100) and stored[4] == root and stored[3] == r["blockNumber"] - 1
    # ledgers are independent; the first range of a ledger may start anywhere
    world.send(anchor.functions.anchor(OTHER, 500, 600, root))
    assert anchor.functions.nextSequence(OTHER).call() == 601


def test_gaps_overlaps_and_bad_input_are_rejected(world: World) -> None:
    anchor = world.core.anchor
    world.send(anchor.functions.anchor(LEDGER, 1, 10, keccak(text="r")))
    expect_revert(anchor.functions.anchor(LEDGER, 12, 20, keccak(text="r")), world.admin, "NotContiguous", 11, 12)
    expect_revert(anchor.functions.anchor(LEDGER, 5, 20, keccak(text="r")), world.admin, "NotContiguous", 11, 5)
    expect_revert(anchor.functions.anchor(LEDGER, 11, 10, keccak(text="r")), world.admin, "InvalidRange", 11, 10)
    expect_revert(anchor.functions.anchor(LEDGER, 11, 20, b"\x00" * 32), world.admin, "ZeroRoot")
    expect_revert(anchor.functions.anchorAt(LEDGER, 1), world.admin, "AnchorIndexOutOfRange", 1, 1)


def test_only_anchor_role(world: World) -> None:
    anchor, stranger = world.core.anchor, world.investors[0]
    expect_revert(
        anchor.functions.anchor(LEDGER, 1, 2, keccak(text="r")),
        stranger,
        "AccessControlUnauthorizedAccount",
        stranger,
        role(anchor, "ANCHOR_ROLE"),
    )


def test_find_anchor_and_verify_a_proof(world: World) -> None:
    anchor = world.core.anchor
    leaves = [keccak(text=f"entry-{i}") for i in range(4)]
    left, right = _pair(leaves[0], leaves[1]), _pair(leaves[2], leaves[3])
    root = _pair(left, right)
    world.send(anchor.functions.anchor(LEDGER, 1, 4, keccak(text="first")))
    world.send(anchor.functions.anchor(LEDGER, 5, 8, root))
    world.send(anchor.functions.anchor(LEDGER, 9, 20, keccak(text="third")))
    assert [anchor.functions.findAnchor(LEDGER, s).call() for s in (1, 4, 5, 8, 9, 20)] == [0, 0, 1, 1, 2, 2]
    expect_revert(anchor.functions.findAnchor(LEDGER, 21), world.admin, "SequenceNotAnchored", LEDGER, 21)
    assert anchor.functions.verify(LEDGER, 1, leaves[2], [leaves[3], left]).call() is True
    assert anchor.functions.verify(LEDGER, 1, leaves[2], [leaves[1], left]).call() is False


def test_an_anchor_ending_at_the_largest_uint64_is_refused(world: World) -> None:
    """Such an anchor would leave no `toSequence + 1` for the next one: every later `anchor` and
    `nextSequence` would revert on overflow (a bricked ledger). It is refused; the ledger goes on."""
    anchor = world.core.anchor
    top = 2**64 - 1
    world.send(anchor.functions.anchor(LEDGER, 1, 10, keccak(text="r")))
    expect_revert(anchor.functions.anchor(LEDGER, 11, top, keccak(text="r")), world.admin, "SequenceTooLarge", top)
    assert anchor.functions.nextSequence(LEDGER).call() == 11
    world.send(anchor.functions.anchor(LEDGER, 11, top - 1, keccak(text="r")))
    assert anchor.functions.nextSequence(LEDGER).call() == top
    assert anchor.functions.findAnchor(LEDGER, top - 1).call() == 1
