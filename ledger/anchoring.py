"""Merkle commitments over ranges of a ledger's journal, for anchoring them on a chain.

The ledger's own hash chain (ledger/chain.py) proves the journal was not altered *given* a trusted
head hash; anchoring publishes commitments to that chain somewhere the ledger's operator cannot
rewrite (the LedgerAnchor contract), so even a consistently re-hashed journal is caught. This module
only computes the commitments (pure hashing over entry seals); publishing and chains live in
`services.anchoring` and `indexer.anchors` — the ledger still knows nothing about chains.

The commitment (version 1), for outside auditors and for `LedgerAnchor.verify`:

- ledger id  = keccak256(utf-8 bytes of the ledger code)                     (`ledger_key`)
  One anchor contract serves one Kogi installation: two installations both anchoring a ledger
  called "main" into the same contract would share an id (and contend for its ranges).
- leaf_n     = keccak256(uint64_be(sequence_n) ‖ hash_n)                      (`leaf_hash`, 40 bytes in)
  where hash_n is the entry's 32-byte chain hash stored in `entry_seals`. Because hash_n chains
  every earlier entry, the root of [a, b] also commits to the whole journal up to b.
- tree       = OpenZeppelin MerkleProof convention: a parent is keccak256(min(l, r) ‖ max(l, r))
  (sorted pair, 64 bytes in); levels are built left to right from the leaves in sequence order,
  pairing nodes 0-1, 2-3, …; an odd node at the end of a level is promoted unchanged to the next
  level. A single leaf is its own root. Leaf preimages (40 bytes) and node preimages (64 bytes)
  differ in length, so a node cannot pass as a leaf *for a verifier that computes the leaf from its
  (sequence, chain hash) preimage*. `LedgerAnchor.verify` takes the 32-byte leaf as given: an inner
  node with the rest of its path also passes it, so an auditor computes `leaf_hash` itself from the
  entry's sequence and seal before calling it.
- proof      = the sibling of each level on the way up, skipping levels where the node was promoted;
  `MerkleProof.verify(proof, root, leaf)` (sorted-pair processing) recomputes the root.

Ranges are 1 ≤ from ≤ to ≤ min(head, MAX_ANCHOR_SEQUENCE) and at most MAX_ANCHOR_RANGE entries: the
leaves (32 bytes each) are held in memory while the levels are built, and seals are read in pages of
SEAL_PAGE. A range may not end at 2^64 − 1: `LedgerAnchor.anchor` refuses it (`SequenceTooLarge`),
because the next anchor would have to start at 2^64, which no uint64 holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_utils.crypto import keccak

from ledger.errors import ValidationFailed
from ledger.limits import MAX_SEALS_PAGE
from ledger.store import LedgerStore

MAX_ANCHOR_RANGE = 1_000_000
"""Most entries one anchor may cover: 32 MB of leaves plus the first level while the tree is built."""
SEAL_PAGE = MAX_SEALS_PAGE
"""Seals read per query while streaming a range's leaves."""
MAX_UINT64 = 2**64 - 1
MAX_ANCHOR_SEQUENCE = MAX_UINT64 - 1
"""Last sequence an anchor range may end at: LedgerAnchor reverts `SequenceTooLarge` for 2^64 − 1,
since an anchor ending there would leave no sequence for the next one to start at."""
NODE = 32


class AnchorRangeError(ValidationFailed):
    """The journal range cannot be committed to: empty, reversed, too large or not in the journal."""

    code = "anchor-range"
    title = "Invalid anchor range"


class RangeBeyondHead(AnchorRangeError):
    """The range ends after the ledger's last sequence (the ledger is behind whoever anchored it)."""

    code = "anchor-range-beyond-head"


class SequenceTooLarge(AnchorRangeError):
    """The range ends after MAX_ANCHOR_SEQUENCE: no uint64 could start the next anchor, so the chain
    refuses it (LedgerAnchor's `SequenceTooLarge`)."""

    code = "anchor-sequence-too-large"


