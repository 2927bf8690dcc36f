// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {ZeroAddress} from "./lib/Errors.sol";

/// @title ComplianceRegistry
/// @notice Investor status (KYC valid-until, country, accreditation, frozen) and per-token rules
/// (lockups, blocked countries, accreditation requirement). Every Kogi token asks it
/// `detectTransferRestriction` in its transfer hook, so the hot path is kept to a few SLOADs:
/// one packed slot per investor, one packed rules slot per token, and the lockup / blocked-country
/// mappings are read only when the token has any lockup or blocked country at all.
///
/// Semantics of the three kinds of movement:
/// - transfer (from != 0, to != 0): sender and recipient are both checked (codes 1..8).
/// - mint (from == 0): only the recipient is checked (codes 2, 4, 7, 8).
/// - burn (to == 0): nothing is checked (code 0). A burn needs the holder's signature or allowance
///   (a redemption) and must work even on a frozen wallet; the token gates it.
///
/// Roles: DEFAULT_ADMIN_ROLE manages roles; COMPLIANCE_ROLE writes investor status and token rules;
/// AGENT_ROLE (or COMPLIANCE_ROLE) freezes and unfreezes wallets.
contract ComplianceRegistry is AccessControl, IComplianceRegistry {
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    bytes32 public constant AGENT_ROLE = keccak256("AGENT_ROLE");

    /// @notice Largest batch accepted by the batch setters (bounds the gas of one call).
    uint256 public constant MAX_BATCH = 500;

    uint8 public constant SUCCESS = 0;
    uint8 public constant SENDER_NOT_VERIFIED = 1;
    uint8 public constant RECIPIENT_NOT_VERIFIED = 2;
    uint8 public constant SENDER_FROZEN = 3;
    uint8 public constant RECIPIENT_FROZEN = 4;
    uint8 public constant SENDER_LOCKED = 5;
    uint8 public constant SENDER_COUNTRY_BLOCKED = 6;
    uint8 public constant RECIPIENT_COUNTRY_BLOCKED = 7;
    uint8 public constant RECIPIENT_NOT_ACCREDITED = 8;

    /// @dev One storage slot per investor (8 + 2 + 1 + 1 bytes).
    struct Investor {
        uint64 kycValidUntil; // unix seconds; verified while block.timestamp <= kycValidUntil
        uint16 country; // ISO 3166-1 numeric code (0 = unknown)
        bool accredited;
        bool frozen;
    }

    /// @dev One storage slot per token. The counters let the hot path skip the lockup and
    /// blocked-country mappings for tokens that use neither.
    struct TokenRules {
        bool accreditationRequired;
        uint32 blockedCountryCount;
        uint32 lockedHolderCount; // holders with a non-zero lockup entry (expired or not)
    }

    mapping(address investor => Investor) private _investors;
    mapping(address token => TokenRules) private _rules;
    mapping(address token => mapping(uint16 country => bool)) private _blockedCountry;
    mapping(address token => mapping(address holder => uint64)) private _lockupUntil;

    /// @notice Investor status written (KYC, country, accreditation).
    event InvestorUpdated(address indexed investor, uint64 kycValidUntil, uint16 country, bool accredited);
    /// @notice A wallet was frozen or unfrozen.
    event InvestorFrozen(address indexed investor, bool frozen, address indexed agent);
    /// @notice Lockup of `holder` on `token` set (0 = none).
    event LockupSet(address indexed token, address indexed holder, uint64 lockedUntil);
    /// @notice A country was blocked or unblocked for `token`.
    event CountryBlocked(address indexed token, uint16 indexed country, bool blocked);
    /// @notice `token` now requires (or no longer requires) accredited recipients.
    event AccreditationRequired(address indexed token, bool required);

    /// @notice Batch arrays differ in length.
    error ArrayLengthMismatch(uint256 expected, uint256 actual);
    /// @notice Batch larger than MAX_BATCH.
    error BatchTooLarge(uint256 length, uint256 max);
    /// @notice Caller has neither AGENT_ROLE nor COMPLIANCE_ROLE.
    error NotAgentOrCompliance(address caller);

    /// @param admin receives DEFAULT_ADMIN_ROLE (grants COMPLIANCE_ROLE and AGENT_ROLE).
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ checks

    /// @inheritdoc IComplianceRegistry
    function detectTransferRestriction(address token, address from, address to, uint256)
        public
        view
        override
        returns (uint8 code)
    {
        if (to == address(0)) return SUCCESS; // burn: gated by the token (holder or allowance), never blocked here
        // Hot path of every token transfer: each packed slot is read once as a word (see the
        // struct layouts above) instead of field by field.
        uint256 rules = _rulesWord(token);
        bool anyBlocked = (rules >> 8) & 0xffffffff != 0;
        if (from != address(0)) {
            uint256 sender = _investorWord(from);
            if (uint64(sender) < block.timestamp) return SENDER_NOT_VERIFIED;
            if ((sender >> 88) & 0xff != 0) return SENDER_FROZEN;
            if ((rules >> 40) & 0xffffffff != 0 && _lockupUntil[token][from] > block.timestamp) return SENDER_LOCKED;
            if (anyBlocked && _blockedCountry[token][uint16(sender >> 64)]) return SENDER_COUNTRY_BLOCKED;
        }
        uint256 recipient = _investorWord(to);
        if (uint64(recipient) < block.timestamp) return RECIPIENT_NOT_VERIFIED;
        if ((recipient >> 88) & 0xff != 0) return RECIPIENT_FROZEN;
        if (anyBlocked && _blockedCountry[token][uint16(recipient >> 64)]) return RECIPIENT_COUNTRY_BLOCKED;
        if (rules & 0xff != 0 && (recipient >> 80) & 0xff == 0) return RECIPIENT_NOT_ACCREDITED;
        return SUCCESS;
    }

    /// @inheritdoc IComplianceRegistry
    function canTransfer(address token, address from, address to, uint256 amount) external view override returns (bool) {
        return detectTransferRestriction(token, from, to, amount) == SUCCESS;
    }

    /// @inheritdoc IComplianceRegistry
    function messageForTransferRestriction(uint8 code) external pure override returns (string memory) {
        if (code == SUCCESS) return "SUCCESS";
        if (code == SENDER_NOT_VERIFIED) return "SENDER_NOT_VERIFIED: sender has no valid KYC";
        if (code == RECIPIENT_NOT_VERIFIED) return "RECIPIENT_NOT_VERIFIED: recipient has no valid KYC";
        if (code == SENDER_FROZEN) return "SENDER_FROZEN: sender wallet is frozen";
        if (code == RECIPIENT_FROZEN) return "RECIPIENT_FROZEN: recipient wallet is frozen";
        if (code == SENDER_LOCKED) return "SENDER_LOCKED: sender tokens are locked up";
        if (code == SENDER_COUNTRY_BLOCKED) return "SENDER_COUNTRY_BLOCKED: sender country is blocked for this token";
        if (code == RECIPIENT_COUNTRY_BLOCKED) {
            return "RECIPIENT_COUNTRY_BLOCKED: recipient country is blocked for this token";
        }
        if (code == RECIPIENT_NOT_ACCREDITED) return "RECIPIENT_NOT_ACCREDITED: token requires an accredited investor";
        return "UNKNOWN_RESTRICTION";
    }

    /// @inheritdoc IComplianceRegistry
    /// @dev Verified means KYC present and not expired; frozen is a separate status (see `investor`).
    function isVerified(address investor_) external view override returns (bool) {
        return _investors[investor_].kycValidUntil >= block.timestamp;
    }

    /// @notice Full status of an investor.
    function investor(address investor_)
        external
        view
        returns (uint64 kycValidUntil, uint16 country, bool accredited, bool frozen)
    {
        Investor memory i = _investors[investor_];
        return (i.kycValidUntil, i.country, i.accredited, i.frozen);
    }

    /// @notice Rules of a token: accreditation flag and how many countries / holders are restricted.
    function tokenRules(address token)
        external
        view
        returns (bool accreditationRequired, uint32 blockedCountryCount, uint32 lockedHolderCount)
    {
        TokenRules memory r = _rules[token];
        return (r.accreditationRequired, r.blockedCountryCount, r.lockedHolderCount);
    }

    /// @notice Lockup end of `holder` on `token` (0 = none).
    function lockupUntil(address token, address holder) external view returns (uint64) {
        return _lockupUntil[token][holder];
    }

    /// @notice Whether `country` is blocked for `token`.
    function isCountryBlocked(address token, uint16 country) external view returns (bool) {
        return _blockedCountry[token][country];
    }

    // ----------------------------------------------------------------- setters

    /// @notice Write one investor's KYC expiry, country and accreditation (frozen flag unchanged).
    /// @param kycValidUntil unix seconds; 0 revokes verification.
    function setInvestor(address investor_, uint64 kycValidUntil, uint16 country, bool accredited)
        external
        onlyRole(COMPLIANCE_ROLE)
    {
        _setInvestor(investor_, kycValidUntil, country, accredited);
    }

    /// @notice Batch form of `setInvestor` (at most MAX_BATCH entries).
    function batchSetInvestors(
        address[] calldata investors,
        uint64[] calldata kycValidUntil,
        uint16[] calldata countries,
        bool[] calldata accredited
    ) external onlyRole(COMPLIANCE_ROLE) {
        uint256 n = investors.length;
        _checkBatch(n, kycValidUntil.length);
        _checkBatch(n, countries.length);
        _checkBatch(n, accredited.length);
        for (uint256 i = 0; i < n; ++i) {
            _setInvestor(investors[i], kycValidUntil[i], countries[i], accredited[i]);
        }
    }

    /// @notice Freeze or unfreeze a wallet on every token (AGENT_ROLE or COMPLIANCE_ROLE).
    function setFrozen(address investor_, bool frozen) external {
        _checkAgent();
        _setFrozen(investor_, frozen);
    }

    /// @notice Batch form of `setFrozen`.
    function batchSetFrozen(address[] calldata investors, bool[] calldata frozen) external {
        _checkAgent();
        uint256 n = investors.length;
        _checkBatch(n, frozen.length);
        for (uint256 i = 0; i < n; ++i) {
            _setFrozen(investors[i], frozen[i]);
        }
    }

    /// @notice Lock `holder`'s tokens of `token` until `lockedUntil` (0 removes the lockup).
    function setLockup(address token, address holder, uint64 lockedUntil) external onlyRole(COMPLIANCE_ROLE) {
        _setLockup(token, holder, lockedUntil);
    }

    /// @notice Batch form of `setLockup` for one token.
    function batchSetLockups(address token, address[] calldata holders, uint64[] calldata lockedUntil)
        external
        onlyRole(COMPLIANCE_ROLE)
    {
        uint256 n = holders.length;
        _checkBatch(n, lockedUntil.length);
        for (uint256 i = 0; i < n; ++i) {
            _setLockup(token, holders[i], lockedUntil[i]);
        }
    }

    /// @notice Block or unblock investors of `country` from sending or receiving `token`.
    function setCountryBlocked(address token, uint16 country, bool blocked) external onlyRole(COMPLIANCE_ROLE) {
        _setCountryBlocked(token, country, blocked);
    }

    /// @notice Batch form of `setCountryBlocked` for one token.
    function batchSetCountriesBlocked(address token, uint16[] calldata countries, bool blocked)
        external
        onlyRole(COMPLIANCE_ROLE)
    {
        uint256 n = countries.length;
        _checkBatch(n, n);
        for (uint256 i = 0; i < n; ++i) {
            _setCountryBlocked(token, countries[i], blocked);
        }
    }

    /// @notice Require (or stop requiring) accredited recipients for `token`.
    function setAccreditationRequired(address token, bool required) external onlyRole(COMPLIANCE_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        _rules[token].accreditationRequired = required;
        emit AccreditationRequired(token, required);
    }

    // ---------------------------------------------------------------- internals

    function _setInvestor(address investor_, uint64 kycValidUntil, uint16 country, bool accredited) private {
        if (investor_ == address(0)) revert ZeroAddress();
        Investor storage i = _investors[investor_];
        i.kycValidUntil = kycValidUntil;
        i.country = country;
        i.accredited = accredited;
        emit InvestorUpdated(investor_, kycValidUntil, country, accredited);
    }

    function _setFrozen(address investor_, bool frozen) private {
        if (investor_ == address(0)) revert ZeroAddress();
        _investors[investor_].frozen = frozen;
        emit InvestorFrozen(investor_, frozen, msg.sender);
    }

    function _setLockup(address token, address holder, uint64 lockedUntil) private {
        if (token == address(0) || holder == address(0)) revert ZeroAddress();
        uint64 previous = _lockupUntil[token][holder];
        if (previous == 0 && lockedUntil != 0) {
            _rules[token].lockedHolderCount += 1;
        } else if (previous != 0 && lockedUntil == 0) {
            _rules[token].lockedHolderCount -= 1;
        }
        _lockupUntil[token][holder] = lockedUntil;
        emit LockupSet(token, holder, lockedUntil);
    }

    function _setCountryBlocked(address token, uint16 country, bool blocked) private {
        if (token == address(0)) revert ZeroAddress();
        bool previous = _blockedCountry[token][country];
        if (previous != blocked) {
            _blockedCountry[token][country] = blocked;
            if (blocked) {
                _rules[token].blockedCountryCount += 1;
            } else {
                _rules[token].blockedCountryCount -= 1;
            }
        }
        emit CountryBlocked(token, country, blocked);
    }

    /// @dev The raw slot of `_investors[investor]`: kycValidUntil bits 0-63, country 64-79,
    /// accredited 80-87, frozen 88-95 (Solidity packs struct members from the low-order end).
    function _investorWord(address investor_) private view returns (uint256 word) {
        assembly ("memory-safe") {
            mstore(0x00, investor_)
            mstore(0x20, _investors.slot)
            word := sload(keccak256(0x00, 0x40))
        }
    }

    /// @dev The raw slot of `_rules[token]`: accreditationRequired bits 0-7, blockedCountryCount
    /// 8-39, lockedHolderCount 40-71.
    function _rulesWord(address token) private view returns (uint256 word) {
        assembly ("memory-safe") {
            mstore(0x00, token)
            mstore(0x20, _rules.slot)
            word := sload(keccak256(0x00, 0x40))
        }
    }

    function _checkBatch(uint256 length, uint256 otherLength) private pure {
        if (length > MAX_BATCH) revert BatchTooLarge(length, MAX_BATCH);
        if (otherLength != length) revert ArrayLengthMismatch(length, otherLength);
    }

    function _checkAgent() private view {
        if (!hasRole(AGENT_ROLE, msg.sender) && !hasRole(COMPLIANCE_ROLE, msg.sender)) {
            revert NotAgentOrCompliance(msg.sender);
        }
    }
}
