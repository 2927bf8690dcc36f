// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IRevenueHook, IRevenueHookSource} from "./interfaces/IRevenueHook.sol";

/// @title RevenueDistributor
/// @notice Pays a portfolio's revenue to its token holders pro rata, O(1) per deposit, claim and
/// transfer whatever the number of holders (magnified dividend-per-share with corrections).
///
/// A separate contract rather than built into the token: one concern per contract, the token stays
/// well under the 24 KiB code limit with ERC20Votes + Permit + AccessControl, a portfolio may have no
/// distributor at all, and the token's hot path only pays one call. Deployed as an EIP-1167 clone
/// with immutable args `abi.encode(token, revenueToken)`: both addresses are read from the clone's
/// code (~300 gas) instead of two cold SLOADs on every hook call and claim. One revenue asset (any
/// ERC-20, e.g. a 6-decimals stablecoin) per distributor; a second asset means a second distributor.
///
/// Accounting, for a holder h that is not excluded (M = 2**128):
///   claimableMagnified(h) = magnifiedPerShare * balance(h) + correction(h)
/// A deposit of D with eligible supply S adds floor((D*M + leftover) / S) to magnifiedPerShare and
/// keeps the remainder as `leftover` for the next deposit, so the pool never loses a fraction.
/// A balance change of x moves magnifiedPerShare * x into the correction (token hook), a claim
/// of p subtracts p*M. Hence Σ claimed + Σ claimable ≤ Σ deposited, and the only value nobody can
/// claim is each holder's fractional part (< 1 base unit per holder) plus leftover / M (< 1 unit).
///
/// Excluded addresses (round escrow, treasury; at most MAX_EXCLUDED) accrue nothing and their
/// balances are subtracted from the eligible supply at deposit time. On exclusion the account's
/// claimable amount so far is frozen into its correction (still claimable); on re-inclusion it
/// restarts from the current accumulator, so it never earns revenue of its excluded period.
///
/// Roles are the token's (one place per portfolio): DEFAULT_ADMIN_ROLE of the token manages
/// exclusions, its ISSUER_ROLE sweeps dust, its AGENT_ROLE moves a lost wallet's claimable revenue.
/// Keeping no role storage here saves ~75k gas per portfolio.
///
/// The token reports balance changes only after `activateRevenueHook`, which the first deposit
/// calls: before it the accumulator is zero and every correction would be zero.
///
/// Dust: after `dustSweepDelay` seconds without a deposit, ISSUER_ROLE may sweep the balance above
/// what holders can still claim at most (`totalDeposited - totalClaimed`), i.e. tokens sent here
/// without `deposit` and the pool remainder. Holders' sub-unit fractions stay reserved: telling
/// them apart from claimable revenue would need a loop over holders.
contract RevenueDistributor is Initializable, ReentrancyGuardTransient, IRevenueHook {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SafeCast for int256;

    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @notice Fixed-point scale of `magnifiedPerShare`.
    uint256 public constant MAGNITUDE = 2 ** 128;
    /// @notice Upper bound on excluded addresses (bounds the eligible-supply loop of `deposit`).
    uint256 public constant MAX_EXCLUDED = 8;
    /// @notice Bounds on `dustSweepDelay`: at least a day, at most ten years.
    uint64 public constant MIN_DUST_SWEEP_DELAY = 1 days;
    uint64 public constant MAX_DUST_SWEEP_DELAY = 3650 days;

    struct Account {
        int248 correction; // magnified; for an excluded account: its frozen claimable amount
        bool excluded;
    }

    /// @dev address of the implementation itself: its code carries no clone args.
    address private immutable _self;

    /// @notice Revenue per token base unit, times MAGNITUDE, accumulated over every deposit.
    uint256 public magnifiedPerShare;
    uint256 private _magnifiedLeftover;
    uint128 public totalDeposited; // credited amounts (after any transfer fee)
    uint128 public totalClaimed;
    uint64 public lastDepositAt;
    uint64 public dustSweepDelay;
    uint8 private _excludedCount;
    address[MAX_EXCLUDED] private _excludedList;
    mapping(address holder => Account) private _accounts;

    /// @notice `credited` revenue (balance delta of this contract) entered the pool.
    event RevenueDeposited(
        address indexed depositor,
        uint256 amountSent,
        uint256 amountCredited,
        uint256 eligibleSupply,
        uint256 magnifiedPerShare
    );
    /// @notice `holder` was paid `amount` of the revenue token.
    event RevenueClaimed(address indexed holder, uint256 amount);
    /// @notice `account` stopped (or resumed) accruing; `balance` is its token balance at that time.
    event ExclusionSet(address indexed account, bool excluded, uint256 balance);
    /// @notice Surplus above what holders can claim was sent to `to`.
    event DustSwept(address indexed to, uint256 amount, address indexed issuer);
    /// @notice An agent moved `amount` of claimable revenue from a lost wallet to its replacement.
    event ClaimableMoved(address indexed agent, address indexed from, address indexed to, uint256 amount);

    error NotToken(address caller);
    /// @notice Caller lacks `role` on the token.
    error MissingTokenRole(address caller, bytes32 role);
    error NotAClone();
    error ZeroAddress();
    error ZeroAmount();
    error NoEligibleSupply();
    error NothingToClaim(address holder);
    error TooManyExcluded(uint256 max);
    error ExclusionUnchanged(address account, bool excluded);
    error SweepTooEarly(uint256 notBefore);
    error NothingToSweep();
    error DelayOutOfRange(uint64 delay, uint64 min, uint64 max);

    constructor() {
        _self = address(this);
        _disableInitializers();
    }

    /// @notice Set up a clone (its immutable args are `abi.encode(token, revenueToken)`); called
    /// by the factory in the clone's deploy transaction.
    /// @param dustSweepDelay_ seconds after the last deposit before dust may be swept.
    /// @param excluded initial excluded addresses (escrow, treasury), at most MAX_EXCLUDED.
    function initialize(uint64 dustSweepDelay_, address[] calldata excluded) external initializer {
        if (dustSweepDelay_ < MIN_DUST_SWEEP_DELAY || dustSweepDelay_ > MAX_DUST_SWEEP_DELAY) {
            revert DelayOutOfRange(dustSweepDelay_, MIN_DUST_SWEEP_DELAY, MAX_DUST_SWEEP_DELAY);
        }
        (address token_, address revenueToken_) = _args();
        if (token_ == address(0) || revenueToken_ == address(0)) revert ZeroAddress();
        dustSweepDelay = dustSweepDelay_;
        for (uint256 i = 0; i < excluded.length; ++i) {
            _setExcluded(token_, excluded[i], true);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice The PortfolioToken whose holders receive the revenue.
    function token() external view returns (address token_) {
        (token_,) = _args();
    }

    /// @notice The ERC-20 revenue is paid in.
    function revenueToken() external view returns (address revenueToken_) {
        (, revenueToken_) = _args();
    }

    /// @notice Revenue `holder` can claim now, in revenue-token base units.
    function claimable(address holder) public view returns (uint256) {
        (address token_,) = _args();
        return _claimableMagnified(token_, holder) / MAGNITUDE;
    }

    /// @notice Token supply that accrues revenue: total supply minus excluded balances.
    function eligibleSupply() public view returns (uint256 supply) {
        (address token_,) = _args();
        return _eligibleSupply(token_);
    }

    /// @notice Whether `account` is excluded from accrual.
    function isExcluded(address account) external view returns (bool) {
        return _accounts[account].excluded;
    }

    /// @notice The excluded addresses.
    function excludedAccounts() external view returns (address[] memory accounts) {
        uint256 n = _excludedCount;
        accounts = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            accounts[i] = _excludedList[i];
        }
    }

    /// @notice Magnified correction of `holder` (for auditors and the indexer).
    function correctionOf(address holder) external view returns (int256) {
        return _accounts[holder].correction;
    }

    /// @notice Amount `sweepDust` would send now (ignoring the delay).
    function sweepableDust() public view returns (uint256) {
        (, address revenueToken_) = _args();
        uint256 balance = IERC20(revenueToken_).balanceOf(address(this));
        uint256 reserved = uint256(totalDeposited) - totalClaimed - _magnifiedLeftover / MAGNITUDE;
        return balance > reserved ? balance - reserved : 0;
    }

    // ---------------------------------------------------------------- actions

    /// @notice Deposit `amount` of revenue (pulled with transferFrom; approve first). Only the
    /// amount actually received is credited, so fee-on-transfer tokens cannot over-credit.
    /// Reverts with NoEligibleSupply when no non-excluded holder exists.
    function deposit(uint256 amount) external nonReentrant {
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (amount == 0) revert ZeroAmount();
        (address token_, address revenueToken_) = _args();
        uint256 supply = _eligibleSupply(token_);
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (supply == 0) revert NoEligibleSupply();
        IERC20 revenue = IERC20(revenueToken_);
        uint256 balanceBefore = revenue.balanceOf(address(this));
        revenue.safeTransferFrom(msg.sender, address(this), amount);
        uint256 credited = revenue.balanceOf(address(this)) - balanceBefore;
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (credited == 0) revert ZeroAmount();
        uint256 magnified = credited.toUint128() * MAGNITUDE + _magnifiedLeftover;
        uint256 previous = magnifiedPerShare;
        uint256 perShare = previous + magnified / supply;
        magnifiedPerShare = perShare;
        _magnifiedLeftover = magnified % supply;
        totalDeposited = (uint256(totalDeposited) + credited).toUint128();
        lastDepositAt = uint64(block.timestamp);
        emit RevenueDeposited(msg.sender, amount, credited, supply, perShare);
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (previous == 0 && perShare != 0) IRevenueHookSource(token_).activateRevenueHook();
    }

    /// @notice Pay the caller everything it can claim.
    function claim() external nonReentrant returns (uint256 amount) {
        (address token_, address revenueToken_) = _args();
        uint256 magnified = _claimableMagnified(token_, msg.sender);
        // slither-disable-next-line divide-before-multiply (intended: pay whole base units, keep the fraction)
        amount = magnified / MAGNITUDE;
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (amount == 0) revert NothingToClaim(msg.sender);
        Account storage account = _accounts[msg.sender];
        // slither-disable-next-line divide-before-multiply (intended: pay whole base units, keep the fraction)
        account.correction -= (amount * MAGNITUDE).toInt256().toInt248();
        totalClaimed += uint128(amount); // amount <= totalDeposited - totalClaimed, fits
        emit RevenueClaimed(msg.sender, amount);
        IERC20(revenueToken_).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IRevenueHook
    /// @dev Hot path of every token transfer: one SLOAD when no revenue was ever deposited,
    /// otherwise one read-modify-write per non-zero party.
    function onTokenTransfer(address from, address to, uint256 amount) external override {
        (address token_,) = _args();
        if (msg.sender != token_) revert NotToken(msg.sender);
        uint256 perShare = magnifiedPerShare;
        if (perShare == 0) return;
        int248 delta = (perShare * amount).toInt256().toInt248();
        if (from != address(0)) {
            Account storage sender = _accounts[from];
            if (!sender.excluded) sender.correction += delta;
        }
        if (to != address(0)) {
            Account storage recipient = _accounts[to];
            if (!recipient.excluded) recipient.correction -= delta;
        }
    }

    /// @notice Exclude `account` from (or re-include it in) accrual (DEFAULT_ADMIN_ROLE).
    function setExcluded(address account, bool excluded) external {
        (address token_,) = _args();
        _checkTokenRole(token_, DEFAULT_ADMIN_ROLE);
        _setExcluded(token_, account, excluded);
    }

    /// @notice Move the claimable revenue of a lost wallet to its replacement (AGENT_ROLE), the
    /// companion of PortfolioToken.forcedTransfer. Sub-unit fractions stay with `from`.
    function moveClaimable(address from, address to) external {
        (address token_,) = _args();
        _checkTokenRole(token_, AGENT_ROLE);
        if (from == address(0) || to == address(0)) revert ZeroAddress();
        // slither-disable-next-line divide-before-multiply (intended: pay whole base units, keep the fraction)
        uint256 amount = _claimableMagnified(token_, from) / MAGNITUDE;
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (amount == 0) revert NothingToClaim(from);
        // slither-disable-next-line divide-before-multiply (intended: pay whole base units, keep the fraction)
        int248 magnified = (amount * MAGNITUDE).toInt256().toInt248();
        _accounts[from].correction -= magnified;
        _accounts[to].correction += magnified;
        emit ClaimableMoved(msg.sender, from, to, amount);
    }

    /// @notice Send the surplus above what holders can still claim to `to` (ISSUER_ROLE), only
    /// once `dustSweepDelay` seconds have passed since the last deposit.
    function sweepDust(address to) external nonReentrant {
        (address token_, address revenueToken_) = _args();
        _checkTokenRole(token_, ISSUER_ROLE);
        if (to == address(0)) revert ZeroAddress();
        uint256 notBefore = uint256(lastDepositAt) + dustSweepDelay;
        if (block.timestamp < notBefore) revert SweepTooEarly(notBefore);
        uint256 amount = sweepableDust();
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount, not a balance race)
        if (amount == 0) revert NothingToSweep();
        emit DustSwept(to, amount, msg.sender);
        IERC20(revenueToken_).safeTransfer(to, amount);
    }

    // ------------------------------------------------------------- internals

    function _claimableMagnified(address token_, address holder) private view returns (uint256) {
        Account memory account = _accounts[holder];
        int256 magnified = account.correction;
        if (!account.excluded) {
            magnified += (magnifiedPerShare * IERC20(token_).balanceOf(holder)).toInt256();
        }
        return magnified > 0 ? uint256(magnified) : 0;
    }

    function _eligibleSupply(address token_) private view returns (uint256 supply) {
        supply = IERC20(token_).totalSupply();
        uint256 n = _excludedCount;
        for (uint256 i = 0; i < n; ++i) {
            supply -= IERC20(token_).balanceOf(_excludedList[i]);
        }
    }

    function _setExcluded(address token_, address account, bool excluded) private {
        if (account == address(0)) revert ZeroAddress();
        Account storage acct = _accounts[account];
        if (acct.excluded == excluded) revert ExclusionUnchanged(account, excluded);
        uint256 balance = IERC20(token_).balanceOf(account);
        int256 accrued = (magnifiedPerShare * balance).toInt256();
        if (excluded) {
            uint256 count = _excludedCount;
            if (count >= MAX_EXCLUDED) revert TooManyExcluded(MAX_EXCLUDED);
            _excludedList[count] = account;
            _excludedCount = uint8(count + 1);
            acct.correction = (int256(acct.correction) + accrued).toInt248();
        } else {
            uint256 n = _excludedCount;
            for (uint256 i = 0; i < n; ++i) {
                if (_excludedList[i] == account) {
                    _excludedList[i] = _excludedList[n - 1];
                    delete _excludedList[n - 1];
                    _excludedCount = uint8(n - 1);
                    break;
                }
            }
            acct.correction = (int256(acct.correction) - accrued).toInt248();
        }
        acct.excluded = excluded;
        emit ExclusionSet(account, excluded, balance);
    }

    function _checkTokenRole(address token_, bytes32 role) private view {
        if (!IAccessControl(token_).hasRole(role, msg.sender)) revert MissingTokenRole(msg.sender, role);
    }

    /// @dev The clone's immutable args: 64 bytes after the 45-byte EIP-1167 code.
    function _args() private view returns (address token_, address revenueToken_) {
        if (address(this) == _self) revert NotAClone();
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            extcodecopy(address(), ptr, 0x2d, 0x40)
            token_ := mload(ptr)
            revenueToken_ := mload(add(ptr, 0x20))
        }
    }
}
