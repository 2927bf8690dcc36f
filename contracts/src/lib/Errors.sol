// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice A zero address was given where a party (admin, platform, treasury, token, …) is required.
/// Shared by every Kogi contract so the selector and its meaning are one.
error ZeroAddress();
