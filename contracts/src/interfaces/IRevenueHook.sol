// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IRevenueHook
/// @notice What a PortfolioToken calls after every balance change (mint, burn, transfer,
/// forced transfer) so a revenue distributor can keep its per-holder corrections exact.
interface IRevenueHook {
    /// @notice `amount` tokens moved from `from` to `to` (address(0) = mint / burn).
    /// Must only accept calls from its token; must not revert for a valid movement.
    function onTokenTransfer(address from, address to, uint256 amount) external;
}

/// @title IRevenueHookSource
/// @notice The token side: the distributor switches the hook on at its first deposit.
interface IRevenueHookSource {
    /// @notice Start reporting balance changes to the caller (must be the token's distributor).
    function activateRevenueHook() external;
}