class JournalGap(AnchorRangeError):
    """A sequence inside the ledger's head has no seal: the journal was tampered with."""

    code = "journal-gap"


@dataclass(frozen=True)
class JournalProof:
    """Inclusion proof of one entry in the tree of the range [from_sequence, to_sequence]."""

    sequence: int
    from_sequence: int
    to_sequence: int
    leaf: bytes
    proof: tuple[bytes, ...]
    root: bytes


# ------------------------------------------------------------------------- pure hashing


def ledger_key(ledger_code: str) -> bytes:
    """The bytes32 id of a ledger on LedgerAnchor: keccak256 of the code's UTF-8 bytes."""
    return keccak(ledger_code.encode("utf-8"))


def leaf_hash(sequence: int, chain_hash: bytes | str) -> bytes:
    """keccak256(uint64 big-endian sequence ‖ 32-byte chain hash); the hash may be given as hex."""
    if not 0 <= sequence <= MAX_UINT64:
        raise AnchorRangeError(f"sequence {sequence} does not fit a uint64")
    raw = bytes.fromhex(chain_hash) if isinstance(chain_hash, str) else bytes(chain_hash)
    if len(raw) != NODE:
        raise AnchorRangeError(f"a chain hash has 32 bytes, got {len(raw)}")
    return keccak(sequence.to_bytes(8, "big") + raw)


def hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's commutative pair hash: keccak256 of the smaller 32-byte value first."""
    return keccak(a + b) if a <= b else keccak(b + a)


def _next_level(level: bytes | bytearray) -> bytes:
    """Pair the nodes of a level (concatenated 32-byte values); an odd last node is promoted."""
    count = len(level) // NODE
    out = bytearray()
    for i in range(0, count - 1, 2):
        start = i * NODE
        out += hash_pair(bytes(level[start : start + NODE]), bytes(level[start + NODE : start + 2 * NODE]))
    if count % 2:
        out += level[(count - 1) * NODE :]
    return bytes(out)


def _packed(leaves: Sequence[bytes] | bytes | bytearray) -> bytes:
    if isinstance(leaves, (bytes, bytearray)):
        if len(leaves) % NODE:
            raise ValueError("packed leaves must be a multiple of 32 bytes")
        return bytes(leaves)
    if any(len(leaf) != NODE for leaf in leaves):
        raise ValueError("every leaf is 32 bytes")
    return b"".join(leaves)


def merkle_root(leaves: Sequence[bytes] | bytes | bytearray) -> bytes:
    """Root of the tree over `leaves` (a list of 32-byte leaves, or them concatenated)."""
    level = _packed(leaves)
    if not level:
        raise AnchorRangeError("a Merkle tree needs at least one leaf")
    while len(level) > NODE:
        level = _next_level(level)
    return level


