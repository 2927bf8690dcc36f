// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// TEST HELPERS ONLY — never deployed outside tests.

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @notice Test helper: ERC-20 with configurable decimals and an open `mint`.
contract TestERC20 is ERC20 {
    uint8 private immutable _decimals;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @notice Test helper: stand-in for the PortfolioToken's issuer interface (ISSUER_ROLE mint/burn,
/// registry check on every move including mint, `TransferRestricted(uint8)`).
contract TestMintableToken is ERC20, AccessControl {
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    IComplianceRegistry public immutable registry;

    error TransferRestricted(uint8 code);

    constructor(address admin, address registry_) ERC20("Test Portfolio Token", "TPT") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        registry = IComplianceRegistry(registry_);
    }

    function mint(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        _mint(to, amount);
    }

    function burn(address from, uint256 amount) external onlyRole(ISSUER_ROLE) {
        _burn(from, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (address(registry) != address(0) && to != address(0)) {
            uint8 code = registry.detectTransferRestriction(address(this), from, to, value);
            if (code != 0) revert TransferRestricted(code);
        }
        super._update(from, to, value);
    }
}

/// @notice Test helper: registry stand-in returning a settable restriction code per recipient.
contract TestComplianceRegistry is IComplianceRegistry {
    mapping(address => uint8) public codeFor;

    function setCode(address account, uint8 code) external {
        codeFor[account] = code;
    }

    function detectTransferRestriction(address, address, address to, uint256) external view returns (uint8) {
        return codeFor[to];
    }

    function canTransfer(address, address, address to, uint256) external view returns (bool) {
        return codeFor[to] == 0;
    }

    function messageForTransferRestriction(uint8 code) external pure returns (string memory) {
        return code == 0 ? "SUCCESS" : "RESTRICTED";
    }

    function isVerified(address investor) external view returns (bool) {
        return codeFor[investor] == 0;
    }
}

/// @notice Test helper: a receiver that rejects ETH (for push-failure paths).
contract TestRejectingReceiver {
    receive() external payable {
        revert("no ETH");
    }
}

/// @notice Test helper: an ERC-1271 contract signer that accepts its owner's ECDSA signatures.
contract TestERC1271Signer {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered,,) = ECDSA.tryRecover(hash, signature);
        return recovered == owner ? bytes4(0x1626ba7e) : bytes4(0xffffffff);
    }
}

/// @notice Test helper: 6-decimals ERC-20 that, once armed, calls `target` with `data` from inside
/// every transfer (to prove reentrancy guards); the callee's revert bubbles up.
contract TestReentrantERC20 is ERC20 {
    address public target;
    bytes public data;

    constructor() ERC20("Reentrant", "REE") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata data_) external {
        target = target_;
        data = data_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = target;
        if (t != address(0) && from != address(0)) {
            target = address(0);
            (bool ok, bytes memory ret) = t.call(data);
            if (!ok) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}
