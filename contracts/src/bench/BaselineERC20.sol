// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title BaselineERC20
/// @notice BENCHMARK ONLY: a plain OpenZeppelin ERC-20 (no hooks, no proxy) — the gas baseline the
/// compliant PortfolioToken transfer is compared with.
contract BaselineERC20 is ERC20 {
    constructor(uint256 supply) ERC20("Baseline", "BASE") {
        _mint(msg.sender, supply);
    }
}
