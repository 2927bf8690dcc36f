// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IComplianceRegistry
/// @notice The single source of truth for "may these tokens move from A to B?".
/// ERC-1404-style: `detectTransferRestriction` returns a stable code (0 = allowed),
/// `messageForTransferRestriction` turns it into text. Every Kogi token consults it.
/// Codes (stable, part of the public API; the ledger and API show them):
///   0 SUCCESS
///   1 SENDER_NOT_VERIFIED       (no KYC or KYC expired)
///   2 RECIPIENT_NOT_VERIFIED
///   3 SENDER_FROZEN
///   4 RECIPIENT_FROZEN
///   5 SENDER_LOCKED             (per token lockup not over)
///   6 SENDER_COUNTRY_BLOCKED    (country blocked for this token)
///   7 RECIPIENT_COUNTRY_BLOCKED
///   8 RECIPIENT_NOT_ACCREDITED  (token requires accreditation)
interface IComplianceRegistry {
    function detectTransferRestriction(address token, address from, address to, uint256 amount)
        external
        view
        returns (uint8 code);

    function canTransfer(address token, address from, address to, uint256 amount) external view returns (bool);

    function messageForTransferRestriction(uint8 code) external pure returns (string memory);

    function isVerified(address investor) external view returns (bool);
}
