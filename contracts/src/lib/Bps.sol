// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title Bps
/// @notice Basis points, defined once: the denominator, the platform's fee ceiling (10 %), and the
/// rounded-down share of an amount. Used by the funding round (fees, milestone tranches), the
/// donation router (fees) and the payout splitter (shares).
library Bps {
    /// @notice 100 % in basis points.
    uint256 internal constant DENOMINATOR = 10_000;
    /// @notice Upper bound on any platform fee: 10 %.
    uint16 internal constant MAX_FEE = 1_000;

    /// @notice `floor(amount * bps / 10_000)`, without intermediate overflow.
    function share(uint256 amount, uint256 bps) internal pure returns (uint256) {
        return Math.mulDiv(amount, bps, DENOMINATOR);
    }
}
