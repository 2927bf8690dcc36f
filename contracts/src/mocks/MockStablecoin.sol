// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title MockStablecoin
/// @notice DEVELOPMENT AND TESTS ONLY: a USDC-like 6-decimals ERC-20 (with EIP-2612 permit) whose
/// `mint` is open to anyone. Never deploy it to a real network; `deploy_core` does so only in dev.
contract MockStablecoin is ERC20, ERC20Permit {
    constructor() ERC20("Mock USD (dev only)", "mUSD") ERC20Permit("Mock USD (dev only)") {}

    /// @notice 6, like USDC.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mint `amount` to `to` — open to anyone, dev only.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