def merkle_proof_of(leaves: Sequence[bytes] | bytes | bytearray, position: int) -> tuple[bytes, ...]:
    """Sibling path of the leaf at `position` (0-based), bottom up, as MerkleProof.verify takes it."""
    level = _packed(leaves)
    count = len(level) // NODE
    if not 0 <= position < count:
        raise AnchorRangeError(f"leaf position {position} is outside a tree of {count} leaves")
    proof: list[bytes] = []
    while count > 1:
        sibling = position ^ 1
        if sibling < count:  # else: the last node of an odd level, promoted without a sibling
            proof.append(level[sibling * NODE : (sibling + 1) * NODE])
        level = _next_level(level)
        count = len(level) // NODE
        position //= 2
    return tuple(proof)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root a proof leads to (OpenZeppelin MerkleProof.processProof)."""
    computed = leaf
    for sibling in proof:
        computed = hash_pair(computed, sibling)
    return computed


def verify_proof(root: bytes, leaf: bytes, proof: Sequence[bytes]) -> bool:
    return process_proof(leaf, proof) == root


# ---------------------------------------------------------------------------- journal


def check_range(from_sequence: int, to_sequence: int) -> None:
    """1 ≤ from ≤ to ≤ MAX_ANCHOR_SEQUENCE (2^64 − 2) and at most MAX_ANCHOR_RANGE entries (else
    AnchorRangeError; SequenceTooLarge for a range ending at 2^64 − 1, which LedgerAnchor refuses)."""
    if from_sequence < 1:
        raise AnchorRangeError(f"journal sequences start at 1; the range starts at {from_sequence}")
    if to_sequence < from_sequence:
        raise AnchorRangeError(f"empty range: {from_sequence}..{to_sequence}")
    if to_sequence > MAX_UINT64:
        raise AnchorRangeError(f"sequence {to_sequence} does not fit a uint64")
    if to_sequence > MAX_ANCHOR_SEQUENCE:
        raise SequenceTooLarge(
            f"range {from_sequence}..{to_sequence} ends at 2^64 - 1: no later anchor could start after it, "
            f"so LedgerAnchor refuses it; anchor ranges end at most at {MAX_ANCHOR_SEQUENCE}"
        )
    size = to_sequence - from_sequence + 1
    if size > MAX_ANCHOR_RANGE:
        raise AnchorRangeError(
            f"range {from_sequence}..{to_sequence} has {size} entries, more than MAX_ANCHOR_RANGE "
            f"({MAX_ANCHOR_RANGE}); anchor it in smaller ranges"
        )


def journal_leaves(store: LedgerStore, ledger: str, from_sequence: int, to_sequence: int) -> bytes:
    """The range's leaves, concatenated, read from the seals in pages of SEAL_PAGE."""
    check_range(from_sequence, to_sequence)
    head = store.head(ledger)[0]
    if to_sequence > head:
        raise RangeBeyondHead(f"ledger {ledger} ends at sequence {head}; the range ends at {to_sequence}")
    leaves = bytearray()
    expected = from_sequence
    while expected <= to_sequence:
        page = store.list_seals(ledger, after_sequence=expected - 1, to_sequence=to_sequence, limit=SEAL_PAGE)
        if not page:
            raise JournalGap(f"ledger {ledger}: no seal for sequence {expected} (journal has a gap)")
        for sequence, chain_hash in page:
            if sequence != expected:
                raise JournalGap(f"ledger {ledger}: no seal for sequence {expected} (journal has a gap)")
            leaves += leaf_hash(sequence, chain_hash)
            expected += 1
    return bytes(leaves)


def journal_merkle_root(store: LedgerStore, ledger: str, from_sequence: int, to_sequence: int) -> bytes:
    """Merkle root (32 bytes) of the journal range [from_sequence, to_sequence] of `ledger`."""
    return merkle_root(journal_leaves(store, ledger, from_sequence, to_sequence))


def merkle_proof(store: LedgerStore, ledger: str, from_sequence: int, to_sequence: int, sequence: int) -> JournalProof:
    """Proof that entry `sequence` is in the anchored range [from_sequence, to_sequence]; check it
    on chain with `LedgerAnchor.verify(ledger_key(ledger), anchor index, proof.leaf, proof.proof)`."""
    if not from_sequence <= sequence <= to_sequence:
        raise AnchorRangeError(f"sequence {sequence} is outside the range {from_sequence}..{to_sequence}")
    leaves = journal_leaves(store, ledger, from_sequence, to_sequence)
    position = sequence - from_sequence
    leaf, proof = leaves[position * NODE : (position + 1) * NODE], merkle_proof_of(leaves, position)
    return JournalProof(
        sequence=sequence,
        from_sequence=from_sequence,
        to_sequence=to_sequence,
        leaf=leaf,
        proof=proof,
        root=process_proof(leaf, proof),
    )  # the path rebuilds the root: one pass
