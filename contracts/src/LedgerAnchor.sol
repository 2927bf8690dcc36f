// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ZeroAddress} from "./lib/Errors.sol";

/// @title LedgerAnchor
/// @notice Append-only record of Merkle roots over ranges of a ledger's journal, so any entry can be
/// proven against the chain. Per ledger, ranges are contiguous and increasing: the first anchor may
/// start at any sequence, every next one must start at the previous `toSequence + 1`. `toSequence`
/// stays below 2^64 - 1, so that successor always exists (an anchor ending at the largest uint64
/// would otherwise make every later anchor and `nextSequence` revert on overflow: a bricked ledger).
/// Proofs use OpenZeppelin's MerkleProof (sorted-pair keccak256), so the off-chain tree must hash
/// pairs the same way.
contract LedgerAnchor is AccessControl {
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    struct Anchor {
        uint64 fromSequence;
        uint64 toSequence;
        uint64 timestamp;
        uint64 blockNumber;
        bytes32 merkleRoot;
    }

    // slither-disable-next-line uninitialized-state (false positive: filled by push through a storage pointer)
    mapping(bytes32 ledgerId => Anchor[]) private _anchors;

    /// @notice The journal range [fromSequence, toSequence] of `ledgerId` has Merkle root `merkleRoot`.
    event LedgerAnchored(
        bytes32 indexed ledgerId,
        uint256 indexed anchorIndex,
        uint64 fromSequence,
        uint64 toSequence,
        bytes32 merkleRoot,
        address submitter
    );

    error InvalidRange(uint64 fromSequence, uint64 toSequence);
    /// @notice `toSequence` is the largest uint64: no next anchor could follow it.
    error SequenceTooLarge(uint64 toSequence);
    error NotContiguous(uint64 expectedFrom, uint64 fromSequence);
    error ZeroRoot();
    error AnchorIndexOutOfRange(uint256 index, uint256 count);
    error SequenceNotAnchored(bytes32 ledgerId, uint64 sequence);

    /// @param admin DEFAULT_ADMIN_ROLE holder (grants ANCHOR_ROLE).
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Record the Merkle root of the journal range [fromSequence, toSequence] (ANCHOR_ROLE).
    /// @return anchorIndex position of the new anchor in the ledger's list.
    function anchor(bytes32 ledgerId, uint64 fromSequence, uint64 toSequence, bytes32 merkleRoot)
        external
        onlyRole(ANCHOR_ROLE)
        returns (uint256 anchorIndex)
    {
        if (toSequence < fromSequence) revert InvalidRange(fromSequence, toSequence);
        if (toSequence == type(uint64).max) revert SequenceTooLarge(toSequence);
        if (merkleRoot == bytes32(0)) revert ZeroRoot();
        Anchor[] storage list = _anchors[ledgerId];
        anchorIndex = list.length;
        if (anchorIndex != 0) {
            uint64 expected = list[anchorIndex - 1].toSequence + 1;
            if (fromSequence != expected) revert NotContiguous(expected, fromSequence);
        }
        list.push(Anchor(fromSequence, toSequence, uint64(block.timestamp), uint64(block.number), merkleRoot));
        emit LedgerAnchored(ledgerId, anchorIndex, fromSequence, toSequence, merkleRoot, msg.sender);
    }

    /// @notice Number of anchors of `ledgerId`.
    function anchorCount(bytes32 ledgerId) external view returns (uint256) {
        return _anchors[ledgerId].length;
    }

    /// @notice The anchor at `index` of `ledgerId`.
    function anchorAt(bytes32 ledgerId, uint256 index) public view returns (Anchor memory) {
        Anchor[] storage list = _anchors[ledgerId];
        if (index >= list.length) revert AnchorIndexOutOfRange(index, list.length);
        return list[index];
    }

    /// @notice Sequence after the last anchored one (0 when nothing is anchored yet).
    function nextSequence(bytes32 ledgerId) external view returns (uint64) {
        Anchor[] storage list = _anchors[ledgerId];
        return list.length == 0 ? 0 : list[list.length - 1].toSequence + 1;
    }

    /// @notice Index of the anchor whose range contains `sequence` (binary search, O(log n)).
    function findAnchor(bytes32 ledgerId, uint64 sequence) public view returns (uint256) {
        Anchor[] storage list = _anchors[ledgerId];
        uint256 low = 0;
        uint256 high = list.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            Anchor storage a = list[mid];
            if (sequence < a.fromSequence) {
                high = mid;
            } else if (sequence > a.toSequence) {
                low = mid + 1;
            } else {
                return mid;
            }
        }
        revert SequenceNotAnchored(ledgerId, sequence);
    }

    /// @notice Whether `leaf` is in the tree of anchor `index` of `ledgerId`.
    function verify(bytes32 ledgerId, uint256 index, bytes32 leaf, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return MerkleProof.verifyCalldata(proof, anchorAt(ledgerId, index).merkleRoot, leaf);
    }
}
