// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IRoundToken} from "./interfaces/IRoundToken.sol";
import {IAllocationRound} from "./interfaces/IAllocationRound.sol";
import {ZeroAddress} from "./lib/Errors.sol";
import {Bps} from "./lib/Bps.sol";


/// @title FundingRound
/// @notice Sells a PortfolioToken for a stablecoin at a fixed price, escrows the raise and
/// releases it to the portfolio treasury in milestone tranches approved by two parties.
///
/// Units and rounding (all integer, exact):
/// - `price` is in stablecoin base units per `TOKEN_UNIT` (1e18) token base units, i.e. per one
///   whole token of an 18-decimals PortfolioToken. 1 USDC (6 decimals) per token → price 1_000_000.
/// - An investor's token allocation is `floor(contributed * 1e18 / price)` on the investor's cumulative
///   contribution; `allocatedTotal` is the exact sum of these floors. The investor loses less than one token base
///   unit (1e-18 token) to rounding, whatever the number of investments. A $1 investment at any price
///   ≤ $1e18 per token buys a non-zero allocation; `initialize` checks `minInvestment` buys ≥ 1 unit.
///
/// Life cycle (see `state()`): Upcoming → Active → Succeeded (soft cap reached and window ended, or hard
/// cap reached) → Closed (every milestone released); or Active → Failed (window ended below the soft
/// cap); or any state before Closed → Cancelled (by the issuer or the arbiter).
/// - Failed or cancelled before success: every investor pulls back exactly what they paid in;
///   tokens are never minted for such a round (minting happens only by claim after success, so no
///   burn path and no compliance check on refunds are needed).
/// - The token reserves the round's maximum allocation on its cap from the start. Once the round is
///   sold, the token mints `allocatedTotal` into the round (its `syncRound`, run by any deposit, claim
///   or refund) and revenue accrues on it; `claimTokens` delivers the investor's allocation with the
///   revenue it earned meanwhile (IRoundToken). The creator cannot revoke that path, and a pause does
///   not block it.
/// - Succeeded: investors claim (pull) their tokens.
///   The raise is released milestone by milestone (tranche = `milestoneBps[i]` of the raise; the last
///   tranche takes whatever is left, so tranches sum to the raise exactly); each milestone needs the
///   approval of an ISSUER_ROLE holder and of a different ARBITER_ROLE holder, then anyone may release it.
///   The platform fee is taken proportionally from every tranche (`floor(tranche * feeBps / 10_000)`),
///   so each tranche's net is its share of the net raise, and a cancellation refunds escrow on which no
///   fee was ever charged.
/// - Success and failure follow from time and amounts; `finalize()` (anyone, once) only emits
///   `RoundFinalized` so the ledger and webhooks get an event for that moment.
/// - Cancelled after success: the escrow not yet released (`cancelRefundPool`) is refundable pro rata to
///   contributions; the last investor to refund receives the remainder so no dust stays locked.
///   The refund takes back the same fraction of the investor's allocation (rounded up): from the
///   round if not yet claimed, else burned from the investor's balance (the refund reverts if the
///   investor no longer holds them). No investor keeps both the money and the tokens it refunds.
/// - Approvals count only while the approver still holds its role: revoking a key voids its
///   pending approvals. `invest` re-checks the investor in the token's compliance registry.
/// - Hard cap: an investment that would exceed it is partially filled (only the remaining room is
///   pulled from the investor; the event carries the accepted amount). Invariant at every step:
///   `totalRaised <= hardCap`, and once settled `releasedToTreasury + feesPaid + refundedTotal == totalRaised`.
/// - Every investment carries an EIP-712 `InvestmentPermit(investor, round, maxAmount, deadline, nonce)`
///   signed by `complianceSigner` (an EOA or an ERC-1271 contract); a nonce is usable once per investor.
contract FundingRound is
    Initializable,
    AccessControlUpgradeable,
    EIP712Upgradeable,
    ReentrancyGuardTransient,
    IAllocationRound
{
    using SafeERC20 for IERC20;

    // ---------------------------------------------------------------- constants

    /// @notice Approves milestones (issuer side) and may cancel the round.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice Approves milestones (independent side) and may cancel the round.
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    /// @notice May revoke an issued, unused investment permit.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @notice The platform (governance): replaces the compliance signer and is the role admin of
    /// ARBITER_ROLE, COMPLIANCE_ROLE and itself, so the creator (DEFAULT_ADMIN_ROLE) cannot name its
    /// own arbiter or signer. Granted at `initialize` (with COMPLIANCE_ROLE) to `config.platform`.
    bytes32 public constant PLATFORM_ROLE = keccak256("PLATFORM_ROLE");

    /// @notice Token base units the `price` refers to (one whole 18-decimals token).
    uint256 public constant TOKEN_UNIT = 1e18;
    /// @notice Upper bound on the platform fee of a round (10 %).
    uint16 public constant MAX_FEE_BPS = Bps.MAX_FEE;
    /// @dev IRoundToken.investorRestriction code: this round is not the token's open round.
    uint8 private constant NOT_ATTACHED = 255;
    /// @notice Upper bound on the number of milestones of a round.
    uint256 public constant MAX_MILESTONES = 20;

    bytes32 public constant INVESTMENT_PERMIT_TYPEHASH = keccak256(
        "InvestmentPermit(address investor,address round,uint256 maxAmount,uint256 deadline,uint256 nonce)"
    );

    // ---------------------------------------------------------------- types

    enum State {
        Upcoming,
        Active,
        Succeeded,
        Failed,
        Cancelled,
        Closed
    }

    /// @notice Parameters of a round, fixed at `initialize` (except `complianceSigner`).
    /// @param token PortfolioToken sold; the round must hold its ISSUER_ROLE to mint on claim.
    /// @param stablecoin ERC-20 paid by investors (e.g. 6-decimals USDC).
    /// @param treasury Portfolio treasury receiving the released tranches.
    /// @param feeRecipient Platform account receiving the fee of each tranche.
    /// @param complianceSigner Signer (EOA or ERC-1271 contract) of investment permits.
    /// @param issuer Granted ISSUER_ROLE (milestone approval, cancel); may be zero to grant later.
    /// @param arbiter Granted ARBITER_ROLE (milestone approval, cancel); may be zero to grant later.
    /// @param platform Granted PLATFORM_ROLE and COMPLIANCE_ROLE (the platform's governance address); non-zero.
    /// @param price Stablecoin base units per 1e18 token base units (one whole token); > 0.
    /// @param softCap Raise (stablecoin base units) needed for success; 0 < softCap <= hardCap.
    /// @param hardCap Maximum raise (stablecoin base units); never exceeded.
    /// @param minInvestment Minimum accepted per investment (unless it fills the hard cap); > 0.
    /// @param maxInvestment Maximum cumulative contribution per investor; >= minInvestment.
    /// @param startTime First second (unix) investments are accepted.
    /// @param endTime First second (unix) investments are no longer accepted; > startTime, in the future.
    /// @param feeBps Platform fee on released tranches, in basis points; <= MAX_FEE_BPS.
    /// @param milestoneBps Share of the raise released per milestone, in basis points; 1..MAX_MILESTONES
    ///        entries, each > 0, summing to 10_000. Released in order.
    struct RoundConfig {
        address token;
        address stablecoin;
        address treasury;
        address feeRecipient;
        address complianceSigner;
        address issuer;
        address arbiter;
        address platform;
        uint256 price;
        uint256 softCap;
        uint256 hardCap;
        uint256 minInvestment;
        uint256 maxInvestment;
        uint64 startTime;
        uint64 endTime;
        uint16 feeBps;
        uint16[] milestoneBps;
    }

    /// @notice Approvals of one milestone: the approving addresses (zero = not yet approved).
    struct MilestoneApproval {
        address issuerApprover;
        address arbiterApprover;
    }

    // ---------------------------------------------------------------- storage

    /// @notice ERC-20 paid by investors and held in escrow.
    IERC20 public stablecoin;
    /// @notice PortfolioToken minted to investors on claim.
    address public token;
    /// @notice Receives the net of every released tranche.
    address public treasury;
    /// @notice Receives the platform fee of every released tranche.
    address public feeRecipient;
    /// @notice Signer of investment permits (EOA or ERC-1271 contract).
    address public complianceSigner;
    /// @notice Stablecoin base units per 1e18 token base units.
    uint256 public price;
    /// @notice Raise needed for success (stablecoin base units).
    uint256 public softCap;
    /// @notice Maximum raise (stablecoin base units).
    uint256 public hardCap;
    /// @notice Minimum per investment unless it fills the hard cap (stablecoin base units).
    uint256 public minInvestment;
    /// @notice Maximum cumulative contribution per investor (stablecoin base units).
    uint256 public maxInvestment;
    /// @notice First second investments are accepted.
    uint64 public startTime;
    /// @notice First second investments are no longer accepted.
    uint64 public endTime;
    /// @notice Platform fee on released tranches, basis points.
    uint16 public feeBps;
    /// @notice Whether the round was cancelled.
    bool public cancelled;
    /// @notice Whether the cancellation came after success (pro rata refunds of the unreleased escrow).
    bool public cancelledAfterSuccess;
    /// @notice Whether `finalize()` recorded the outcome (an event marker only; nothing depends on it).
    bool public finalized;
    uint16[] private _milestoneBps;

    /// @notice Stablecoin base units received from investors (balance delta), all investments.
    uint256 public totalRaised;
    /// @notice Number of distinct addresses with a non-zero contribution.
    uint256 public investorCount;
    /// @notice Index of the next milestone to release (== milestoneCount() once closed).
    uint256 public nextMilestone;
    /// @notice Gross escrow released so far (treasury part + fee part).
    uint256 public releasedGross;
    /// @notice Stablecoin paid to the treasury so far.
    uint256 public releasedToTreasury;
    /// @notice Platform fee paid so far.
    uint256 public feesPaid;
    /// @notice Escrow refundable at cancellation (`totalRaised - releasedGross` at that moment).
    uint256 public cancelRefundPool;
    /// @notice Stablecoin refunded so far.
    uint256 public refundedTotal;
    /// @notice Number of investors who took their refund.
    uint256 public refundedCount;
    /// @notice Token base units delivered to investors so far.
    uint256 public tokensClaimedTotal;
    /// @notice Σ of every investor's allocation (token base units): what the token mints into the round.
    uint256 public allocatedTotal;
    /// @notice Token base units of allocations taken back by refunds after a cancellation.
    uint256 public allocationReturnedTotal;

    /// @notice Stablecoin base units contributed by each investor (balance delta credited).
    mapping(address investor => uint256) public contributionOf;
    /// @notice Whether the investor claimed their tokens.
    mapping(address investor => bool) public tokensClaimed;
    /// @notice Whether the investor took their refund.
    mapping(address investor => bool) public refunded;
    /// @notice Token base units of the investor's allocation a refund took back.
    mapping(address investor => uint256) public allocationReturned;
    /// @notice Permit nonces used (or revoked) per investor.
    mapping(address investor => mapping(uint256 nonce => bool)) public nonceUsed;
    mapping(uint256 index => MilestoneApproval) private _approvals;

    // ---------------------------------------------------------------- events

    /// @notice The round was initialized; carries everything the ledger needs to open `round:<addr>:escrow`.
    event RoundInitialized(
        address indexed token,
        address indexed stablecoin,
        address indexed treasury,
        address feeRecipient,
        uint256 price,
        uint256 softCap,
        uint256 hardCap,
        uint64 startTime,
        uint64 endTime,
        uint16 feeBps,
        uint16[] milestoneBps
    );
    /// @notice `amount` stablecoin base units were received from `investor` (after partial fill and
    /// balance-delta crediting); `requested` is what the investor asked to invest.
    event Invested(
        address indexed investor,
        uint256 indexed nonce,
        uint256 requested,
        uint256 amount,
        uint256 investorTotal,
        uint256 roundTotal
    );
    /// @notice `amount` token base units were minted to `investor` for `contribution` stablecoin units.
    event TokensClaimed(address indexed investor, uint256 contribution, uint256 amount);
    /// @notice `amount` stablecoin base units were refunded to `investor`.
    event Refunded(address indexed investor, uint256 amount);
    /// @notice A refund after a cancellation took back `tokens` token base units of `investor`'s allocation.
    event AllocationTakenBack(address indexed investor, uint256 tokens, bool delivered);
    /// @notice Milestone `index` was approved by `approver` acting with `role` (ISSUER_ROLE or ARBITER_ROLE).
    event MilestoneApproved(uint256 indexed index, bytes32 indexed role, address indexed approver);
    /// @notice Milestone `index` released `gross` escrow: `net` to `treasury`, `fee` to `feeRecipient`.
    event MilestoneReleased(
        uint256 indexed index, address indexed treasury, address indexed feeRecipient, uint256 gross, uint256 net, uint256 fee
    );
    /// @notice The round was cancelled by `by`; `refundPool` stablecoin units are refundable pro rata.
    event RoundCancelled(address indexed by, bool afterSuccess, uint256 refundPool);
    /// @notice The window closed or the hard cap was reached: `succeeded` tells which way, with the
    /// final raise and the token base units it buys in total (sum of allocations may be lower by rounding).
    event RoundFinalized(bool succeeded, uint256 totalRaised, uint256 tokensSold);
    /// @notice The compliance signer changed.
    event ComplianceSignerChanged(address indexed previousSigner, address indexed newSigner);
    /// @notice An unused permit nonce of `investor` was revoked by `by`.
    event PermitRevoked(address indexed investor, uint256 indexed nonce, address indexed by);

    // ---------------------------------------------------------------- errors

    error InvalidPrice(uint256 price);
    error InvalidCaps(uint256 softCap, uint256 hardCap);
    error InvalidWindow(uint64 startTime, uint64 endTime);
    error InvalidInvestmentLimits(uint256 minInvestment, uint256 maxInvestment);
    error FeeTooHigh(uint16 feeBps, uint16 maxFeeBps);
    error InvalidMilestones();
    /// @notice The call is not allowed in the round's current state.
    error InvalidState(State current);
    error PermitExpired(uint256 deadline, uint256 nowTimestamp);
    error PermitNonceUsed(address investor, uint256 nonce);
    error InvalidPermitSignature(address investor, address expectedSigner);
    error AmountAbovePermit(uint256 amount, uint256 maxAmount);
    error BelowMinimumInvestment(uint256 amount, uint256 minInvestment);
    error AboveMaximumInvestment(address investor, uint256 newTotal, uint256 maxInvestment);
    error ZeroAmountReceived();
    error NothingToClaim(address investor);
    error AlreadyClaimed(address investor);
    error NothingToRefund(address investor);
    error AlreadyRefunded(address investor);
    error NotNextMilestone(uint256 index, uint256 nextMilestone);
    error AlreadyApproved(uint256 index, bytes32 role, address approver);
    /// @notice The same address cannot give both approvals of a milestone.
    error SameApprover(uint256 index, address approver);
    error MilestoneNotApproved(uint256 index, bool issuerApproved, bool arbiterApproved);
    error NotIssuerOrArbiter(address account);
    error AlreadyFinalized();
    /// @notice The investor fails the token's compliance registry (restriction code).
    error InvestorRestricted(address investor, uint8 code);
    /// @notice The token has not attached this round: its investors' allocations would not be deliverable.
    error RoundNotAttached(address token);

    // ---------------------------------------------------------------- init

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Configure a freshly cloned round. Called once, by the factory, in the clone's deploy tx.
    /// @param admin Granted DEFAULT_ADMIN_ROLE (administers ISSUER_ROLE and itself; not the platform's roles).
    /// @param config Round parameters; see `RoundConfig` for units and constraints.
    function initialize(address admin, RoundConfig calldata config) external initializer {
        if (
            admin == address(0) || config.token == address(0) || config.stablecoin == address(0)
                || config.treasury == address(0) || config.feeRecipient == address(0)
                || config.complianceSigner == address(0) || config.platform == address(0)
        ) revert ZeroAddress();
        if (config.price == 0) revert InvalidPrice(config.price);
        if (config.softCap == 0 || config.softCap > config.hardCap) revert InvalidCaps(config.softCap, config.hardCap);
        if (config.startTime >= config.endTime || config.endTime <= block.timestamp) {
            revert InvalidWindow(config.startTime, config.endTime);
        }
        if (
            config.minInvestment == 0 || config.minInvestment > config.maxInvestment
                || Math.mulDiv(config.minInvestment, TOKEN_UNIT, config.price) == 0
        ) revert InvalidInvestmentLimits(config.minInvestment, config.maxInvestment);
        if (config.feeBps > MAX_FEE_BPS) revert FeeTooHigh(config.feeBps, MAX_FEE_BPS);
        uint256 count = config.milestoneBps.length;
        if (count == 0 || count > MAX_MILESTONES) revert InvalidMilestones();
        uint256 sum = 0;
        for (uint256 i; i < count; ++i) {
            if (config.milestoneBps[i] == 0) revert InvalidMilestones();
            sum += config.milestoneBps[i];
        }
        if (sum != Bps.DENOMINATOR) revert InvalidMilestones();

        __AccessControl_init();
        __EIP712_init("KogiFundingRound", "1");

        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PLATFORM_ROLE, config.platform);
        _grantRole(COMPLIANCE_ROLE, config.platform);
        if (config.issuer != address(0)) _grantRole(ISSUER_ROLE, config.issuer);
        if (config.arbiter != address(0)) _grantRole(ARBITER_ROLE, config.arbiter);

        token = config.token;
        stablecoin = IERC20(config.stablecoin);
        treasury = config.treasury;
        feeRecipient = config.feeRecipient;
        complianceSigner = config.complianceSigner;
        price = config.price;
        softCap = config.softCap;
        hardCap = config.hardCap;
        minInvestment = config.minInvestment;
        maxInvestment = config.maxInvestment;
        startTime = config.startTime;
        endTime = config.endTime;
        feeBps = config.feeBps;
        _milestoneBps = config.milestoneBps;

        emit ComplianceSignerChanged(address(0), config.complianceSigner);
        _emitInitialized();
    }

    // ---------------------------------------------------------------- views

    /// @notice The round's current state (time-dependent: success and failure need no transaction).
    function state() public view returns (State) {
        if (cancelled) return State.Cancelled;
        if (_successReached()) return nextMilestone == _milestoneBps.length ? State.Closed : State.Succeeded;
        if (block.timestamp >= endTime) return State.Failed;
        if (block.timestamp < startTime) return State.Upcoming;
        return State.Active;
    }

    /// @notice Number of milestones.
    function milestoneCount() external view returns (uint256) {
        return _milestoneBps.length;
    }

    /// @notice Share of the raise (basis points) of every milestone, in release order.
    function milestoneBps() external view returns (uint16[] memory) {
        return _milestoneBps;
    }

    /// @notice The addresses that approved milestone `index` (zero = not approved on that side).
    function milestoneApproval(uint256 index) external view returns (address issuerApprover, address arbiterApprover) {
        MilestoneApproval memory a = _approvals[index];
        return (a.issuerApprover, a.arbiterApprover);
    }

    /// @notice Token base units `investor` can claim (or claimed) for their contribution.
    function tokenAllocation(address investor) public view returns (uint256) {
        return Math.mulDiv(contributionOf[investor], TOKEN_UNIT, price);
    }

    /// @notice Token base units bought by `amount` stablecoin base units (rounded down).
    function tokensForAmount(uint256 amount) external view returns (uint256) {
        return Math.mulDiv(amount, TOKEN_UNIT, price);
    }

    /// @inheritdoc IAllocationRound
    function allocationStatus() external view returns (uint8 status, uint256 allocation) {
        State s = state();
        if (s == State.Upcoming || s == State.Active) return (0, Math.mulDiv(hardCap, TOKEN_UNIT, price));
        if (s == State.Succeeded || s == State.Closed || (s == State.Cancelled && cancelledAfterSuccess)) {
            return (1, allocatedTotal);
        }
        return (2, 0);
    }

    /// @notice Stablecoin base units refundable to all investors together in the current state.
    function refundPool() public view returns (uint256) {
        State s = state();
        if (s == State.Cancelled) return cancelRefundPool;
        if (s == State.Failed) return totalRaised;
        return 0;
    }

    /// @notice Stablecoin base units `investor` would receive by `claimRefund()` now.
    function refundableOf(address investor) public view returns (uint256) {
        uint256 contribution = contributionOf[investor];
        // slither-disable-next-line incorrect-equality (zero test of a stored amount, not a balance comparison)
        if (contribution == 0 || refunded[investor]) return 0;
        uint256 pool = refundPool();
        if (pool == 0) return 0;
        if (refundedCount + 1 == investorCount) return pool - refundedTotal;
        return Math.mulDiv(contribution, pool, totalRaised);
    }

    /// @notice EIP-712 digest an `InvestmentPermit` signature must sign.
    function investmentPermitDigest(address investor, uint256 maxAmount, uint256 deadline, uint256 nonce)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(abi.encode(INVESTMENT_PERMIT_TYPEHASH, investor, address(this), maxAmount, deadline, nonce))
        );
    }

    // ---------------------------------------------------------------- investing

    /// @notice Invest `amount` stablecoin base units (approved to this round beforehand) under a
    /// compliance permit. If less room than `amount` is left under the hard cap, only the remaining
    /// room is taken (partial fill). The sender is the investor.
    /// @param amount Stablecoin base units to invest; <= maxAmount; >= minInvestment unless it fills the cap.
    /// @param maxAmount Upper bound signed in the permit.
    /// @param deadline Unix time after which the permit is void.
    /// @param nonce Permit nonce (any unused value chosen by the signer; single use per investor).
    /// @param signature EIP-712 signature of the compliance signer over the permit.
    /// @return received Stablecoin base units credited to the investor.
    function invest(uint256 amount, uint256 maxAmount, uint256 deadline, uint256 nonce, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 received)
    {
        State s = state();
        if (s != State.Active) revert InvalidState(s);
        address investor = msg.sender;
        if (block.timestamp > deadline) revert PermitExpired(deadline, block.timestamp);
        if (nonceUsed[investor][nonce]) revert PermitNonceUsed(investor, nonce);
        if (amount > maxAmount) revert AmountAbovePermit(amount, maxAmount);
        _checkInvestor(investor);
        if (!SignatureChecker.isValidSignatureNow(
                complianceSigner, investmentPermitDigest(investor, maxAmount, deadline, nonce), signature
            )) revert InvalidPermitSignature(investor, complianceSigner);

        uint256 room = hardCap - totalRaised; // > 0 while Active
        if (amount < minInvestment && amount < room) revert BelowMinimumInvestment(amount, minInvestment);
        uint256 accepted = amount < room ? amount : room;
        uint256 previous = contributionOf[investor];
        if (previous + accepted > maxInvestment) {
            revert AboveMaximumInvestment(investor, previous + accepted, maxInvestment);
        }

        nonceUsed[investor][nonce] = true;
        uint256 balanceBefore = stablecoin.balanceOf(address(this));
        stablecoin.safeTransferFrom(investor, address(this), accepted);
        received = stablecoin.balanceOf(address(this)) - balanceBefore;
        // slither-disable-next-line incorrect-equality (a zero balance delta means nothing arrived: reject it)
        if (received == 0) revert ZeroAmountReceived();
        if (received > accepted) received = accepted; // never credit more than was asked (hard cap holds)

        _credit(investor, previous, received);
        emit Invested(investor, nonce, amount, received, previous + received, totalRaised);
    }

    // ---------------------------------------------------------------- after success

    /// @notice Deliver the sender's token allocation, less any part a refund took back, with the
    /// revenue it accrued since the round sold (successful round; also after a cancellation that
    /// followed success). The token checks the investor like a mint recipient.
    /// @return amount Token base units delivered.
    function claimTokens() external nonReentrant returns (uint256 amount) {
        State s = state();
        bool allowed = s == State.Succeeded || s == State.Closed || (s == State.Cancelled && cancelledAfterSuccess);
        if (!allowed) revert InvalidState(s);
        address investor = msg.sender;
        if (tokensClaimed[investor]) revert AlreadyClaimed(investor);
        amount = tokenAllocation(investor) - allocationReturned[investor];
        // slither-disable-next-line incorrect-equality (zero test of a computed allocation, not a balance comparison)
        if (amount == 0) revert NothingToClaim(investor);
        tokensClaimed[investor] = true;
        tokensClaimedTotal += amount;
        emit TokensClaimed(investor, contributionOf[investor], amount);
        IRoundToken(token).deliverAllocation(investor, amount);
    }

    /// @notice Approve the next milestone as the issuer side (ISSUER_ROLE).
    /// @param index Milestone being approved; must be `nextMilestone`.
    function approveMilestoneAsIssuer(uint256 index) external onlyRole(ISSUER_ROLE) {
        _checkApprovable(index);
        MilestoneApproval memory a = _approvals[index];
        if (_approvalCounts(ISSUER_ROLE, a.issuerApprover)) revert AlreadyApproved(index, ISSUER_ROLE, a.issuerApprover);
        if (a.arbiterApprover == msg.sender) revert SameApprover(index, msg.sender);
        _approvals[index].issuerApprover = msg.sender;
        emit MilestoneApproved(index, ISSUER_ROLE, msg.sender);
    }

    /// @notice Approve the next milestone as the independent side (ARBITER_ROLE).
    /// @param index Milestone being approved; must be `nextMilestone`.
    function approveMilestoneAsArbiter(uint256 index) external onlyRole(ARBITER_ROLE) {
        _checkApprovable(index);
        MilestoneApproval memory a = _approvals[index];
        if (_approvalCounts(ARBITER_ROLE, a.arbiterApprover)) {
            revert AlreadyApproved(index, ARBITER_ROLE, a.arbiterApprover);
        }
        if (a.issuerApprover == msg.sender) revert SameApprover(index, msg.sender);
        _approvals[index].arbiterApprover = msg.sender;
        emit MilestoneApproved(index, ARBITER_ROLE, msg.sender);
    }

    /// @notice Release milestone `index` once both sides approved it: its share of the raise, less the
    /// proportional platform fee, goes to the treasury; the fee to the fee recipient. Anyone may call.
    /// The last milestone releases everything left, so the sum of tranches equals the raise exactly.
    /// @param index Milestone to release; must be `nextMilestone`.
    /// @return gross Escrow released (net + fee).
    function releaseMilestone(uint256 index) external nonReentrant returns (uint256 gross) {
        _checkApprovable(index);
        MilestoneApproval memory a = _approvals[index];
        bool issuerApproved = _approvalCounts(ISSUER_ROLE, a.issuerApprover);
        bool arbiterApproved = _approvalCounts(ARBITER_ROLE, a.arbiterApprover);
        if (!issuerApproved || !arbiterApproved) revert MilestoneNotApproved(index, issuerApproved, arbiterApproved);
        uint256 raised = totalRaised;
        gross = index + 1 == _milestoneBps.length
            ? raised - releasedGross
            : Bps.share(raised, _milestoneBps[index]);
        uint256 fee = Bps.share(gross, feeBps);
        uint256 net = gross - fee;

        nextMilestone = index + 1;
        releasedGross += gross;
        releasedToTreasury += net;
        feesPaid += fee;
        emit MilestoneReleased(index, treasury, feeRecipient, gross, net, fee);

        if (net > 0) stablecoin.safeTransfer(treasury, net);
        if (fee > 0) stablecoin.safeTransfer(feeRecipient, fee);
    }

    /// @notice Record the outcome once the round succeeded or failed (anyone; once). Success and
    /// failure follow from time and amounts alone — this only gives the ledger and webhooks an event.
    function finalize() external {
        State s = state();
        if (s != State.Succeeded && s != State.Failed && s != State.Closed) revert InvalidState(s);
        if (finalized) revert AlreadyFinalized();
        finalized = true;
        emit RoundFinalized(s != State.Failed, totalRaised, allocatedTotal);
    }

    // ---------------------------------------------------------------- cancel and refund

    /// @notice Cancel the round (ISSUER_ROLE or ARBITER_ROLE). Before success every investor can pull
    /// back their whole contribution; after success the escrow not yet released is refundable pro rata.
    function cancel() external {
        if (!hasRole(ISSUER_ROLE, msg.sender) && !hasRole(ARBITER_ROLE, msg.sender)) {
            revert NotIssuerOrArbiter(msg.sender);
        }
        State s = state();
        if (s == State.Cancelled || s == State.Closed) revert InvalidState(s);
        bool afterSuccess = s == State.Succeeded;
        cancelled = true;
        cancelledAfterSuccess = afterSuccess;
        uint256 pool = totalRaised - releasedGross;
        cancelRefundPool = pool;
        emit RoundCancelled(msg.sender, afterSuccess, pool);
    }

    /// @notice Pull the sender's refund (failed or cancelled round). Exact contribution before success;
    /// pro rata share of the unreleased escrow after success (the last refund takes the remainder),
    /// which also takes back the same fraction of the sender's allocation (rounded up): from the round
    /// if not yet claimed, else burned from the sender's balance.
    /// @return amount Stablecoin base units paid to the sender.
    function claimRefund() external nonReentrant returns (uint256 amount) {
        State s = state();
        if (s != State.Failed && s != State.Cancelled) revert InvalidState(s);
        address investor = msg.sender;
        if (refunded[investor]) revert AlreadyRefunded(investor);
        amount = refundableOf(investor);
        // slither-disable-next-line incorrect-equality (zero test of a stored amount, not a balance comparison)
        if (contributionOf[investor] == 0) revert NothingToRefund(investor);
        refunded[investor] = true;
        ++refundedCount;
        refundedTotal += amount;
        emit Refunded(investor, amount);
        if (cancelledAfterSuccess) _takeBackAllocation(investor, amount);
        if (amount > 0) stablecoin.safeTransfer(investor, amount);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Replace the compliance signer (PLATFORM_ROLE, e.g. a compromised key). Permits of the
    /// previous signer stop being accepted immediately.
    /// @param newSigner EOA or ERC-1271 contract; non-zero.
    function setComplianceSigner(address newSigner) external onlyRole(PLATFORM_ROLE) {
        if (newSigner == address(0)) revert ZeroAddress();
        emit ComplianceSignerChanged(complianceSigner, newSigner);
        complianceSigner = newSigner;
    }

    /// @notice Revoke an issued but unused permit (COMPLIANCE_ROLE), e.g. after KYC is withdrawn.
    /// @param investor Investor the permit was issued to.
    /// @param nonce Nonce of the permit.
    function revokePermit(address investor, uint256 nonce) external onlyRole(COMPLIANCE_ROLE) {
        if (nonceUsed[investor][nonce]) revert PermitNonceUsed(investor, nonce);
        nonceUsed[investor][nonce] = true;
        emit PermitRevoked(investor, nonce, msg.sender);
    }

    // ---------------------------------------------------------------- internals

    function _emitInitialized() private {
        emit RoundInitialized(
            token,
            address(stablecoin),
            treasury,
            feeRecipient,
            price,
            softCap,
            hardCap,
            startTime,
            endTime,
            feeBps,
            _milestoneBps
        );
    }

    /// @dev After a cancellation that followed success the investor returns the refunded fraction of
    /// its allocation (rounded up, at most the allocation).
    function _takeBackAllocation(address investor, uint256 refundAmount) private {
        uint256 allocation = tokenAllocation(investor);
        uint256 back = Math.mulDiv(allocation, refundAmount, contributionOf[investor], Math.Rounding.Ceil);
        if (back > allocation) back = allocation;
        // slither-disable-next-line incorrect-equality (zero test of a computed amount)
        if (back == 0) return;
        bool delivered = tokensClaimed[investor];
        allocationReturnedTotal += back;
        if (!delivered) allocationReturned[investor] = back;
        emit AllocationTakenBack(investor, back, delivered);
        IRoundToken(token).returnAllocation(investor, delivered ? 0 : back, delivered ? back : 0);
    }

    /// @dev The round must be its token's open round (so the allocation is reserved and deliverable),
    /// and the permit was signed earlier: the investor must still be verified, unfrozen and allowed now.
    function _checkInvestor(address investor) private view {
        uint8 code = IRoundToken(token).investorRestriction(investor);
        if (code == NOT_ATTACHED) revert RoundNotAttached(token);
        if (code != 0) revert InvestorRestricted(investor, code);
    }

    /// @dev Record `received` on top of `previous`; `allocatedTotal` grows by the investor's new floor.
    function _credit(address investor, uint256 previous, uint256 received) private {
        if (previous == 0) ++investorCount;
        contributionOf[investor] = previous + received;
        totalRaised += received;
        allocatedTotal += Math.mulDiv(previous + received, TOKEN_UNIT, price) - Math.mulDiv(previous, TOKEN_UNIT, price);
    }

    /// @notice The role whose holders grant and revoke `role`: PLATFORM_ROLE for the platform's roles
    /// (ARBITER, COMPLIANCE, PLATFORM), DEFAULT_ADMIN_ROLE for the creator's. Fixed in code rather than
    /// stored by `_setRoleAdmin` at every clone's initialisation (three storage writes per round).
    function getRoleAdmin(bytes32 role) public pure override returns (bytes32) {
        if (role == ARBITER_ROLE || role == COMPLIANCE_ROLE || role == PLATFORM_ROLE) return PLATFORM_ROLE;
        return DEFAULT_ADMIN_ROLE;
    }

    /// @dev An approval counts only while its approver still holds the role it approved with.
    function _approvalCounts(bytes32 role, address approver) private view returns (bool) {
        return approver != address(0) && hasRole(role, approver);
    }

    function _successReached() private view returns (bool) {
        uint256 raised = totalRaised;
        return raised >= softCap && (raised >= hardCap || block.timestamp >= endTime);
    }

    function _checkApprovable(uint256 index) private view {
        State s = state();
        if (s != State.Succeeded) revert InvalidState(s);
        if (index != nextMilestone) revert NotNextMilestone(index, nextMilestone);
    }
}
