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
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {IRevenueHook} from "./interfaces/IRevenueHook.sol";

/// @title PortfolioToken
/// @notice The security-like ERC-20 of one portfolio (ERC20Permit + ERC20Votes), deployed as an
/// EIP-1167 clone by PortfolioFactory. Every balance change goes through `_update`, which
/// (1) rejects it while paused, (2) asks the ComplianceRegistry and reverts with
/// `TransferRestricted(code)` on a non-zero restriction code (mints check only the recipient,
/// burns nothing), (3) moves balances and votes, (4) tells the revenue distributor.
///
/// Gas: the registry address is an immutable of the implementation (one registry per deployment;
/// clones share it), and `paused` is packed with the distributor address, so the hook costs one
/// SLOAD of its own plus the registry call.
///
/// Freezing a wallet lives in the registry (one freeze covers every token). AGENT_ROLE here:
/// pause / unpause and `forcedTransfer` (wallet recovery): a forced transfer ignores the pause and
/// every sender-side rule (frozen, lockup, expired KYC, blocked country) but the recipient must
/// pass the same checks as a mint recipient (verified, not frozen, country allowed, accredited if
/// required), so even an agent cannot place tokens with an uncleared holder.
contract PortfolioToken is
    Initializable,
    ERC20Upgradeable,
    ERC20PermitUpgradeable,
    ERC20VotesUpgradeable,
    AccessControlUpgradeable
{
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @notice The compliance registry every transfer is checked against.
    IComplianceRegistry public immutable registry;

    /// @custom:storage-location erc7201:kogi.storage.PortfolioToken
    struct TokenStorage {
        address distributor; // packed with the flags: one SLOAD per transfer
        bool paused;
        bool revenueHookActive; // set by the distributor at its first deposit
        uint256 cap; // 0 = uncapped
    }

    // keccak256(abi.encode(uint256(keccak256("kogi.storage.PortfolioToken")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant TOKEN_STORAGE = 0x837f90e18966638d5d3e1076f613ae3b62179ac8ffa643f54daa6946ea869b00;

    /// @notice The registry returned a non-zero restriction code (see IComplianceRegistry).
    error TransferRestricted(uint8 code);
    /// @notice Transfers, mints and burns are paused.
    error TokenPaused();
    /// @notice `pause` while paused or `unpause` while not paused.
    error PauseStateUnchanged(bool paused);
    /// @notice A mint would push the supply above the cap.
    error CapExceeded(uint256 cap, uint256 supplyAfterMint);
    /// @notice Zero address where a party is required.
    error ZeroAddress();
    /// @notice Only the token's distributor may call this.
    error NotDistributor(address caller);

    /// @notice The distributor received its first revenue: balance changes are reported from now on.
    event RevenueHookActivated(address indexed distributor);
    /// @notice Transfers paused by `agent`.
    event Paused(address indexed agent);
    /// @notice Transfers resumed by `agent`.
    event Unpaused(address indexed agent);
    /// @notice An agent moved `amount` from `from` to `to` outside the normal rules (recovery).
    /// A `Transfer` event with the same parties and amount is emitted as well.
    event ForcedTransfer(address indexed agent, address indexed from, address indexed to, uint256 amount);

    /// @param registry_ the ComplianceRegistry shared by every clone of this implementation.
    constructor(IComplianceRegistry registry_) {
        if (address(registry_) == address(0)) revert ZeroAddress();
        registry = registry_;
        _disableInitializers();
    }

    /// @notice Set up a clone (called by the factory in the clone's deploy transaction).
    /// @param name_ ERC-20 name (also the EIP-712 domain name for permits).
    /// @param symbol_ ERC-20 symbol.
    /// @param cap_ maximum total supply in base units, 0 for none.
    /// @param distributor_ revenue distributor notified of balance changes (0 for none).
    /// @param admin DEFAULT_ADMIN_ROLE holder (grants and revokes every role).
    /// @param agent AGENT_ROLE holder: pause, forced transfer (0 to grant later).
    /// @param issuers ISSUER_ROLE holders: mint and burn (e.g. the funding round, the creator).
    function initialize(
        string calldata name_,
        string calldata symbol_,
        uint256 cap_,
        address distributor_,
        address admin,
        address agent,
        address[] calldata issuers
    ) external initializer {
        if (admin == address(0)) revert ZeroAddress();
        __ERC20_init(name_, symbol_);
        // ERC20Permit: the EIP-712 name and version come from `_EIP712Name` / `_EIP712Version`
        // below instead of two more storage strings (saves ~44k gas per clone).
        __ERC20Votes_init();
        __AccessControl_init();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (agent != address(0)) _grantRole(AGENT_ROLE, agent);
        for (uint256 i = 0; i < issuers.length; ++i) {
            if (issuers[i] == address(0)) revert ZeroAddress();
            _grantRole(ISSUER_ROLE, issuers[i]);
        }
        TokenStorage storage $ = _tokenStorage();
        if (cap_ != 0) $.cap = cap_;
        if (distributor_ != address(0)) $.distributor = distributor_;
    }

    // ------------------------------------------------------------------ views

    /// @notice Maximum total supply (0 = uncapped).
    function cap() external view returns (uint256) {
        return _tokenStorage().cap;
    }

    /// @notice The revenue distributor told about balance changes (0 = none).
    function distributor() external view returns (address) {
        return _tokenStorage().distributor;
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
        if (cap_ != 0) {
            uint256 supplyAfter = totalSupply() + amount;
            if (supplyAfter > cap_) revert CapExceeded(cap_, supplyAfter);
        }
        _mint(to, amount);
    }

    /// @notice Burn `amount` from `from` (ISSUER_ROLE), e.g. a redemption. No registry check:
    /// burning from a frozen wallet is allowed (the issuer is the only party able to burn).
    function burn(address from, uint256 amount) external onlyRole(ISSUER_ROLE) {
        _burn(from, amount);
    }

    /// @notice Called once by the distributor at its first deposit: from then on every balance
    /// change is reported to it. Before any revenue the corrections are all zero, so transfers
    /// skip the two proxy hops of the hook (≈ 8k gas) until revenue exists.
    function activateRevenueHook() external {
        TokenStorage storage $ = _tokenStorage();
        if (msg.sender != $.distributor) revert NotDistributor(msg.sender);
        if (!$.revenueHookActive) {
            $.revenueHookActive = true;
            emit RevenueHookActivated(msg.sender);
        }
    }

    // ----------------------------------------------------------------- agent

    /// @notice Move tokens from a lost or compromised wallet to a replacement (AGENT_ROLE).
    /// Ignores the pause and the sender-side rules; the recipient must pass the mint checks.
    function forcedTransfer(address from, address to, uint256 amount) external onlyRole(AGENT_ROLE) {
        if (from == address(0) || to == address(0)) revert ZeroAddress();
        uint8 code = registry.detectTransferRestriction(address(this), address(0), to, amount);
        if (code != 0) revert TransferRestricted(code);
        emit ForcedTransfer(msg.sender, from, to, amount);
        TokenStorage storage $ = _tokenStorage();
        _move(from, to, amount, $.revenueHookActive ? $.distributor : address(0));
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

    // ------------------------------------------------------------- internals

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20Upgradeable, ERC20VotesUpgradeable)
    {
        TokenStorage storage $ = _tokenStorage();
        address hook = $.revenueHookActive ? $.distributor : address(0);
        if ($.paused) revert TokenPaused();
        if (to != address(0)) {
            uint8 code = registry.detectTransferRestriction(address(this), from, to, value);
            if (code != 0) revert TransferRestricted(code);
        }
        _move(from, to, value, hook);
    }

    /// @dev Balances + votes, then the revenue hook. Shared by `_update` and `forcedTransfer`.
    function _move(address from, address to, uint256 value, address hook) private {
        super._update(from, to, value);
        if (hook != address(0)) {
            IRevenueHook(hook).onTokenTransfer(from, to, value);
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

    function _tokenStorage() private pure returns (TokenStorage storage $) {
        assembly {
            $.slot := TOKEN_STORAGE
        }
    }

    /// @inheritdoc ERC20PermitUpgradeable
    function nonces(address owner) public view override(ERC20PermitUpgradeable, NoncesUpgradeable) returns (uint256) {
        return super.nonces(owner);
    }
}
