// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Bps} from "./lib/Bps.sol";

/// @title PayoutSplitter
/// @notice Splits everything it receives — ETH and any ERC-20 — between a fixed set of payees by
/// basis points (0xSplits-like). Shares are set once at `initialize` and can never change; there is
/// no admin. Accounting is per token and pull-based:
///   totalReceived(token) = balance(token) + totalReleased(token)
///   releasable(token, payee) = totalReceived(token) * shareBps(payee) / 10_000 - released(token, payee)
/// so funds sent by plain transfer are split like deposits, releases never depend on other payees,
/// and the per-payee rounding dust (< 1 base unit each) stays in the splitter and is split again
/// as more funds arrive. ETH is `token == address(0)`.
/// Note: as an EIP-1167 clone, `receive` runs through a delegatecall, so senders must forward more
/// than the 2,300 gas stipend of Solidity's `transfer`/`send` (use `call`).
contract PayoutSplitter is Initializable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Upper bound on the number of payees of a splitter.
    uint256 public constant MAX_PAYEES = 50;
    /// @notice Token address that stands for native ETH.
    address public constant ETH = address(0);

    address[] private _payees;
    /// @notice Share of each payee in basis points (0 = not a payee).
    mapping(address payee => uint16) public shareBps;
    /// @notice Base units of each token (zero = ETH) paid out so far, all payees.
    mapping(address token => uint256) public totalReleased;
    /// @notice Base units of each token (zero = ETH) paid out so far to each payee.
    mapping(address token => mapping(address payee => uint256)) public released;

    /// @notice The splitter was configured with `payees` and their `sharesBps`.
    event SplitterInitialized(address[] payees, uint16[] sharesBps);
    /// @notice `amount` of `token` (zero = ETH) arrived from `from` through `receive` or `deposit`.
    event PaymentReceived(address indexed token, address indexed from, uint256 amount);
    /// @notice `amount` of `token` (zero = ETH) was paid to `payee`; `by` triggered the release.
    event PaymentReleased(address indexed token, address indexed payee, address indexed by, uint256 amount);

    error InvalidPayees();
    error ZeroAddressPayee(uint256 index);
    error ZeroShare(address payee);
    error DuplicatePayee(address payee);
    error SharesDoNotSumTo10000(uint256 sum);
    error NotPayee(address account);
    error NothingDue(address token, address payee);
    error ZeroAmount();

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Fix the payees and their shares forever. Called once, by the factory.
    /// @param payees Distinct non-zero addresses, 1..MAX_PAYEES of them.
    /// @param sharesBps Share of each payee in basis points, each > 0, summing to exactly 10_000.
    function initialize(address[] calldata payees, uint16[] calldata sharesBps) external initializer {
        uint256 count = payees.length;
        if (count == 0 || count > MAX_PAYEES || count != sharesBps.length) revert InvalidPayees();
        uint256 sum = 0;
        for (uint256 i; i < count; ++i) {
            address payee = payees[i];
            if (payee == address(0)) revert ZeroAddressPayee(i);
            if (sharesBps[i] == 0) revert ZeroShare(payee);
            if (shareBps[payee] != 0) revert DuplicatePayee(payee);
            shareBps[payee] = sharesBps[i];
            sum += sharesBps[i];
        }
        if (sum != Bps.DENOMINATOR) revert SharesDoNotSumTo10000(sum);
        _payees = payees;
        emit SplitterInitialized(payees, sharesBps);
    }

    /// @notice Accept ETH; it is split like any other receipt.
    receive() external payable {
        emit PaymentReceived(ETH, msg.sender, msg.value);
    }

    /// @notice Pull `amount` of an ERC-20 from the sender (approved beforehand) into the split, with an
    /// event naming the payer. Plain transfers are split too; this only adds the attribution.
    /// @param token ERC-20 to deposit (not ETH).
    /// @param amount Base units requested; the balance delta actually received is credited and emitted.
    /// @return received Base units that arrived.
    function deposit(address token, uint256 amount) external nonReentrant returns (uint256 received) {
        if (amount == 0 || token == ETH) revert ZeroAmount();
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        received = IERC20(token).balanceOf(address(this)) - before;
        emit PaymentReceived(token, msg.sender, received);
    }

    /// @notice Pay `payee` everything due to them in `token` (zero = ETH). Anyone may trigger it; the
    /// money always goes to the payee.
    /// @param token ERC-20 address, or address(0) for ETH.
    /// @param payee One of the payees.
    /// @return amount Base units paid.
    function release(address token, address payee) external nonReentrant returns (uint256 amount) {
        if (shareBps[payee] == 0) revert NotPayee(payee);
        amount = releasable(token, payee);
        // slither-disable-next-line incorrect-equality (zero test of the amount due, not a balance comparison)
        if (amount == 0) revert NothingDue(token, payee);
        released[token][payee] += amount;
        totalReleased[token] += amount;
        emit PaymentReleased(token, payee, msg.sender, amount);
        if (token == ETH) {
            Address.sendValue(payable(payee), amount);
        } else {
            IERC20(token).safeTransfer(payee, amount);
        }
    }

    /// @notice Base units of `token` (zero = ETH) `payee` can release now. If the splitter's balance
    /// shrank other than by releases (a rebasing token, a clawback, an issuer burn), a payee already
    /// paid more than its share of the new total gets 0 (not an underflow), and no payee is offered more
    /// than the balance actually held.
    function releasable(address token, address payee) public view returns (uint256) {
        uint256 balance = token == ETH ? address(this).balance : IERC20(token).balanceOf(address(this));
        uint256 due = Bps.share(balance + totalReleased[token], shareBps[payee]);
        uint256 paid = released[token][payee];
        if (due <= paid) return 0;
        uint256 amount = due - paid;
        return amount < balance ? amount : balance;
    }

    /// @notice Everything of `token` (zero = ETH) the splitter has ever received (balance + released).
    function totalReceived(address token) public view returns (uint256) {
        uint256 balance = token == ETH ? address(this).balance : IERC20(token).balanceOf(address(this));
        return balance + totalReleased[token];
    }

    /// @notice The payees, in initialization order.
    function payees() external view returns (address[] memory) {
        return _payees;
    }
}
