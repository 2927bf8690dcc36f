// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {ERC1155Upgradeable} from "@openzeppelin/contracts-upgradeable/token/ERC1155/ERC1155Upgradeable.sol";
import {ERC1155SupplyUpgradeable} from
    "@openzeppelin/contracts-upgradeable/token/ERC1155/extensions/ERC1155SupplyUpgradeable.sol";
import {ERC2981Upgradeable} from "@openzeppelin/contracts-upgradeable/token/common/ERC2981Upgradeable.sol";
import {IComplianceRegistry} from "./interfaces/IComplianceRegistry.sol";
import {ZeroAddress} from "./lib/Errors.sol";

/// @title RightsToken
/// @notice ERC-1155 of one portfolio's rights (licences to use its works). Every id is created once by
/// the issuer with a licence kind, a metadata URI (both immutable afterwards), an optional supply cap
/// and optional royalty; ERC-2981 royalties fall back to the default. Ids flagged `securityLike` are
/// checked against the ComplianceRegistry on every mint and transfer
/// (`detectTransferRestriction(address(this), from, to, amount)`, code ≠ 0 reverts).
///
/// Roles (contracts/TRUST.md): the creator holds DEFAULT_ADMIN_ROLE (royalties, ISSUER_ROLE) and
/// ISSUER_ROLE; the platform holds PLATFORM_ROLE, the only role that can change the registry, and
/// administers it itself, so the creator cannot clear wallets through a registry of its own.
contract RightsToken is Initializable, AccessControlUpgradeable, ERC1155SupplyUpgradeable, ERC2981Upgradeable {
    /// @notice Creates ids and mints them.
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @notice The platform (governance): sets the compliance registry; role admin of itself, so the
    /// creator (DEFAULT_ADMIN_ROLE) can neither take this role nor point the token at a registry of its own.
    bytes32 public constant PLATFORM_ROLE = keccak256("PLATFORM_ROLE");
    /// @notice Upper bound on a royalty: 10 % (ERC-2981 denominator is 10_000).
    uint96 public constant MAX_ROYALTY_BPS = 1_000;
    /// @notice Upper bound on a metadata URI, in bytes.
    uint256 public constant MAX_URI_BYTES = 512;

    enum LicenceKind {
        Personal,
        Commercial,
        LimitedCommercial
    }

    /// @notice Terms of one id. `maxSupply == 0` means uncapped.
    struct Right {
        bool exists;
        bool securityLike;
        LicenceKind kind;
        uint256 maxSupply;
    }

    /// @notice Registry consulted for security-like ids.
    IComplianceRegistry public complianceRegistry;
    mapping(uint256 id => Right) private _rights;
    mapping(uint256 id => string) private _uris;

    /// @notice Id `id` was created with these terms; royalty fields are zero when the default applies.
    event RightCreated(
        uint256 indexed id,
        LicenceKind kind,
        bool securityLike,
        uint256 maxSupply,
        string uri,
        address royaltyReceiver,
        uint96 royaltyBps
    );
    event DefaultRoyaltySet(address indexed receiver, uint96 royaltyBps);
    event TokenRoyaltySet(uint256 indexed id, address indexed receiver, uint96 royaltyBps);
    event ComplianceRegistryChanged(address indexed previousRegistry, address indexed newRegistry);

    error RightAlreadyExists(uint256 id);
    error UnknownRight(uint256 id);
    error InvalidUri(uint256 length);
    error RoyaltyTooHigh(uint96 royaltyBps, uint96 maxRoyaltyBps);
    error MaxSupplyExceeded(uint256 id, uint256 newSupply, uint256 maxSupply);
    /// @notice A security-like right cannot move: `code` is the ComplianceRegistry restriction code.
    error RightTransferRestricted(uint256 id, uint8 code);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Configure a freshly cloned rights token. Called once, by the factory.
    /// @param admin Granted DEFAULT_ADMIN_ROLE (royalties, ISSUER_ROLE and DEFAULT_ADMIN_ROLE).
    /// @param issuer Granted ISSUER_ROLE (create ids, mint); may be zero to grant later.
    /// @param platform Granted PLATFORM_ROLE (compliance registry; administers PLATFORM_ROLE); non-zero.
    /// @param complianceRegistry Registry consulted for security-like ids; non-zero.
    /// @param royaltyReceiver Default ERC-2981 receiver; zero for no default royalty.
    /// @param royaltyBps Default royalty in basis points (<= MAX_ROYALTY_BPS); ignored if receiver is zero.
    function initialize(
        address admin,
        address issuer,
        address platform,
        address complianceRegistry,
        address royaltyReceiver,
        uint96 royaltyBps
    ) external initializer {
        if (admin == address(0) || platform == address(0) || complianceRegistry == address(0)) revert ZeroAddress();
        __ERC1155_init("");
        __ERC1155Supply_init();
        __ERC2981_init();
        __AccessControl_init();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PLATFORM_ROLE, platform);
        if (issuer != address(0)) _grantRole(ISSUER_ROLE, issuer);
        _setRegistry(complianceRegistry);
        if (royaltyReceiver != address(0)) _setDefault(royaltyReceiver, royaltyBps);
    }

    // ---------------------------------------------------------------- issuer

    /// @notice Create id `id` with its licence terms (immutable afterwards) (ISSUER_ROLE).
    /// @param id New id.
    /// @param kind Licence kind.
    /// @param securityLike True if transfers must pass the ComplianceRegistry.
    /// @param maxSupply Supply cap; 0 = uncapped.
    /// @param metadataUri Metadata URI of the id (1..MAX_URI_BYTES bytes).
    /// @param royaltyReceiver Per-id royalty receiver; zero = use the default royalty.
    /// @param royaltyBps Per-id royalty (<= MAX_ROYALTY_BPS); ignored if receiver is zero.
    function createRight(
        uint256 id,
        LicenceKind kind,
        bool securityLike,
        uint256 maxSupply,
        string calldata metadataUri,
        address royaltyReceiver,
        uint96 royaltyBps
    ) external onlyRole(ISSUER_ROLE) {
        if (_rights[id].exists) revert RightAlreadyExists(id);
        uint256 uriLength = bytes(metadataUri).length;
        if (uriLength == 0 || uriLength > MAX_URI_BYTES) revert InvalidUri(uriLength);
        _rights[id] = Right({exists: true, securityLike: securityLike, kind: kind, maxSupply: maxSupply});
        _uris[id] = metadataUri;
        if (royaltyReceiver != address(0)) {
            _setForId(id, royaltyReceiver, royaltyBps);
        } else {
            royaltyBps = 0;
        }
        emit RightCreated(id, kind, securityLike, maxSupply, metadataUri, royaltyReceiver, royaltyBps);
        emit URI(metadataUri, id);
    }

    /// @notice Mint `amount` of existing id `id` to `to` (ISSUER_ROLE); emits TransferSingle.
    /// @param to Recipient (checked against the registry when the id is security-like).
    /// @param id Existing id.
    /// @param amount Units to mint; total supply must stay within the id's cap.
    function mint(address to, uint256 id, uint256 amount) external onlyRole(ISSUER_ROLE) {
        Right storage right = _rights[id];
        if (!right.exists) revert UnknownRight(id);
        uint256 newSupply = totalSupply(id) + amount;
        if (right.maxSupply != 0 && newSupply > right.maxSupply) {
            revert MaxSupplyExceeded(id, newSupply, right.maxSupply);
        }
        _mint(to, id, amount, "");
    }

    // ---------------------------------------------------------------- admin

    /// @notice Set the default royalty (DEFAULT_ADMIN_ROLE).
    /// @param receiver Royalty receiver; non-zero.
    /// @param royaltyBps Royalty in basis points (<= MAX_ROYALTY_BPS).
    function setDefaultRoyalty(address receiver, uint96 royaltyBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (receiver == address(0)) revert ZeroAddress();
        _setDefault(receiver, royaltyBps);
    }

    /// @notice Set the royalty of one existing id (DEFAULT_ADMIN_ROLE).
    /// @param id Existing id.
    /// @param receiver Royalty receiver; non-zero.
    /// @param royaltyBps Royalty in basis points (<= MAX_ROYALTY_BPS).
    function setTokenRoyalty(uint256 id, address receiver, uint96 royaltyBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_rights[id].exists) revert UnknownRight(id);
        if (receiver == address(0)) revert ZeroAddress();
        _setForId(id, receiver, royaltyBps);
    }

    // ---------------------------------------------------------------- platform

    /// @notice Point at another ComplianceRegistry (PLATFORM_ROLE). Not the creator's: a registry of
    /// its own would let it clear any wallet for the security-like ids.
    /// @param newRegistry Registry address; non-zero.
    function setComplianceRegistry(address newRegistry) external onlyRole(PLATFORM_ROLE) {
        if (newRegistry == address(0)) revert ZeroAddress();
        _setRegistry(newRegistry);
    }

    // ---------------------------------------------------------------- views

    /// @notice Terms of id `id` (reverts for unknown ids).
    function rightOf(uint256 id)
        external
        view
        returns (LicenceKind kind, bool securityLike, uint256 maxSupply, string memory metadataUri)
    {
        Right storage right = _rights[id];
        if (!right.exists) revert UnknownRight(id);
        return (right.kind, right.securityLike, right.maxSupply, _uris[id]);
    }

    /// @notice Whether id `id` was created.
    function rightExists(uint256 id) external view returns (bool) {
        return _rights[id].exists;
    }

    /// @notice Metadata URI of id `id` (empty for unknown ids).
    function uri(uint256 id) public view override returns (string memory) {
        return _uris[id];
    }

    /// @notice ERC-165: ERC-1155 (+ metadata URI), ERC-2981 and AccessControl.
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(AccessControlUpgradeable, ERC1155Upgradeable, ERC2981Upgradeable)
        returns (bool)
    {
        return ERC1155Upgradeable.supportsInterface(interfaceId) || ERC2981Upgradeable.supportsInterface(interfaceId)
            || AccessControlUpgradeable.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------- internals

    /// @dev Compliance for security-like ids on mint and transfer (burns are not exposed).
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        if (to != address(0)) {
            for (uint256 i; i < ids.length; ++i) {
                if (_rights[ids[i]].securityLike) {
                    uint8 code = complianceRegistry.detectTransferRestriction(address(this), from, to, values[i]);
                    if (code != 0) revert RightTransferRestricted(ids[i], code);
                }
            }
        }
        super._update(from, to, ids, values);
    }

    function _setRegistry(address newRegistry) private {
        emit ComplianceRegistryChanged(address(complianceRegistry), newRegistry);
        complianceRegistry = IComplianceRegistry(newRegistry);
    }

    function _setDefault(address receiver, uint96 royaltyBps) private {
        if (royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(royaltyBps, MAX_ROYALTY_BPS);
        _setDefaultRoyalty(receiver, royaltyBps);
        emit DefaultRoyaltySet(receiver, royaltyBps);
    }

    function _setForId(uint256 id, address receiver, uint96 royaltyBps) private {
        if (royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(royaltyBps, MAX_ROYALTY_BPS);
        _setTokenRoyalty(id, receiver, royaltyBps);
        emit TokenRoyaltySet(id, receiver, royaltyBps);
    }

    /// @notice The role whose holders grant and revoke `role`: PLATFORM_ROLE administers itself, so the
    /// creator can neither take it nor remove the platform; DEFAULT_ADMIN_ROLE administers the rest.
    /// Fixed in code rather than stored at every clone's initialisation.
    function getRoleAdmin(bytes32 role) public pure override returns (bytes32) {
        return role == PLATFORM_ROLE ? PLATFORM_ROLE : DEFAULT_ADMIN_ROLE;
    }
}
