// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of a PortfolioToken a funding round uses. The round's investors' allocations are
/// minted into the round when it is sold (`syncRound`), then delivered to each investor with the
/// revenue they accrued since (`deliverAllocation`); a refund after a cancellation that followed
/// success takes allocations back (`returnAllocation`). Only a round the token attached can call the
/// last two: the creator cannot revoke that right.
interface IRoundToken {
    /// @notice Settle the token's open round if its outcome is known (anyone; no-op otherwise).
    function syncRound() external;

    /// @notice Move `amount` of the calling round's allocation to `investor` (recipient checks apply),
    /// settling the round first if its outcome is known but not yet settled (as `returnAllocation` does).
    function deliverAllocation(address investor, uint256 amount) external;

    /// @notice Burn `fromRound` of the calling round's undelivered allocation of `investor` and
    /// `fromInvestor` tokens from `investor`'s balance (the refund of a cancelled round takes them back).
    function returnAllocation(address investor, uint256 fromRound, uint256 fromInvestor) external;

    /// @notice Whether `investor` may invest in the calling round now: NOT_ATTACHED (255) unless the
    /// caller is the token's open round (its allocation reserved), else the registry's restriction
    /// code for a mint to `investor` (0 = allowed).
    function investorRestriction(address investor) external view returns (uint8 code);
}
