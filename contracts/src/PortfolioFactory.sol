// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {PortfolioToken} from "./PortfolioToken.sol";
import {FundingRound} from "./FundingRound.sol";
import {PayoutSplitter} from "./PayoutSplitter.sol";
import {RightsToken} from "./RightsToken.sol";
import {DonationRouter} from "./DonationRouter.sol";
import {ZeroAddress} from "./lib/Errors.sol";

/// @title PortfolioFactory
/// @notice Deploys a portfolio's contract set as EIP-1167 clones of implementations deployed once,
/// wires them together in the same transaction and announces every address in ONE event,
/// `PortfolioCreated`, which is how the indexer discovers a portfolio's contracts.
///
/// Per portfolio (optional parts are skipped with zero / empty parameters):
/// - PortfolioToken (always). ISSUER_ROLE: `issuer`; AGENT_ROLE: the platform agent;
///   RECOVERY_APPROVER_ROLE: the platform's recovery approver. The round is attached to the token
///   (not an issuer): the token reserves the round's maximum allocation on its cap, and a round whose
///   maximum allocation exceeds the cap is rejected (CapExceeded). The built-in revenue share is on
///   when `revenueToken` != 0, with the treasury excluded from accrual (the round is not: its
///   allocation accrues for its investors); the event's `distributor` is then the token itself (0
///   otherwise), so an indexer reads revenue events from the address in that field.
/// - FundingRound (when `round.hardCap` != 0); fee recipient, compliance signer and arbiter are the
///   platform's (factory settings), not the creator's.
/// - PayoutSplitter (when `payees` is non-empty).
/// - RightsToken (when `withRights`).
/// The treasury is registered in the DonationRouter under the new portfolio id.
///
/// Trust model (contracts/TRUST.md): `platform` (the platform's governance address) receives
/// PLATFORM_ROLE on every token and round, which administers the platform's roles there (AGENT_ROLE on
/// the token; ARBITER_ROLE and COMPLIANCE_ROLE on the round) and replaces a round's compliance signer;
/// the creator (`admin`) keeps DEFAULT_ADMIN_ROLE, which administers only its own issuer roles.
///
/// Only CREATOR_ROLE (the platform's issuance service) may create portfolios: a portfolio binds the
/// platform's fee recipient, compliance signer and agent, so creation is a platform decision.
contract PortfolioFactory is AccessControl {
    bytes32 public constant CREATOR_ROLE = keccak256("CREATOR_ROLE");

    /// @notice Parameters of a funding round (see FundingRound.RoundConfig); `hardCap == 0` skips it.
    struct RoundParams {
        address stablecoin;
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

    /// @notice Everything a new portfolio needs.
    /// @param admin DEFAULT_ADMIN_ROLE of every contract of the set (the creator's admin wallet).
    /// @param issuer ISSUER_ROLE on token, distributor, round and rights token (0 = none).
    /// @param treasury Receives round tranches and donations; excluded from revenue accrual.
    /// @param name Token name; @param symbol Token symbol; @param cap Token cap (0 = none).
    /// @param revenueToken Revenue asset of the token's revenue share (0 = none).
    /// @param dustSweepDelay Minimum seconds between two dust sweeps (the first counts from creation).
    struct PortfolioParams {
        address admin;
        address issuer;
        address treasury;
        string name;
        string symbol;
        uint256 cap;
        address revenueToken;
        uint32 dustSweepDelay;
        RoundParams round;
        address[] payees;
        uint16[] sharesBps;
        bool withRights;
        address royaltyReceiver;
        uint96 royaltyBps;
    }

    /// @notice Addresses of one portfolio's set (zero = part not deployed; distributor = token or 0).
    struct PortfolioSet {
        address token;
        address distributor;
        address round;
        address splitter;
        address rightsToken;
    }

    address public immutable registry;
    DonationRouter public immutable donationRouter;
    address public immutable tokenImplementation;
    address public immutable roundImplementation;
    address public immutable splitterImplementation;
    address public immutable rightsImplementation;
    /// @notice The platform's governance address: PLATFORM_ROLE (+ COMPLIANCE_ROLE on rounds) of every clone.
    address public immutable platform;

    /// @notice Platform accounts bound into every new portfolio.
    address public feeRecipient;
    address public complianceSigner;
    address public arbiter;
    address public agent;
    /// @notice Executes recoveries the agent proposed (RECOVERY_APPROVER_ROLE on new tokens).
    address public recoveryApprover;
    /// @notice Delay between a recovery's proposal and its execution on new tokens (seconds).
    uint32 public immutable recoveryDelay;
    /// @notice Number of portfolios created; ids are 1..portfolioCount.
    uint256 public portfolioCount;

    /// @notice A portfolio's set was deployed: the indexer's discovery event.
    event PortfolioCreated(
        uint256 indexed portfolioId,
        address indexed creator,
        address treasury,
        address token,
        address distributor,
        address round,
        address splitter,
        address rightsToken
    );
    /// @notice Platform accounts for future portfolios changed.
    event PlatformAccountsSet(address feeRecipient, address complianceSigner, address arbiter, address agent);
    /// @notice The recovery approver for future portfolios changed.
    event RecoveryApproverSet(address recoveryApprover);


    /// @param admin DEFAULT_ADMIN_ROLE of the factory (grants CREATOR_ROLE, sets platform accounts).
    /// @param platform_ The platform's governance address bound into every portfolio (PLATFORM_ROLE).
    /// @param registry_ ComplianceRegistry passed to rights tokens (the token implementation has it immutable).
    /// @param donationRouter_ DonationRouter in which the factory holds REGISTRAR_ROLE.
    /// @param implementations token, round, splitter, rights token implementations.
    /// @param platformAccounts fee recipient, compliance signer, arbiter, agent.
    /// @param recoveryApprover_ the second key of recoveries (must differ from the agent's key to be useful).
    /// @param recoveryDelay_ seconds a holder sees a recovery coming (PortfolioToken bounds: 48 h .. 30 days).
    constructor(
        address admin,
        address platform_,
        address registry_,
        DonationRouter donationRouter_,
        address[4] memory implementations,
        address[4] memory platformAccounts,
        address recoveryApprover_,
        uint32 recoveryDelay_
    ) {
        if (
            admin == address(0) || platform_ == address(0) || registry_ == address(0)
                || address(donationRouter_) == address(0)
        ) {
            revert ZeroAddress();
        }
        for (uint256 i = 0; i < 4; ++i) {
            if (implementations[i] == address(0)) revert ZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        platform = platform_;
        registry = registry_;
        donationRouter = donationRouter_;
        tokenImplementation = implementations[0];
        roundImplementation = implementations[1];
        splitterImplementation = implementations[2];
        rightsImplementation = implementations[3];
        _setPlatformAccounts(platformAccounts[0], platformAccounts[1], platformAccounts[2], platformAccounts[3]);
        _setRecoveryApprover(recoveryApprover_);
        recoveryDelay = recoveryDelay_;
    }

    /// @notice Change the recovery approver bound into portfolios created from now on (admin).
    function setRecoveryApprover(address recoveryApprover_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setRecoveryApprover(recoveryApprover_);
    }

    /// @notice Change the platform accounts bound into portfolios created from now on (admin).
    function setPlatformAccounts(address feeRecipient_, address complianceSigner_, address arbiter_, address agent_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setPlatformAccounts(feeRecipient_, complianceSigner_, arbiter_, agent_);
    }

    /// @notice Deploy and wire a portfolio's set (CREATOR_ROLE); emits `PortfolioCreated`.
    /// @return portfolioId the new id; @return set the deployed addresses.
    function createPortfolio(PortfolioParams calldata p)
        external
        onlyRole(CREATOR_ROLE)
        returns (uint256 portfolioId, PortfolioSet memory set)
    {
        if (p.admin == address(0) || p.treasury == address(0)) revert ZeroAddress();
        portfolioId = ++portfolioCount;

        set.token = Clones.clone(tokenImplementation);
        if (p.round.hardCap != 0) set.round = Clones.clone(roundImplementation);
        if (p.revenueToken != address(0)) set.distributor = set.token;

        // The round first: the token attaches it at initialisation and reserves its maximum allocation.
        if (set.round != address(0)) _initRound(p, set);
        _initToken(p, set);
        if (p.payees.length != 0) {
            set.splitter = Clones.clone(splitterImplementation);
            PayoutSplitter(payable(set.splitter)).initialize(p.payees, p.sharesBps);
        }
        if (p.withRights) {
            set.rightsToken = Clones.clone(rightsImplementation);
            RightsToken(set.rightsToken).initialize(
                p.admin, p.issuer, platform, registry, p.royaltyReceiver, p.royaltyBps
            );
        }
        donationRouter.registerPortfolio(portfolioId, p.treasury);

        emit PortfolioCreated(
            portfolioId, msg.sender, p.treasury, set.token, set.distributor, set.round, set.splitter, set.rightsToken
        );
    }

    function _initToken(PortfolioParams calldata p, PortfolioSet memory set) private {
        address[] memory issuers = new address[](p.issuer != address(0) ? 1 : 0);
        if (p.issuer != address(0)) issuers[0] = p.issuer;
        address[] memory excluded = new address[](p.revenueToken != address(0) ? 1 : 0);
        if (p.revenueToken != address(0)) excluded[0] = p.treasury;
        PortfolioToken(set.token).initialize(
            PortfolioToken.InitParams({
                name: p.name,
                symbol: p.symbol,
                cap: p.cap,
                admin: p.admin,
                platform: platform,
                agent: agent,
                recoveryApprover: recoveryApprover,
                recoveryDelay: recoveryDelay,
                issuers: issuers,
                round: set.round,
                revenueToken: p.revenueToken,
                dustSweepDelay: p.dustSweepDelay,
                excluded: excluded
            })
        );
    }

    function _initRound(PortfolioParams calldata p, PortfolioSet memory set) private {
        FundingRound.RoundConfig memory config = FundingRound.RoundConfig({
            token: set.token,
            stablecoin: p.round.stablecoin,
            treasury: p.treasury,
            feeRecipient: feeRecipient,
            complianceSigner: complianceSigner,
            issuer: p.issuer,
            arbiter: arbiter,
            platform: platform,
            price: p.round.price,
            softCap: p.round.softCap,
            hardCap: p.round.hardCap,
            minInvestment: p.round.minInvestment,
            maxInvestment: p.round.maxInvestment,
            startTime: p.round.startTime,
            endTime: p.round.endTime,
            feeBps: p.round.feeBps,
            milestoneBps: p.round.milestoneBps
        });
        FundingRound(set.round).initialize(p.admin, config);
    }

    function _setRecoveryApprover(address recoveryApprover_) private {
        if (recoveryApprover_ == address(0)) revert ZeroAddress();
        recoveryApprover = recoveryApprover_;
        emit RecoveryApproverSet(recoveryApprover_);
    }

    function _setPlatformAccounts(address feeRecipient_, address complianceSigner_, address arbiter_, address agent_)
        private
    {
        if (
            feeRecipient_ == address(0) || complianceSigner_ == address(0) || arbiter_ == address(0)
                || agent_ == address(0)
        ) revert ZeroAddress();
        feeRecipient = feeRecipient_;
        complianceSigner = complianceSigner_;
        arbiter = arbiter_;
        agent = agent_;
        emit PlatformAccountsSet(feeRecipient_, complianceSigner_, arbiter_, agent_);
    }
}
