// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What a PortfolioToken asks a funding round attached to it: how much of the token's cap
/// the round holds and whether its investors' allocations are sold (to be minted into the round) or
/// void (reservation released).
interface IAllocationRound {
    /// @notice (status, allocation): 0 = open (allocation = maximum the round can sell), 1 = sold
    /// (succeeded, also when cancelled afterwards; allocation = Σ investors' allocations), 2 = void
    /// (failed or cancelled before success; allocation 0).
    function allocationStatus() external view returns (uint8 status, uint256 allocation);

    /// @notice The token the round sells.
    function token() external view returns (address);
}
