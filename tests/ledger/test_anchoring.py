"""Journal anchoring: leaves, tree and proofs against a tiny re-implementation, the journal read in
pages on SQLite and PostgreSQL, range errors, and proofs accepted by LedgerAnchor.verify on anvil."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from ledger import EntryRequest, LedgerStore, anchoring, transfer_legs
from ledger.anchoring import (
    MAX_ANCHOR_SEQUENCE,
    AnchorRangeError,
    RangeBeyondHead,
    SequenceTooLarge,
    journal_merkle_root,
    leaf_hash,
    ledger_key,
    merkle_proof,
    merkle_proof_of,
    merkle_root,
    process_proof,
)

# -------------------------------------------------------------- the reference (written apart)


def ref_leaf(sequence: int, chain_hash_hex: str) -> bytes:
    return keccak(sequence.to_bytes(8, "big") + bytes.fromhex(chain_hash_hex))


def ref_parent(a: bytes, b: bytes) -> bytes:
    return keccak(min(a, b) + max(a, b))


def ref_levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        nxt = [ref_parent(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        levels.append(nxt)
    return levels


def ref_proof(leaves: list[bytes], index: int) -> list[bytes]:
    proof = []
    for level in ref_levels(leaves)[:-1]:
        sibling = index + 1 if index % 2 == 0 else index - 1
        if sibling < len(level):
            proof.append(level[sibling])
        index //= 2
    return proof


def ref_verify(root: bytes, leaf: bytes, proof: list[bytes]) -> bool:  # OpenZeppelin MerkleProof
    computed = leaf
    for sibling in proof:
        computed = ref_parent(computed, sibling)
    return computed == root


def leaves_of(n: int) -> list[bytes]:
    return [keccak(text=f"leaf-{i}") for i in range(n)]


# ------------------------------------------------------------------------------ pure parts


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33])
def test_root_and_every_proof_match_the_reference(n: int) -> None:
    leaves = leaves_of(n)
    root = merkle_root(leaves)
    assert root == ref_levels(leaves)[-1][0]
    assert merkle_root(b"".join(leaves)) == root  # packed form
    for index in range(n):
        proof = merkle_proof_of(leaves, index)
        assert list(proof) == ref_proof(leaves, index)
        assert ref_verify(root, leaves[index], list(proof))
        assert process_proof(leaves[index], proof) == root
    if n > 1:
        assert not ref_verify(root, leaves[0], list(merkle_proof_of(leaves, 1)))


def test_single_leaf_is_its_own_root_with_an_empty_proof() -> None:
    (leaf,) = leaves_of(1)
    assert merkle_root([leaf]) == leaf
    assert merkle_proof_of([leaf], 0) == ()


def test_odd_node_is_promoted_unchanged() -> None:
    a, b, c = leaves_of(3)
    assert merkle_root([a, b, c]) == ref_parent(ref_parent(a, b), c)
    assert merkle_proof_of([a, b, c], 2) == (ref_parent(a, b),)


def test_leaf_and_ledger_key_encoding() -> None:
    chain_hash = "ab" * 32
    assert leaf_hash(7, chain_hash) == keccak(bytes.fromhex("0000000000000007") + bytes.fromhex(chain_hash))
    assert leaf_hash(7, bytes.fromhex(chain_hash)) == leaf_hash(7, chain_hash)
    assert ledger_key("main") == keccak(b"main") and len(ledger_key("main")) == 32
    assert ledger_key("café") == keccak("café".encode())
    with pytest.raises(AnchorRangeError):
        leaf_hash(2**64, chain_hash)
    with pytest.raises(AnchorRangeError):
        leaf_hash(1, "ab" * 31)


def test_empty_tree_and_bad_positions_are_errors() -> None:
    with pytest.raises(AnchorRangeError):
        merkle_root([])
    with pytest.raises(AnchorRangeError):
        merkle_proof_of(leaves_of(3), 3)
    with pytest.raises(ValueError):
        merkle_root([b"short"])


# ------------------------------------------------------------------------------ the journal


def post_entries(store: LedgerStore, n: int, prefix: str = "e") -> None:
    store.post_many(
        "main",
        [
            EntryRequest(f"{prefix}{i}", "deposit", transfer_legs("external:bank", f"holder:h{i % 3}", "USD", 100 + i))
            for i in range(n)
        ],
    )


def journal_ref_leaves(store: LedgerStore, from_sequence: int, to_sequence: int) -> list[bytes]:
    entries = store.list_entries("main", after_sequence=from_sequence - 1, limit=to_sequence - from_sequence + 1)
    assert [e.sequence for e in entries] == list(range(from_sequence, to_sequence + 1))
    return [ref_leaf(e.sequence, e.hash) for e in entries]


def test_journal_root_and_proofs_read_in_pages(store: LedgerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    post_entries(store, 23)
    monkeypatch.setattr(anchoring, "SEAL_PAGE", 4)  # many pages, one partial
    for first, last in [(1, 23), (1, 1), (5, 17), (23, 23), (2, 9)]:
        leaves = journal_ref_leaves(store, first, last)
        root = journal_merkle_root(store, "main", first, last)
        assert root == ref_levels(leaves)[-1][0]
        for sequence in (first, (first + last) // 2, last):
            proof = merkle_proof(store, "main", first, last, sequence)
            assert proof.root == root and proof.leaf == leaves[sequence - first]
            assert ref_verify(root, proof.leaf, list(proof.proof))
    assert store.list_seals("main", after_sequence=20) == [
        (e.sequence, e.hash) for e in store.list_entries("main", after_sequence=20)
    ]
    assert store.list_seals("main", after_sequence=2, to_sequence=4, limit=2) == [
        (e.sequence, e.hash) for e in store.list_entries("main", after_sequence=2, limit=2)
    ]


def test_range_errors(store: LedgerStore, monkeypatch: pytest.MonkeyPatch) -> None:
    post_entries(store, 6)
    with pytest.raises(AnchorRangeError, match="start at 1"):
        journal_merkle_root(store, "main", 0, 3)
    with pytest.raises(AnchorRangeError, match="empty range"):
        journal_merkle_root(store, "main", 4, 3)
    with pytest.raises(RangeBeyondHead, match="ends at sequence 6"):
        journal_merkle_root(store, "main", 1, 7)
    with pytest.raises(AnchorRangeError, match="outside the range"):
        merkle_proof(store, "main", 2, 4, 5)
    with pytest.raises(AnchorRangeError, match="uint64"):
        journal_merkle_root(store, "main", 1, 2**64)
    monkeypatch.setattr(anchoring, "MAX_ANCHOR_RANGE", 4)
    with pytest.raises(AnchorRangeError, match="MAX_ANCHOR_RANGE"):
        journal_merkle_root(store, "main", 1, 5)
    assert journal_merkle_root(store, "main", 2, 5) == merkle_root(journal_ref_leaves(store, 2, 5))


def test_max_anchor_range_is_bounded() -> None:
    assert anchoring.MAX_ANCHOR_RANGE == 1_000_000
    with pytest.raises(AnchorRangeError, match="smaller ranges"):
        anchoring.check_range(1, 1_000_001)
    anchoring.check_range(1, 1_000_000)


def test_a_range_ending_at_the_largest_uint64_is_refused(store: LedgerStore) -> None:
    # LedgerAnchor reverts SequenceTooLarge for toSequence == 2^64 - 1 (the next anchor could not start);
    # refusing it here names the problem before a transaction is built
    assert MAX_ANCHOR_SEQUENCE == 2**64 - 2
    for first in (2**64 - 1, 2**64 - 5, 1):
        with pytest.raises(SequenceTooLarge, match="2\\^64 - 1"):
            anchoring.check_range(first, 2**64 - 1)
    with pytest.raises(SequenceTooLarge):
        journal_merkle_root(store, "main", 2**64 - 1, 2**64 - 1)
    assert SequenceTooLarge.code == "anchor-sequence-too-large" and issubclass(SequenceTooLarge, AnchorRangeError)
    anchoring.check_range(2**64 - 2, 2**64 - 2)  # the last range the chain accepts
    anchoring.check_range(2**64 - 1_000_000, 2**64 - 2)


# ---------------------------------------------------------------------------- on chain


@pytest.fixture()
def anchor_contract(w3: Any) -> Any:
    from contracts.deploy import deploy_contract, transact

    admin = w3.eth.accounts[0]
    contract = deploy_contract(w3, "LedgerAnchor", admin, sender=admin)
    transact(contract.functions.grantRole(contract.functions.ANCHOR_ROLE().call(), admin), admin)
    return contract


def test_proofs_verify_on_chain(store: LedgerStore, anchor_contract: Any, w3: Any) -> None:
    from contracts.deploy import transact

    admin = w3.eth.accounts[0]
    post_entries(store, 11)
    key = ledger_key("main")
    first_root = journal_merkle_root(store, "main", 1, 4)
    second_root = journal_merkle_root(store, "main", 5, 11)  # 7 leaves: promotions on two levels
    transact(anchor_contract.functions.anchor(key, 1, 4, first_root), admin)
    transact(anchor_contract.functions.anchor(key, 5, 11, second_root), admin)
    verify = anchor_contract.functions.verify
    for index, (first, last) in enumerate([(1, 4), (5, 11)]):
        for sequence in range(first, last + 1):
            proof = merkle_proof(store, "main", first, last, sequence)
            assert anchor_contract.functions.findAnchor(key, sequence).call() == index
            assert verify(key, index, proof.leaf, list(proof.proof)).call() is True, sequence
    proof = merkle_proof(store, "main", 5, 11, 8)
    assert verify(key, 0, proof.leaf, list(proof.proof)).call() is False  # another anchor's root
    assert verify(key, 1, leaf_hash(8, "00" * 32), list(proof.proof)).call() is False  # another chain hash


def test_check_range_agrees_with_the_chain_at_the_top_of_uint64(anchor_contract: Any, w3: Any) -> None:
    from contracts.deploy import TransactionFailed, transact

    admin, key, root = w3.eth.accounts[0], ledger_key("edge"), keccak(text="root")
    with pytest.raises(SequenceTooLarge):
        anchoring.check_range(2**64 - 1, 2**64 - 1)
    with pytest.raises(TransactionFailed, match=f"SequenceTooLarge\\({2**64 - 1},\\)"):
        transact(anchor_contract.functions.anchor(key, 2**64 - 1, 2**64 - 1, root), admin)
    anchoring.check_range(2**64 - 2, 2**64 - 2)
    transact(anchor_contract.functions.anchor(key, 2**64 - 2, 2**64 - 2, root), admin)
    assert anchor_contract.functions.anchorCount(key).call() == 1
