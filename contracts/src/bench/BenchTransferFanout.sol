// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title BenchTransferFanout
/// @notice BENCHMARK ONLY (`kogi bench indexer`): holds tokens and sends one `transfer` per recipient
/// in a single transaction, so a benchmark chain gets many token Transfer events per block cheaply.
/// Not part of the Kogi product and never deployed outside a benchmark chain.
contract BenchTransferFanout {
    using SafeERC20 for IERC20;

    address public immutable operator;

    error NotOperator();

    constructor() {
        operator = msg.sender;
    }

    /// Transfer `amount` of `token` from this contract to each of `recipients`, in order.
    function fanOut(IERC20 token, address[] calldata recipients, uint256 amount) external {
        if (msg.sender != operator) revert NotOperator();
        uint256 count = recipients.length;
        for (uint256 i = 0; i < count; ++i) {
            token.safeTransfer(recipients[i], amount);
        }
    }
}
