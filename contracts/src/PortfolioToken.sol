// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {ERC20Upgradeable} from "@openzeppelin/contracts-upgradeable/token/ERC20/ERC20Upgradeable.sol";
import {ERC20PermitUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20PermitUpgradeable.sol";
import {ERC20VotesUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/ERC20VotesUpgradeable.sol";
import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {NoncesUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/NoncesUpgradeable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";

/// @title PortfolioToken
/// @notice The security-like ERC-20 of one portfolio (ERC20Permit + ERC20Votes) with its revenue
/// share built in. Deployed as an EIP-1167 clone by PortfolioFactory.
///
/// ## Transfers
/// Every balance change goes through `_update`, which (1) rejects it while paused, (2) asks the
/// ComplianceRegistry and reverts with `TransferRestricted(code)` on a non-zero restriction code
/// (mints check only the recipient, burns nothing: a burn is an issuer action that must work on a
/// frozen wallet), (3) moves balances and votes, (4) corrects the revenue accounting of both parties.
/// Gas: the registry is an immutable of the implementation (shared by every clone) and the pause and
/// revenue flags share one slot with the revenue-token address, so the hook reads one slot of its own.
///
/// Freezing a wallet lives in the registry (one freeze covers every token). AGENT_ROLE here: pause /
/// unpause and `forcedTransfer` (wallet recovery), which ignores the pause and every sender-side
/// rule (frozen, lockup, expired KYC, blocked country) but requires the recipient to pass the same
/// checks as a mint recipient, so even an agent cannot place tokens with an uncleared holder.
///
/// ## Revenue share (built in rather than a separate distributor — why)
/// A separate distributor clone costs every transfer two extra cold proxy hops (≈ 5.2k gas) plus an
/// authentication read, and every claim a cross-contract `balanceOf` through the token's proxy
/// (≈ 5k); inside the token the claim stays under 60k gas and the hook is one internal call. The code
/// size stays under the 24 KiB limit. One revenue asset per token (any ERC-20, e.g. USDC), set at
/// initialisation (zero disables revenue).
///
/// Accounting for a holder h that is not excluded (M = 2**128, magnified dividend-per-share):
///   claimableMagnified(h) = magnifiedPerShare * balance(h) + correction(h)
/// A deposit of D (the balance delta actually received: fee-on-transfer safe) with eligible supply S
/// adds floor((D*M + leftover) / S) to magnifiedPerShare and keeps the remainder as `leftover`, so
/// the pool never loses a fraction. A balance change of x moves magnifiedPerShare * x into the
/// corrections, a claim of p subtracts p*M: deposit, claim and transfer are O(1) whatever the number
/// of holders. Σ claimed + Σ claimable ≤ Σ deposited; what nobody can claim is each holder's
/// fractional part (< 1 base unit per holder) plus leftover / M (< 1 unit).
///
/// Excluded addresses (round escrow, treasury; at most MAX_EXCLUDED) accrue nothing and their
/// balances are subtracted from the eligible supply at deposit time (a bounded loop). On exclusion
/// the account's claimable amount is frozen into its correction (still claimable); on re-inclusion
/// it restarts from the current accumulator. Before the first deposit the accumulator is zero, so
/// transfers skip the corrections entirely (`revenueActive`).
///
/// Dust: after `dustSweepDelay` seconds without a deposit, ISSUER_ROLE may sweep the balance above
/// what holders can still claim at most (`totalDeposited - totalClaimed`), i.e. revenue tokens sent
/// without `deposit` and the pool remainder. Holders' sub-unit fractions stay reserved: telling them
/// apart from claimable revenue would need a loop over holders.
contract PortfolioToken is
    Initializable,
    ERC20Upgradeable,
    ERC20PermitUpgradeable,
    ERC20VotesUpgradeable,
    AccessControlUpgradeable,
    ReentrancyGuardTransient
{
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SafeCast for int256;

    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice The platform (governance): role admin of AGENT_ROLE and of itself, so the creator
    /// (DEFAULT_ADMIN_ROLE) can neither appoint nor remove the agent that can force transfers.
    bytes32 public constant PLATFORM_ROLE = keccak256("PLATFORM_ROLE");

    /// @notice Fixed-point scale of `magnifiedPerShare`.
    uint256 public constant MAGNITUDE = 2 ** 128;
    /// @notice Largest total supply (2^96 base units = 79e9 whole tokens). With MAX_PER_SHARE it
    /// keeps every correction (magnifiedPerShare × amount) inside int248, so no transfer can ever
    /// revert on an accounting overflow.
    uint256 public constant SUPPLY_LIMIT = 2 ** 96;
    /// @notice Largest accumulator a deposit may reach (2^150: ≥ 4M revenue base units per token
    /// base unit). A deposit beyond it (only possible on an absurdly small eligible supply) reverts.
    uint256 public constant MAX_PER_SHARE = 2 ** 150;
    /// @notice Upper bound on excluded addresses (bounds the eligible-supply loop of `deposit`).
    uint256 public constant MAX_EXCLUDED = 8;
    /// @notice Bounds on `dustSweepDelay`: at least a day, at most ten years.
    uint32 public constant MIN_DUST_SWEEP_DELAY = 1 days;
    uint32 public constant MAX_DUST_SWEEP_DELAY = 3650 days;

    /// @notice The compliance registry every transfer is checked against.
    IComplianceRegistry public immutable registry;

    /// @notice `initialize` parameters.
    /// @param name ERC-20 name (also the EIP-712 domain name for permits).
    /// @param symbol ERC-20 symbol.
    /// @param cap maximum total supply in base units, 0 for none (SUPPLY_LIMIT applies anyway).
    /// @param admin DEFAULT_ADMIN_ROLE: grants and revokes roles, manages revenue exclusions.
    /// @param platform PLATFORM_ROLE: administers AGENT_ROLE (0 = `admin`, for the short form only).
    /// @param agent AGENT_ROLE: pause, forced transfer, move a lost wallet's revenue (0 = later).
    /// @param issuers ISSUER_ROLE: mint, burn, sweep revenue dust (e.g. the funding round, the creator).
    /// @param revenueToken ERC-20 the revenue is paid in; 0 disables the revenue share.
    /// @param dustSweepDelay seconds after the last deposit before dust may be swept (ignored if no revenue).
    /// @param excluded addresses that never accrue revenue (treasury, round escrow), ≤ MAX_EXCLUDED.
    struct InitParams {
        string name;
        string symbol;
        uint256 cap;
        address admin;
        address platform;
        address agent;
        address[] issuers;
        address revenueToken;
        uint32 dustSweepDelay;
        address[] excluded;
    }

    struct Account {
        int248 correction; // magnified; for an excluded account: its frozen claimable amount
        bool excluded;
    }

    /// @custom:storage-location erc7201:kogi.storage.PortfolioToken
    struct TokenStorage {
        // slot 0 — read by every transfer (flags) and every claim / deposit (revenue token)
        address revenueToken;
        bool paused;
        bool revenueActive; // true from the first deposit that raised the accumulator
        uint8 excludedCount;
        uint40 lastDepositAt;
        uint32 dustSweepDelay;
        // other slots
        uint256 cap; // 0 = uncapped
        uint256 magnifiedPerShare;
        uint256 magnifiedLeftover;
        uint128 totalDeposited; // credited amounts (after any transfer fee)
        uint128 totalClaimed;
        address[MAX_EXCLUDED] excluded;
        mapping(address holder => Account) accounts;
    }

    // keccak256(abi.encode(uint256(keccak256("kogi.storage.PortfolioToken")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant TOKEN_STORAGE = 0x837f90e18966638d5d3e1076f613ae3b62179ac8ffa643f54daa6946ea869b00;

    // ----------------------------------------------------------------- errors

    /// @notice The registry returned a non-zero restriction code (see IComplianceRegistry).
    error TransferRestricted(uint8 code);
    /// @notice Transfers, mints and burns are paused.
    error TokenPaused();
    /// @notice `pause` while paused or `unpause` while not paused.
    error PauseStateUnchanged(bool paused);
    /// @notice A mint would push the supply above the cap (or above SUPPLY_LIMIT).
    error CapExceeded(uint256 cap, uint256 supplyAfterMint);
    /// @notice The deposit would raise magnifiedPerShare above MAX_PER_SHARE (eligible supply too small).
    error RevenuePerTokenTooHigh(uint256 magnifiedPerShare, uint256 max);
    /// @notice Zero address where a party is required.
    error ZeroAddress();
    /// @notice This token has no revenue share (revenue token 0).
    error RevenueDisabled();
    error ZeroAmount();
    /// @notice No non-excluded holder: a deposit would be lost.
    error NoEligibleSupply();
    error NothingToClaim(address holder);
    error TooManyExcluded(uint256 max);
    error ExclusionUnchanged(address account, bool excluded);
    error SweepTooEarly(uint256 notBefore);
    error NothingToSweep();
    error DelayOutOfRange(uint32 delay, uint32 min, uint32 max);

    // ----------------------------------------------------------------- events

    /// @notice Transfers paused by `agent`.
    event Paused(address indexed agent);
    /// @notice Transfers resumed by `agent`.
    event Unpaused(address indexed agent);
    /// @notice An agent moved `amount` from `from` to `to` outside the normal rules (recovery).
    /// A `Transfer` event with the same parties and amount is emitted as well.
    event ForcedTransfer(address indexed agent, address indexed from, address indexed to, uint256 amount);
    /// @notice `amountCredited` revenue (balance delta of this contract) entered the pool.
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

    /// @param registry_ the ComplianceRegistry shared by every clone of this implementation.
    constructor(IComplianceRegistry registry_) {
        if (address(registry_) == address(0)) revert ZeroAddress();
        registry = registry_;
        _disableInitializers();
    }

    /// @notice Set up a clone (called by the factory in the clone's deploy transaction).
    function initialize(InitParams calldata p) external initializer {
        _initialize(p);
    }

    /// @notice Short form without exclusions, kept for callers of the earlier 7-argument API
    /// (test helpers): `revenueToken_` 0 = no revenue share, else a 30-day dust-sweep delay; `admin`
    /// is also the platform (PLATFORM_ROLE). The factory uses the struct form with a distinct platform.
    function initialize(
        string memory name_,
        string memory symbol_,
        uint256 cap_,
        address revenueToken_,
        address admin,
        address agent,
        address[] memory issuers
    ) external initializer {
        // slither-disable-next-line uninitialized-local (filled field by field below: avoids stack-too-deep)
        InitParams memory p;
        p.name = name_;
        p.symbol = symbol_;
        p.cap = cap_;
        p.admin = admin;
        p.agent = agent;
        p.issuers = issuers;
        p.revenueToken = revenueToken_;
        p.dustSweepDelay = 30 days;
        _initialize(p);
    }

    function _initialize(InitParams memory p) private {
        if (p.admin == address(0)) revert ZeroAddress();
        __ERC20_init(p.name, p.symbol);
        // ERC20Permit: the EIP-712 name and version come from `_EIP712Name` / `_EIP712Version`
        // below instead of two more storage strings (saves ~44k gas per clone).
        __ERC20Votes_init();
        __AccessControl_init();
        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);
        _setRoleAdmin(PLATFORM_ROLE, PLATFORM_ROLE);
        _setRoleAdmin(AGENT_ROLE, PLATFORM_ROLE);
        _grantRole(PLATFORM_ROLE, p.platform == address(0) ? p.admin : p.platform);
        if (p.agent != address(0)) _grantRole(AGENT_ROLE, p.agent);
        for (uint256 i = 0; i < p.issuers.length; ++i) {
            if (p.issuers[i] == address(0)) revert ZeroAddress();
            _grantRole(ISSUER_ROLE, p.issuers[i]);
        }
        TokenStorage storage $ = _tokenStorage();
        if (p.cap != 0) $.cap = p.cap;
        if (p.revenueToken != address(0)) {
            if (p.dustSweepDelay < MIN_DUST_SWEEP_DELAY || p.dustSweepDelay > MAX_DUST_SWEEP_DELAY) {
                revert DelayOutOfRange(p.dustSweepDelay, MIN_DUST_SWEEP_DELAY, MAX_DUST_SWEEP_DELAY);
            }
            $.revenueToken = p.revenueToken;
            $.dustSweepDelay = p.dustSweepDelay;
            for (uint256 i = 0; i < p.excluded.length; ++i) {
                _setExcluded($, p.excluded[i], true);
            }
        }
    }

    // ------------------------------------------------------------ token views

    /// @notice Maximum total supply (0 = uncapped).
    function cap() external view returns (uint256) {
        return _tokenStorage().cap;
    }

    /// @notice Whether transfers, mints and burns are paused.
    function paused() external view returns (bool) {
        return _tokenStorage().paused;
    }

    /// @notice Pre-check a transfer: the restriction code `transfer` would revert with (0 = allowed).
    function detectTransferRestriction(address from, address to, uint256 amount) external view returns (uint8) {
        return registry.detectTransferRestriction(address(this), from, to, amount);
    }

    // ---------------------------------------------------------------- issuer

    /// @notice Mint `amount` to `to` (ISSUER_ROLE). The recipient must pass the registry checks.
    function mint(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        uint256 cap_ = _tokenStorage().cap;
        if (cap_ == 0 || cap_ > SUPPLY_LIMIT) cap_ = SUPPLY_LIMIT;
        uint256 supplyAfter = totalSupply() + amount;
        if (supplyAfter > cap_) revert CapExceeded(cap_, supplyAfter);
        _mint(to, amount);
    }

    /// @notice Burn `amount` from `from` (ISSUER_ROLE), e.g. a redemption. No registry check:
    /// burning from a frozen wallet is allowed (the issuer is the only party able to burn).
    function burn(address from, uint256 amount) external onlyRole(ISSUER_ROLE) {
        _burn(from, amount);
    }

    // ----------------------------------------------------------------- agent

    /// @notice Move tokens from a lost or compromised wallet to a replacement (AGENT_ROLE).
    /// Ignores the pause and the sender-side rules; the recipient must pass the mint checks.
    /// Revenue already earned stays claimable by `from` (see `moveClaimable`).
    function forcedTransfer(address from, address to, uint256 amount) external onlyRole(AGENT_ROLE) {
        if (from == address(0) || to == address(0)) revert ZeroAddress();
        uint8 code = registry.detectTransferRestriction(address(this), address(0), to, amount);
        if (code != 0) revert TransferRestricted(code);
        emit ForcedTransfer(msg.sender, from, to, amount);
        _move(from, to, amount, _tokenStorage().revenueActive);
    }

    /// @notice Stop every transfer, mint and burn (AGENT_ROLE). Forced transfers still work.
    function pause() external onlyRole(AGENT_ROLE) {
        TokenStorage storage $ = _tokenStorage();
        if ($.paused) revert PauseStateUnchanged(true);
        $.paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Resume transfers (AGENT_ROLE).
    function unpause() external onlyRole(AGENT_ROLE) {
        TokenStorage storage $ = _tokenStorage();
        if (!$.paused) revert PauseStateUnchanged(false);
        $.paused = false;
        emit Unpaused(msg.sender);
    }

    // ---------------------------------------------------------- revenue views

    /// @notice The ERC-20 revenue is paid in (0 = no revenue share).
    function revenueToken() external view returns (address) {
        return _tokenStorage().revenueToken;
    }

    /// @notice Revenue per token base unit, times MAGNITUDE, accumulated over every deposit.
    function magnifiedPerShare() external view returns (uint256) {
        return _tokenStorage().magnifiedPerShare;
    }

    /// @notice Sum of credited deposits and of claims, in revenue-token base units.
    function revenueTotals() external view returns (uint256 deposited, uint256 claimed) {
        TokenStorage storage $ = _tokenStorage();
        return ($.totalDeposited, $.totalClaimed);
    }

    /// @notice Time of the last deposit and the dust-sweep delay after it (seconds).
    function dustSweepSchedule() external view returns (uint256 lastDepositAt, uint256 delay) {
        TokenStorage storage $ = _tokenStorage();
        return ($.lastDepositAt, $.dustSweepDelay);
    }

    /// @notice Revenue `holder` can claim now, in revenue-token base units.
    function claimable(address holder) external view returns (uint256) {
        TokenStorage storage $ = _tokenStorage();
        return _claimableMagnified($, holder) / MAGNITUDE;
    }

    /// @notice Token supply that accrues revenue: total supply minus excluded balances.
    function eligibleSupply() external view returns (uint256) {
        return _eligibleSupply(_tokenStorage());
    }

    /// @notice Whether `account` is excluded from revenue accrual.
    function isExcluded(address account) external view returns (bool) {
        return _tokenStorage().accounts[account].excluded;
    }

    /// @notice The excluded addresses.
    function excludedAccounts() external view returns (address[] memory accounts) {
        TokenStorage storage $ = _tokenStorage();
        uint256 n = $.excludedCount;
        accounts = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            accounts[i] = $.excluded[i];
        }
    }

    /// @notice Magnified revenue correction of `holder` (for auditors and the indexer).
    function correctionOf(address holder) external view returns (int256) {
        return _tokenStorage().accounts[holder].correction;
    }

    /// @notice Amount `sweepDust` would send now (ignoring the delay).
    function sweepableDust() public view returns (uint256) {
        TokenStorage storage $ = _tokenStorage();
        if ($.revenueToken == address(0)) return 0;
        uint256 balance = IERC20($.revenueToken).balanceOf(address(this));
        uint256 reserved = uint256($.totalDeposited) - $.totalClaimed - $.magnifiedLeftover / MAGNITUDE;
        return balance > reserved ? balance - reserved : 0;
    }

    // -------------------------------------------------------- revenue actions

    /// @notice Deposit `amount` of revenue (pulled with transferFrom; approve first). Only the
    /// amount actually received is credited, so fee-on-transfer tokens cannot over-credit.
    /// Anyone may deposit. Reverts with NoEligibleSupply when no non-excluded holder exists.
    function deposit(uint256 amount) external nonReentrant {
        TokenStorage storage $ = _tokenStorage();
        IERC20 revenue = IERC20($.revenueToken);
        if (address(revenue) == address(0)) revert RevenueDisabled();
        if (amount == 0) revert ZeroAmount();
        uint256 supply = _eligibleSupply($);
        // slither-disable-next-line incorrect-equality (exact zero test of a supply, not a balance race)
        if (supply == 0) revert NoEligibleSupply();
        uint256 balanceBefore = revenue.balanceOf(address(this));
        revenue.safeTransferFrom(msg.sender, address(this), amount);
        uint256 credited = revenue.balanceOf(address(this)) - balanceBefore;
        // slither-disable-next-line incorrect-equality (exact zero test of the credited delta)
        if (credited == 0) revert ZeroAmount();
        uint256 magnified = credited.toUint128() * MAGNITUDE + $.magnifiedLeftover;
        uint256 perShare = $.magnifiedPerShare + magnified / supply;
        if (perShare > MAX_PER_SHARE) revert RevenuePerTokenTooHigh(perShare, MAX_PER_SHARE);
        $.magnifiedPerShare = perShare;
        $.magnifiedLeftover = magnified % supply;
        $.totalDeposited = (uint256($.totalDeposited) + credited).toUint128();
        $.lastDepositAt = uint40(block.timestamp);
        if (perShare != 0) $.revenueActive = true; // same slot as lastDepositAt: no extra write
        emit RevenueDeposited(msg.sender, amount, credited, supply, perShare);
    }

    /// @notice Pay the caller everything it can claim (pull).
    function claim() external nonReentrant returns (uint256 amount) {
        TokenStorage storage $ = _tokenStorage();
        Account storage account = $.accounts[msg.sender];
        int256 correction = account.correction; // one SLOAD: correction and excluded flag share it
        int256 magnified = correction;
        if (!account.excluded) magnified += ($.magnifiedPerShare * balanceOf(msg.sender)).toInt256();
        // slither-disable-next-line divide-before-multiply (intended: pay whole base units, keep the fraction)
        amount = magnified > 0 ? uint256(magnified) / MAGNITUDE : 0;
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount)
        if (amount == 0) revert NothingToClaim(msg.sender);
        // slither-disable-next-line divide-before-multiply (intended: pay whole base units, keep the fraction)
        account.correction = (correction - int256(amount * MAGNITUDE)).toInt248();
        $.totalClaimed += uint128(amount); // amount <= totalDeposited - totalClaimed: fits
        emit RevenueClaimed(msg.sender, amount);
        IERC20($.revenueToken).safeTransfer(msg.sender, amount);
    }

    /// @notice Exclude `account` from (or re-include it in) revenue accrual (DEFAULT_ADMIN_ROLE).
    function setExcluded(address account, bool excluded_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        TokenStorage storage $ = _tokenStorage();
        if ($.revenueToken == address(0)) revert RevenueDisabled();
        _setExcluded($, account, excluded_);
    }

    /// @notice Move the claimable revenue of a lost wallet to its replacement (AGENT_ROLE), the
    /// companion of `forcedTransfer`. Sub-unit fractions stay with `from`.
    function moveClaimable(address from, address to) external onlyRole(AGENT_ROLE) {
        if (from == address(0) || to == address(0)) revert ZeroAddress();
        TokenStorage storage $ = _tokenStorage();
        // slither-disable-next-line divide-before-multiply (intended: move whole base units, keep the fraction)
        uint256 amount = _claimableMagnified($, from) / MAGNITUDE;
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount)
        if (amount == 0) revert NothingToClaim(from);
        // slither-disable-next-line divide-before-multiply (intended: move whole base units, keep the fraction)
        int248 magnified = (amount * MAGNITUDE).toInt256().toInt248();
        $.accounts[from].correction -= magnified;
        $.accounts[to].correction += magnified;
        emit ClaimableMoved(msg.sender, from, to, amount);
    }

    /// @notice Send the surplus above what holders can still claim to `to` (ISSUER_ROLE), only
    /// once `dustSweepDelay` seconds have passed since the last deposit.
    function sweepDust(address to) external onlyRole(ISSUER_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        TokenStorage storage $ = _tokenStorage();
        if ($.revenueToken == address(0)) revert RevenueDisabled();
        uint256 notBefore = uint256($.lastDepositAt) + $.dustSweepDelay;
        if (block.timestamp < notBefore) revert SweepTooEarly(notBefore);
        uint256 amount = sweepableDust();
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount)
        if (amount == 0) revert NothingToSweep();
        emit DustSwept(to, amount, msg.sender);
        IERC20($.revenueToken).safeTransfer(to, amount);
    }

    // ------------------------------------------------------------- internals

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20Upgradeable, ERC20VotesUpgradeable)
    {
        TokenStorage storage $ = _tokenStorage();
        bool revenueActive = $.revenueActive; // same slot as `paused`: one SLOAD
        if ($.paused) revert TokenPaused();
        if (to != address(0)) {
            uint8 code = registry.detectTransferRestriction(address(this), from, to, value);
            if (code != 0) revert TransferRestricted(code);
        }
        _move(from, to, value, revenueActive);
    }

    /// @dev Balances + votes, then the revenue corrections. Shared by `_update` and `forcedTransfer`.
    function _move(address from, address to, uint256 value, bool revenueActive) private {
        super._update(from, to, value);
        if (!revenueActive) return; // accumulator still zero: every correction would be zero
        TokenStorage storage $ = _tokenStorage();
        int248 delta = ($.magnifiedPerShare * value).toInt256().toInt248();
        if (from != address(0)) {
            Account storage sender = $.accounts[from];
            if (!sender.excluded) sender.correction += delta;
        }
        if (to != address(0)) {
            Account storage recipient = $.accounts[to];
            if (!recipient.excluded) recipient.correction -= delta;
        }
    }

    function _claimableMagnified(TokenStorage storage $, address holder) private view returns (uint256) {
        Account memory account = $.accounts[holder];
        int256 magnified = account.correction;
        if (!account.excluded) {
            magnified += ($.magnifiedPerShare * balanceOf(holder)).toInt256();
        }
        return magnified > 0 ? uint256(magnified) : 0;
    }

    function _eligibleSupply(TokenStorage storage $) private view returns (uint256 supply) {
        supply = totalSupply();
        uint256 n = $.excludedCount;
        for (uint256 i = 0; i < n; ++i) {
            supply -= balanceOf($.excluded[i]);
        }
    }

    function _setExcluded(TokenStorage storage $, address account, bool excluded_) private {
        if (account == address(0)) revert ZeroAddress();
        Account storage acct = $.accounts[account];
        if (acct.excluded == excluded_) revert ExclusionUnchanged(account, excluded_);
        uint256 balance = balanceOf(account);
        int256 accrued = ($.magnifiedPerShare * balance).toInt256();
        uint256 n = $.excludedCount;
        if (excluded_) {
            if (n >= MAX_EXCLUDED) revert TooManyExcluded(MAX_EXCLUDED);
            $.excluded[n] = account;
            $.excludedCount = uint8(n + 1);
            acct.correction = (int256(acct.correction) + accrued).toInt248();
        } else {
            for (uint256 i = 0; i < n; ++i) {
                if ($.excluded[i] == account) {
                    $.excluded[i] = $.excluded[n - 1];
                    delete $.excluded[n - 1];
                    $.excludedCount = uint8(n - 1);
                    break;
                }
            }
            acct.correction = (int256(acct.correction) - accrued).toInt248();
        }
        acct.excluded = excluded_;
        emit ExclusionSet(account, excluded_, balance);
    }

    function _tokenStorage() private pure returns (TokenStorage storage $) {
        assembly {
            $.slot := TOKEN_STORAGE
        }
    }

    /// @dev EIP-712 domain name = the token name (no separate storage copy).
    function _EIP712Name() internal view override returns (string memory) {
        return name();
    }

    /// @dev EIP-712 domain version, constant.
    function _EIP712Version() internal pure override returns (string memory) {
        return "1";
    }

    /// @inheritdoc ERC20PermitUpgradeable
    function nonces(address owner) public view override(ERC20PermitUpgradeable, NoncesUpgradeable) returns (uint256) {
        return super.nonces(owner);
    }
}
