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
import {IAllocationRound} from "./interfaces/IAllocationRound.sol";
import {IRoundToken} from "./interfaces/IRoundToken.sol";
import {ZeroAddress} from "./lib/Errors.sol";

/// @title PortfolioToken
/// @notice The security-like ERC-20 of one portfolio (ERC20Permit + ERC20Votes) with its revenue
/// share built in. Deployed as an EIP-1167 clone by PortfolioFactory.
///
/// ## Transfers
/// Every balance change goes through `_update`, which (1) rejects it while paused, (2) asks the
/// ComplianceRegistry and reverts with `TransferRestricted(code)` on a non-zero restriction code
/// (mints check only the recipient, burns nothing: a burn needs the holder's own signature or
/// allowance and must work on a frozen wallet), (3) moves balances and votes, (4) corrects the revenue accounting of both parties.
/// Gas: the registry is an immutable of the implementation (shared by every clone) and the pause and
/// revenue flags share one slot with the revenue-token address, so the hook reads one slot of its own.
///
/// Freezing a wallet lives in the registry (one freeze covers every token). AGENT_ROLE here: pause /
/// unpause and *proposing* a recovery (a forced transfer of a lost or seized wallet's tokens and
/// revenue). A recovery needs two platform keys and a delay: the agent proposes it (reason code,
/// recipient that passes the mint checks), the holder sees it (`RecoveryProposed`, `recoveryRequest`),
/// and only after `recoveryDelay` (≥ 48 h) can a RECOVERY_APPROVER_ROLE holder other than the proposer
/// execute it; either platform key or the platform can cancel it meanwhile. Neither role can be held
/// by the creator (an account with DEFAULT_ADMIN_ROLE or ISSUER_ROLE), and both are administered by
/// PLATFORM_ROLE. Why not OpenZeppelin's AccessManager: its scheduled operations hide the transfer
/// inside opaque calldata (a holder would have to decode it to see they are the target), it adds a
/// cross-contract call to every restricted function and a singleton that every clone trusts, and it
/// cannot express "executor ≠ proposer"; a dedicated request record states who, to whom, how much
/// and why, in an event indexed by the holder.
///
/// ## Funding rounds: allocations are reserved, then minted into the round
/// A round attached to the token (by the factory at creation, later by PLATFORM_ROLE; one open at a
/// time) reserves its maximum allocation against the cap: the creator's `mint` can never take the
/// room investors may buy. Once the round's outcome is known (`syncRound`, run by anyone and by
/// every deposit, creator mint, claim and refund), a sold round's whole allocation is minted into the
/// round and revenue accrues on it from that moment; a void round frees its reservation. Each
/// investor's `claimTokens` moves their allocation out of the round *with* the revenue it earned
/// since (the round's accumulator at minting is kept, `allocationPerShare`), so early and late
/// claimers are treated alike. Only an attached round can deliver or take back allocations; the
/// creator cannot revoke that, and a pause does not block it.
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
/// Dust: at most once per `dustSweepDelay` seconds (counted from initialisation, then from the last
/// sweep; deposits do not move the clock, so a 1-unit deposit cannot postpone it), ISSUER_ROLE may
/// sweep the balance above what holders can still claim at most (`totalDeposited - totalClaimed`),
/// i.e. revenue tokens sent without `deposit` and the pool remainder. Holders' sub-unit fractions stay
/// reserved: telling them apart from claimable revenue would need a loop over holders.
///
/// Revenue claims check the holder like a mint recipient: a frozen, KYC-expired or blocked wallet
/// accrues but cannot claim (a lapsed accreditation does not block a claim); recovery moves it.
contract PortfolioToken is
    Initializable,
    ERC20Upgradeable,
    ERC20PermitUpgradeable,
    ERC20VotesUpgradeable,
    AccessControlUpgradeable,
    ReentrancyGuardTransient,
    IRoundToken
{
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using SafeCast for int256;

    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");
    /// @notice The platform (governance): role admin of AGENT_ROLE and of itself, so the creator
    /// (DEFAULT_ADMIN_ROLE) can neither appoint nor remove the agent that can force transfers.
    bytes32 public constant PLATFORM_ROLE = keccak256("PLATFORM_ROLE");
    /// @notice Executes a recovery another key proposed, after the delay (a platform key; never the creator).
    bytes32 public constant RECOVERY_APPROVER_ROLE = keccak256("RECOVERY_APPROVER_ROLE");

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
    /// @notice Bounds on `recoveryDelay`: a holder gets at least two days to see a recovery coming.
    uint32 public constant MIN_RECOVERY_DELAY = 48 hours;
    uint32 public constant MAX_RECOVERY_DELAY = 30 days;
    /// @notice `IAllocationRound.allocationStatus` values.
    uint8 private constant ALLOCATION_OPEN = 0;
    uint8 private constant ALLOCATION_SOLD = 1;
    /// @notice `investorRestriction` code for a caller that is not the token's open round.
    uint8 private constant NOT_ATTACHED = 255;
    /// @notice Link of a round to this token (`roundLink` status): 0 none, 1 open, 2 sold, 3 void.
    uint8 private constant ROUND_NONE = 0;
    uint8 private constant ROUND_OPEN = 1;
    uint8 private constant ROUND_SOLD = 2;
    uint8 private constant ROUND_VOID = 3;
    /// @notice Recovery request states (`recoveryRequest` status): 1 pending, 2 executed, 3 cancelled.
    uint8 private constant RECOVERY_PENDING = 1;
    uint8 private constant RECOVERY_EXECUTED = 2;
    uint8 private constant RECOVERY_CANCELLED = 3;

    /// @dev IComplianceRegistry restriction code that does not block a revenue claim.
    uint8 private constant RECIPIENT_NOT_ACCREDITED = 8;

    /// @notice The compliance registry every transfer is checked against.
    IComplianceRegistry public immutable registry;

    /// @notice `initialize` parameters.
    /// @param name ERC-20 name (also the EIP-712 domain name for permits).
    /// @param symbol ERC-20 symbol.
    /// @param cap maximum total supply in base units, 0 for none (SUPPLY_LIMIT applies anyway).
    /// @param admin DEFAULT_ADMIN_ROLE (the creator): grants and revokes ISSUER_ROLE and itself.
    /// @param platform PLATFORM_ROLE: administers AGENT_ROLE and RECOVERY_APPROVER_ROLE, attaches
    ///        rounds, manages revenue exclusions; non-zero.
    /// @param agent AGENT_ROLE: pause, propose recoveries (0 = later).
    /// @param recoveryApprover RECOVERY_APPROVER_ROLE: execute recoveries (0 = later).
    /// @param recoveryDelay seconds between a recovery's proposal and its execution (within bounds).
    /// @param issuers ISSUER_ROLE: mint within the cap left by round reservations, sweep revenue dust.
    /// @param round funding round to attach (reserves its maximum allocation on the cap), or 0.
    /// @param revenueToken ERC-20 the revenue is paid in; 0 disables the revenue share.
    /// @param dustSweepDelay minimum seconds between two dust sweeps, the first counted from initialisation (ignored if no revenue).
    /// @param excluded addresses that never accrue revenue (treasury, round escrow), ≤ MAX_EXCLUDED.
    struct InitParams {
        string name;
        string symbol;
        uint256 cap;
        address admin;
        address platform;
        address agent;
        address recoveryApprover;
        uint32 recoveryDelay;
        address[] issuers;
        address round;
        address revenueToken;
        uint32 dustSweepDelay;
        address[] excluded;
    }

    struct Account {
        int248 correction; // magnified; for an excluded account: its frozen claimable amount
        bool excluded;
    }

    /// @notice A round's link to the token and the accumulator when its allocation was minted.
    struct RoundLink {
        uint8 status; // ROUND_*
        uint248 allocationPerShare;
    }

    /// @notice A proposed forced transfer of `amount` tokens (and, with `withRevenue`, the whole
    /// claimable revenue) from `from` to `to`, executable from `executableAt` by an approver other
    /// than `proposer`.
    struct RecoveryRequest {
        address from;
        uint64 executableAt;
        uint8 status; // RECOVERY_*
        bool withRevenue;
        address to;
        address proposer;
        uint256 amount;
        bytes32 reason;
    }

    /// @custom:storage-location erc7201:kogi.storage.PortfolioToken
    struct TokenStorage {
        // slot 0 — read by every transfer (flags) and every claim / deposit (revenue token)
        address revenueToken;
        bool paused;
        bool revenueActive; // true from the first deposit that raised the accumulator
        uint8 excludedCount;
        uint40 sweepClockAt; // initialisation, then the last sweep
        uint32 dustSweepDelay;
        // other slots
        uint256 cap; // 0 = uncapped
        uint256 magnifiedPerShare;
        uint256 magnifiedLeftover;
        uint128 totalDeposited; // credited amounts (after any transfer fee)
        uint128 totalClaimed;
        address[MAX_EXCLUDED] excluded;
        mapping(address holder => Account) accounts;
        // funding rounds
        address openRound;
        uint256 reserved; // openRound's maximum allocation, held back from the cap
        mapping(address round => RoundLink) rounds;
        // recovery
        uint32 recoveryDelay;
        uint256 recoveryCount;
        mapping(uint256 id => RecoveryRequest) recoveries;
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
    /// @notice This token has no revenue share (revenue token 0).
    error RevenueDisabled();
    error ZeroAmount();
    /// @notice No non-excluded holder: a deposit would be lost.
    error NoEligibleSupply();
    error NothingToClaim(address holder);
    error TooManyExcluded(uint256 max);
    error ExclusionUnchanged(address account, bool excluded);
    /// @notice Only an account without tokens that is not a verified investor can be excluded.
    error ExclusionNotAllowed(address account);
    error SweepTooEarly(uint256 notBefore);
    error NothingToSweep();
    error DelayOutOfRange(uint32 delay, uint32 min, uint32 max);
    /// @notice The creator (DEFAULT_ADMIN_ROLE or ISSUER_ROLE) and the recovery keys must be different accounts.
    error RoleConflict(address account, bytes32 role);
    /// @notice A round is still open on this token (one at a time).
    error RoundStillOpen(address round);
    /// @notice The round was attached before, sells another token, or is no longer open.
    error RoundNotAttachable(address round);
    /// @notice Only a round whose allocation was minted into it can deliver or take back allocations.
    error NotSoldRound(address caller);
    /// @notice Rounds hold investors' allocations: they cannot be excluded or recovered from.
    error RoundAccount(address round);
    error RecoveryNotPending(uint256 id);
    error RecoveryTooEarly(uint256 id, uint256 executableAt);
    /// @notice The key that proposed a recovery cannot execute it.
    error ProposerCannotExecute(uint256 id, address proposer);
    error InvalidRecovery();
    error NotRecoveryKey(address account);

    // ----------------------------------------------------------------- events

    /// @notice Transfers paused by `agent`.
    event Paused(address indexed agent);
    /// @notice Transfers resumed by `agent`.
    event Unpaused(address indexed agent);
    /// @notice An executed recovery moved `amount` from `from` to `to` outside the normal rules;
    /// `agent` is the approver that executed it. A `Transfer` with the same parties and amount follows.
    event ForcedTransfer(address indexed agent, address indexed from, address indexed to, uint256 amount);
    /// @notice The agent `proposer` asks to move `amount` tokens (and the claimable revenue when
    /// `withRevenue`) from `from` to `to` for `reason`; executable from `executableAt`.
    event RecoveryProposed(
        uint256 indexed id,
        address indexed from,
        address indexed to,
        uint256 amount,
        bool withRevenue,
        bytes32 reason,
        address proposer,
        uint64 executableAt
    );
    /// @notice Recovery `id` was executed by `approver`.
    event RecoveryExecuted(uint256 indexed id, address indexed from, address indexed approver);
    /// @notice Recovery `id` was cancelled by `by`.
    event RecoveryCancelled(uint256 indexed id, address indexed from, address indexed by);
    /// @notice `round` was attached and reserves `reserved` token base units of the cap.
    event RoundAttached(address indexed round, uint256 reserved);
    /// @notice `round` sold: `allocation` was minted into it; revenue accrues on it from `perShare`.
    event RoundAllocationMinted(address indexed round, uint256 allocation, uint256 perShare);
    /// @notice `round` failed or was cancelled before success: its reservation is free again.
    event RoundReservationReleased(address indexed round);
    /// @notice A refund took back `fromRound` undelivered and `fromInvestor` delivered tokens of
    /// `investor`'s allocation from `round` (both burned); `revenueCarried` accrued revenue stayed
    /// claimable by the investor.
    event AllocationReturned(
        address indexed round, address indexed investor, uint256 fromRound, uint256 fromInvestor, uint256 revenueCarried
    );
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

    function _initialize(InitParams calldata p) private {
        if (p.admin == address(0) || p.platform == address(0)) revert ZeroAddress();
        __ERC20_init(p.name, p.symbol);
        // ERC20Permit: the EIP-712 name and version come from `_EIP712Name` / `_EIP712Version`
        // below instead of two more storage strings (saves ~44k gas per clone).
        __ERC20Votes_init();
        __AccessControl_init();
        _grantRole(DEFAULT_ADMIN_ROLE, p.admin);
        _grantRole(PLATFORM_ROLE, p.platform);
        for (uint256 i = 0; i < p.issuers.length; ++i) {
            if (p.issuers[i] == address(0)) revert ZeroAddress();
            _grantRole(ISSUER_ROLE, p.issuers[i]);
        }
        if (p.agent != address(0)) _grantRole(AGENT_ROLE, p.agent);
        if (p.recoveryApprover != address(0)) _grantRole(RECOVERY_APPROVER_ROLE, p.recoveryApprover);
        if (p.recoveryDelay < MIN_RECOVERY_DELAY || p.recoveryDelay > MAX_RECOVERY_DELAY) {
            revert DelayOutOfRange(p.recoveryDelay, MIN_RECOVERY_DELAY, MAX_RECOVERY_DELAY);
        }
        TokenStorage storage $ = _tokenStorage();
        $.recoveryDelay = p.recoveryDelay;
        if (p.cap != 0) $.cap = p.cap;
        if (p.revenueToken != address(0)) {
            if (p.dustSweepDelay < MIN_DUST_SWEEP_DELAY || p.dustSweepDelay > MAX_DUST_SWEEP_DELAY) {
                revert DelayOutOfRange(p.dustSweepDelay, MIN_DUST_SWEEP_DELAY, MAX_DUST_SWEEP_DELAY);
            }
            $.revenueToken = p.revenueToken;
            $.dustSweepDelay = p.dustSweepDelay;
            $.sweepClockAt = uint40(block.timestamp);
            for (uint256 i = 0; i < p.excluded.length; ++i) {
                _setExcluded($, p.excluded[i], true);
            }
        }
        if (p.round != address(0)) _attachRound($, p.round);
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

    /// @notice Mint `amount` to `to` (ISSUER_ROLE). The recipient must pass the registry checks, and
    /// the supply after the mint plus the open round's reservation must stay within the cap.
    function mint(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        TokenStorage storage $ = _tokenStorage();
        _syncRound($);
        uint256 cap_ = _effectiveCap($);
        uint256 supplyAfter = totalSupply() + $.reserved + amount;
        if (supplyAfter > cap_) revert CapExceeded(cap_, supplyAfter);
        _mint(to, amount);
    }

    /// @notice Burn `amount` of `from`'s tokens: `from` itself, or a spender within `from`'s
    /// allowance (e.g. a redemption the holder approved). Nobody can burn a holder's tokens without
    /// the holder's signature; no registry check (a frozen holder may still burn its own).
    function burn(address from, uint256 amount) external {
        if (from != msg.sender) _spendAllowance(from, msg.sender, amount);
        _burn(from, amount);
    }

    // ----------------------------------------------------------------- agent

    /// @notice Propose moving `amount` tokens (and, with `withRevenue`, all whole units of claimable
    /// revenue) from a lost, compromised or seized wallet `from` to `to` (AGENT_ROLE), for `reason`
    /// (a reason code, e.g. keccak256("LOST_KEYS") or a court order reference). `to` must pass the
    /// mint checks now and at execution. Executable after `recoveryDelay` by another key.
    /// @return id The request id (see `recoveryRequest`).
    function proposeRecovery(address from, address to, uint256 amount, bool withRevenue, bytes32 reason)
        external
        onlyRole(AGENT_ROLE)
        returns (uint256 id)
    {
        if (from == address(0) || to == address(0)) revert ZeroAddress();
        if (from == to || (amount == 0 && !withRevenue)) revert InvalidRecovery();
        TokenStorage storage $ = _tokenStorage();
        if ($.rounds[from].status != ROUND_NONE) revert RoundAccount(from);
        _checkRecipient(to, amount);
        id = ++$.recoveryCount;
        uint64 executableAt = uint64(block.timestamp) + $.recoveryDelay;
        $.recoveries[id] = RecoveryRequest({
            from: from,
            executableAt: executableAt,
            status: RECOVERY_PENDING,
            withRevenue: withRevenue,
            to: to,
            proposer: msg.sender,
            amount: amount,
            reason: reason
        });
        emit RecoveryProposed(id, from, to, amount, withRevenue, reason, msg.sender, executableAt);
    }

    /// @notice Execute recovery `id` (RECOVERY_APPROVER_ROLE, not its proposer, after the delay).
    /// Ignores the pause and the sender-side rules; the recipient must pass the mint checks.
    function executeRecovery(uint256 id) external onlyRole(RECOVERY_APPROVER_ROLE) {
        TokenStorage storage $ = _tokenStorage();
        RecoveryRequest storage r = $.recoveries[id];
        if (r.status != RECOVERY_PENDING) revert RecoveryNotPending(id);
        if (block.timestamp < r.executableAt) revert RecoveryTooEarly(id, r.executableAt);
        if (r.proposer == msg.sender) revert ProposerCannotExecute(id, msg.sender);
        // A request dies with its proposer's role: revoking a compromised agent voids its requests.
        if (!hasRole(AGENT_ROLE, r.proposer)) revert RecoveryNotPending(id);
        if ($.rounds[r.from].status != ROUND_NONE) revert RoundAccount(r.from);
        r.status = RECOVERY_EXECUTED;
        (address from, address to, uint256 amount) = (r.from, r.to, r.amount);
        _checkRecipient(to, amount);
        emit RecoveryExecuted(id, from, msg.sender);
        if (amount != 0) {
            emit ForcedTransfer(msg.sender, from, to, amount);
            _move(from, to, amount, $.revenueActive);
        }
        if (r.withRevenue) _moveClaimable($, from, to);
    }

    /// @notice Cancel pending recovery `id` (AGENT_ROLE, RECOVERY_APPROVER_ROLE or PLATFORM_ROLE).
    function cancelRecovery(uint256 id) external {
        if (
            !hasRole(AGENT_ROLE, msg.sender) && !hasRole(RECOVERY_APPROVER_ROLE, msg.sender)
                && !hasRole(PLATFORM_ROLE, msg.sender)
        ) revert NotRecoveryKey(msg.sender);
        RecoveryRequest storage r = _tokenStorage().recoveries[id];
        if (r.status != RECOVERY_PENDING) revert RecoveryNotPending(id);
        r.status = RECOVERY_CANCELLED;
        emit RecoveryCancelled(id, r.from, msg.sender);
    }

    /// @notice Recovery request `id` (status 0 = no such request).
    function recoveryRequest(uint256 id) external view returns (RecoveryRequest memory) {
        return _tokenStorage().recoveries[id];
    }

    /// @notice Number of recovery requests ever proposed (ids are 1..recoveryCount).
    function recoveryCount() external view returns (uint256) {
        return _tokenStorage().recoveryCount;
    }

    /// @notice Seconds between a recovery's proposal and the earliest execution.
    function recoveryDelay() external view returns (uint256) {
        return _tokenStorage().recoveryDelay;
    }

    /// @notice Stop every transfer, mint and burn (AGENT_ROLE). Executed recoveries and allocation
    /// deliveries and returns still work (neither may be blocked by a pause).
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

    // ---------------------------------------------------------------- rounds

    /// @notice Attach funding round `round` (PLATFORM_ROLE), reserving its maximum allocation on the
    /// cap. Only when no other round is open; the round must sell this token and still be open.
    function attachRound(address round) external onlyRole(PLATFORM_ROLE) {
        _attachRound(_tokenStorage(), round);
    }

    /// @inheritdoc IRoundToken
    function investorRestriction(address investor) external view returns (uint8) {
        if (_tokenStorage().openRound != msg.sender) return NOT_ATTACHED;
        return registry.detectTransferRestriction(address(this), address(0), investor, 0);
    }

    /// @inheritdoc IRoundToken
    function syncRound() external {
        _syncRound(_tokenStorage());
    }

    /// @inheritdoc IRoundToken
    /// @dev Ignores the pause (an investor's allocation cannot be blocked), checks the recipient like
    /// a mint, and carries the revenue accrued on `amount` since the round's allocation was minted.
    function deliverAllocation(address investor, uint256 amount) external {
        TokenStorage storage $ = _tokenStorage();
        RoundLink memory link = _soldRoundLink($);
        _checkRecipient(investor, amount);
        super._update(msg.sender, investor, amount);
        if (!$.revenueActive) return;
        int256 base = (uint256(link.allocationPerShare) * amount).toInt256();
        $.accounts[msg.sender].correction += base.toInt248(); // the round's claimable drops by what it carried
        Account storage recipient = $.accounts[investor];
        if (recipient.excluded) {
            recipient.correction += (($.magnifiedPerShare * amount).toInt256() - base).toInt248();
        } else {
            recipient.correction -= base.toInt248();
        }
    }

    /// @inheritdoc IRoundToken
    /// @dev The round calls this only from the investor's own refund. Revenue accrued on the part
    /// taken from the round stays claimable by the investor; delivered tokens keep theirs as usual.
    function returnAllocation(address investor, uint256 fromRound, uint256 fromInvestor) external {
        TokenStorage storage $ = _tokenStorage();
        RoundLink memory link = _soldRoundLink($);
        bool revenueActive = $.revenueActive;
        uint256 carried = 0;
        if (fromRound != 0) {
            super._update(msg.sender, address(0), fromRound);
            if (revenueActive) {
                int256 base = (uint256(link.allocationPerShare) * fromRound).toInt256();
                int256 accrued = ($.magnifiedPerShare * fromRound).toInt256() - base;
                $.accounts[msg.sender].correction += base.toInt248();
                $.accounts[investor].correction += accrued.toInt248();
                carried = uint256(accrued) / MAGNITUDE;
            }
        }
        if (fromInvestor != 0) _move(investor, address(0), fromInvestor, revenueActive);
        emit AllocationReturned(msg.sender, investor, fromRound, fromInvestor, carried);
    }

    /// @notice The round open on this token (0 = none) and the token base units it reserves.
    function openRound() external view returns (address round, uint256 reserved) {
        TokenStorage storage $ = _tokenStorage();
        return ($.openRound, $.reserved);
    }

    /// @notice `round`'s link (ROUND_*) and the accumulator when its allocation was minted.
    function roundLink(address round) external view returns (uint8 status, uint256 allocationPerShare) {
        RoundLink memory link = _tokenStorage().rounds[round];
        return (link.status, link.allocationPerShare);
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

    /// @notice When the dust-sweep clock last started (initialisation or last sweep) and the delay (seconds).
    function dustSweepSchedule() external view returns (uint256 clockStartedAt, uint256 delay) {
        TokenStorage storage $ = _tokenStorage();
        return ($.sweepClockAt, $.dustSweepDelay);
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
        _syncRound($); // a sold round's allocation accrues from now on
        uint256 balanceBefore = revenue.balanceOf(address(this));
        revenue.safeTransferFrom(msg.sender, address(this), amount);
        uint256 credited = revenue.balanceOf(address(this)) - balanceBefore;
        // Read after the transfer: a revenue token with hooks could have moved portfolio tokens.
        uint256 supply = _eligibleSupply($);
        // slither-disable-next-line incorrect-equality (exact zero test of a supply, not a balance race)
        if (supply == 0) revert NoEligibleSupply();
        // slither-disable-next-line incorrect-equality (exact zero test of the credited delta)
        if (credited == 0) revert ZeroAmount();
        uint256 magnified = credited.toUint128() * MAGNITUDE + $.magnifiedLeftover;
        uint256 perShare = $.magnifiedPerShare + magnified / supply;
        if (perShare > MAX_PER_SHARE) revert RevenuePerTokenTooHigh(perShare, MAX_PER_SHARE);
        $.magnifiedPerShare = perShare;
        $.magnifiedLeftover = magnified % supply;
        $.totalDeposited = (uint256($.totalDeposited) + credited).toUint128();
        if (perShare != 0 && !$.revenueActive) $.revenueActive = true;
        emit RevenueDeposited(msg.sender, amount, credited, supply, perShare);
    }

    /// @notice Pay the caller everything it can claim (pull).
    function claim() external nonReentrant returns (uint256 amount) {
        uint8 code = registry.detectTransferRestriction(address(this), address(0), msg.sender, 0);
        if (code != 0 && code != RECIPIENT_NOT_ACCREDITED) revert TransferRestricted(code);
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

    /// @notice Exclude `account` (a platform or escrow account, never an investor) from, or
    /// re-include it in, revenue accrual (PLATFORM_ROLE). Excluding would redirect an investor's
    /// future revenue to the other holders, so only an account that holds no tokens and is not a
    /// verified investor can be excluded; rounds never (their allocation belongs to investors).
    /// Re-inclusion is always allowed.
    function setExcluded(address account, bool excluded_) external onlyRole(PLATFORM_ROLE) {
        TokenStorage storage $ = _tokenStorage();
        if ($.revenueToken == address(0)) revert RevenueDisabled();
        if (excluded_ && (balanceOf(account) != 0 || registry.isVerified(account))) revert ExclusionNotAllowed(account);
        _setExcluded($, account, excluded_);
    }

    /// @notice Send the surplus above what holders can still claim to `to` (ISSUER_ROLE), at most
    /// once per `dustSweepDelay` seconds (the clock starts at initialisation; deposits do not move it).
    function sweepDust(address to) external onlyRole(ISSUER_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        TokenStorage storage $ = _tokenStorage();
        if ($.revenueToken == address(0)) revert RevenueDisabled();
        uint256 notBefore = uint256($.sweepClockAt) + $.dustSweepDelay;
        if (block.timestamp < notBefore) revert SweepTooEarly(notBefore);
        uint256 amount = sweepableDust();
        // slither-disable-next-line incorrect-equality (exact zero test on an integer amount)
        if (amount == 0) revert NothingToSweep();
        $.sweepClockAt = uint40(block.timestamp);
        emit DustSwept(to, amount, msg.sender);
        IERC20($.revenueToken).safeTransfer(to, amount);
    }

    // ------------------------------------------------------------- internals

    function _attachRound(TokenStorage storage $, address round) private {
        if (round == address(0)) revert ZeroAddress();
        _syncRound($);
        if ($.openRound != address(0)) revert RoundStillOpen($.openRound);
        if (
            $.rounds[round].status != ROUND_NONE || $.accounts[round].excluded
                || IAllocationRound(round).token() != address(this)
        ) {
            revert RoundNotAttachable(round);
        }
        (uint8 status, uint256 maxAllocation) = IAllocationRound(round).allocationStatus();
        if (status != ALLOCATION_OPEN) revert RoundNotAttachable(round);
        uint256 cap_ = _effectiveCap($);
        uint256 supplyAfter = totalSupply() + maxAllocation;
        if (supplyAfter > cap_) revert CapExceeded(cap_, supplyAfter);
        $.openRound = round;
        $.reserved = maxAllocation;
        $.rounds[round].status = ROUND_OPEN;
        emit RoundAttached(round, maxAllocation);
    }

    /// @dev Settle the open round once its outcome is known: mint a sold round's allocation into it
    /// (bypassing the pause and the registry: the round is the escrow) or release a void one's reservation.
    function _syncRound(TokenStorage storage $) private {
        address round = $.openRound;
        if (round == address(0)) return;
        (uint8 status, uint256 allocation) = IAllocationRound(round).allocationStatus();
        if (status == ALLOCATION_OPEN) return;
        $.openRound = address(0);
        $.reserved = 0;
        if (status == ALLOCATION_SOLD) {
            uint256 perShare = $.magnifiedPerShare;
            $.rounds[round] = RoundLink({status: ROUND_SOLD, allocationPerShare: uint248(perShare)});
            emit RoundAllocationMinted(round, allocation, perShare);
            if (allocation != 0) _move(address(0), round, allocation, $.revenueActive);
        } else {
            $.rounds[round].status = ROUND_VOID;
            emit RoundReservationReleased(round);
        }
    }

    /// @dev The calling round's link once sold: a round whose outcome is known but not yet settled
    /// (still `openRound`) is settled first, so the round needs no separate `syncRound` call.
    function _soldRoundLink(TokenStorage storage $) private returns (RoundLink memory link) {
        if ($.openRound == msg.sender) _syncRound($);
        link = $.rounds[msg.sender];
        if (link.status != ROUND_SOLD) revert NotSoldRound(msg.sender);
    }

    function _effectiveCap(TokenStorage storage $) private view returns (uint256 cap_) {
        cap_ = $.cap;
        if (cap_ == 0 || cap_ > SUPPLY_LIMIT) cap_ = SUPPLY_LIMIT;
    }

    /// @dev `to` must pass the checks of a mint recipient (verified, not frozen, country, accreditation).
    function _checkRecipient(address to, uint256 amount) private view {
        uint8 code = registry.detectTransferRestriction(address(this), address(0), to, amount);
        if (code != 0) revert TransferRestricted(code);
    }

    /// @dev Move all whole units of `from`'s claimable revenue to `to`; sub-unit fractions stay.
    function _moveClaimable(TokenStorage storage $, address from, address to) private {
        // slither-disable-next-line divide-before-multiply (intended: move whole base units, keep the fraction)
        uint256 amount = _claimableMagnified($, from) / MAGNITUDE;
        if (amount == 0) return;
        // slither-disable-next-line divide-before-multiply (intended: move whole base units, keep the fraction)
        int248 magnified = (amount * MAGNITUDE).toInt256().toInt248();
        $.accounts[from].correction -= magnified;
        $.accounts[to].correction += magnified;
        emit ClaimableMoved(msg.sender, from, to, amount);
    }

    /// @notice The role whose holders grant and revoke `role`: PLATFORM_ROLE for the platform's roles
    /// (AGENT, RECOVERY_APPROVER, PLATFORM), DEFAULT_ADMIN_ROLE for the creator's. Fixed in code rather
    /// than stored by `_setRoleAdmin` at every clone's initialisation (three storage writes per token).
    function getRoleAdmin(bytes32 role) public pure override returns (bytes32) {
        if (role == AGENT_ROLE || role == RECOVERY_APPROVER_ROLE || role == PLATFORM_ROLE) return PLATFORM_ROLE;
        return DEFAULT_ADMIN_ROLE;
    }

    /// @dev The creator's roles (DEFAULT_ADMIN_ROLE, ISSUER_ROLE) and the recovery keys (AGENT_ROLE,
    /// RECOVERY_APPROVER_ROLE) never meet on one account, whoever grants them.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        bool creatorRole = role == DEFAULT_ADMIN_ROLE || role == ISSUER_ROLE;
        bool recoveryRole = role == AGENT_ROLE || role == RECOVERY_APPROVER_ROLE;
        if (
            (creatorRole && (hasRole(AGENT_ROLE, account) || hasRole(RECOVERY_APPROVER_ROLE, account)))
                || (recoveryRole && (hasRole(DEFAULT_ADMIN_ROLE, account) || hasRole(ISSUER_ROLE, account)))
        ) revert RoleConflict(account, role);
        return super._grantRole(role, account);
    }

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

    /// @dev Balances + votes, then the revenue corrections. Shared by `_update`, recoveries, allocation minting and returns.
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
        if ($.rounds[account].status != ROUND_NONE) revert RoundAccount(account);
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
