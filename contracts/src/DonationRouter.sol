// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ZeroAddress} from "./lib/Errors.sol";
import {Bps} from "./lib/Bps.sol";

/// @title DonationRouter
/// @notice Core singleton: donate, tip or gift ETH or a whitelisted ERC-20 to a registered portfolio's
/// treasury; a platform fee goes to the fee recipient.
///
/// Currencies: only currencies the admin allowed (`setCurrencyAllowed`) can be donated, so a look-alike
/// ERC-20 ("USDC" that is not USDC) cannot create a `Donated` event the ledger would book as money.
/// Native ETH is the currency `ETH` (address(0)) in the same whitelist: allowed at deployment with no
/// minimum fee, and the admin can give it a minimum fee or disallow it like any other currency.
///
/// Fee: `max(amount * feeBps / BPS, minFee of the currency)`. The minimum fee keeps tiny donations
/// from costing the platform more than they bring. The fee stays bounded as before: it is never more
/// than MAX_FEE_BPS of the donation, so a donation smaller than `minDonation(currency)`
/// (= minFee * BPS / MAX_FEE_BPS, rounded up, and at least 1) is refused with `DonationTooSmall` rather
/// than charged a larger share. As a consequence the treasury always receives a non-zero amount.
///
/// Non-custodial push: the router never holds funds. ERC-20 move straight from the donor to the
/// treasury and to the fee recipient (`transferFrom`), ETH is forwarded in the same call. This is
/// safe because (a) any failing leg reverts the whole donation — nothing is left behind or
/// half-booked, (b) `donate` is nonReentrant and has no state to corrupt, (c) treasuries are only
/// set by the registrar (the factory) or the admin. A treasury that cannot receive simply makes
/// donations to it revert; no one else is affected.
///
/// Amounts in the event are what actually arrived (balance deltas), so a fee-on-transfer token
/// cannot make the ledger over-credit: `gross == fee + net` always holds in the event.
///
/// Anonymity: with `isAnonymous == true` the event's `donor` is the zero address so apps and the
/// public feed show no name. This is presentation only — the chain is public, and the ledger books
/// the payer from the transaction (`tx.from` / the ERC-20 Transfer log from the payer in the same
/// transaction) into a restricted field, never into the public event.
contract DonationRouter is AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Registers portfolio treasuries (granted to the PortfolioFactory).
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");
    /// @notice Upper bound on the platform fee (10 %).
    uint16 public constant MAX_FEE_BPS = Bps.MAX_FEE;
    /// @notice Upper bound on a donation message, in bytes (UTF-8).
    uint256 public constant MAX_MESSAGE_BYTES = 280;
    /// @notice Token address that stands for native ETH.
    address public constant ETH = address(0);

    enum Kind {
        Donation,
        Tip,
        Gift
    }

    /// @notice Receives the platform fee.
    address public feeRecipient;
    /// @notice Platform fee in basis points (<= MAX_FEE_BPS).
    uint16 public feeBps;
    /// @notice Treasury of each registered portfolio (zero = not registered).
    mapping(uint256 portfolioId => address) public treasuryOf;

    /// @notice Whether a currency can be donated, and its minimum fee in the currency's base units.
    struct Currency {
        bool allowed;
        uint128 minFee;
    }

    /// @notice Rule of each currency (ERC-20 address, or ETH = address(0)); unknown = not allowed.
    mapping(address currency => Currency) public currencyOf;

    /// @notice One donation. `donor` is zero when `isAnonymous`; amounts are base units of `token`
    /// (zero = ETH) that arrived: `gross == fee + net`, `net` to `treasuryOf(portfolioId)`, `fee` to the fee recipient
    /// and treasury current at that block (see `FeeRecipientChanged`, `PortfolioRegistered`,
    /// `TreasuryChanged`); the ledger books by portfolio id (`portfolio:<id>:treasury`).
    event Donated(
        uint256 indexed portfolioId,
        Kind indexed kind,
        address indexed donor,
        address token,
        uint256 gross,
        uint256 fee,
        uint256 net,
        bool isAnonymous,
        string message
    );
    event PortfolioRegistered(uint256 indexed portfolioId, address indexed treasury, address indexed by);
    event TreasuryChanged(uint256 indexed portfolioId, address indexed previousTreasury, address indexed newTreasury);
    event FeeChanged(uint16 previousFeeBps, uint16 newFeeBps);
    event FeeRecipientChanged(address indexed previousRecipient, address indexed newRecipient);
    /// @notice `currency` (ETH = address(0)) is now allowed or not, with minimum fee `minFee` (base units).
    event CurrencyChanged(address indexed currency, bool allowed, uint128 minFee);

    error FeeTooHigh(uint16 feeBps, uint16 maxFeeBps);
    error PortfolioAlreadyRegistered(uint256 portfolioId, address treasury);
    error UnknownPortfolio(uint256 portfolioId);
    error ZeroAmount();
    error MessageTooLong(uint256 length, uint256 maxLength);
    /// @notice ETH donations need `msg.value == amount`; ERC-20 donations need `msg.value == 0`.
    error ValueMismatch(uint256 msgValue, uint256 amount);
    /// @notice `currency` is not in the admin's whitelist (`setCurrencyAllowed`).
    error CurrencyNotAllowed(address currency);
    /// @notice `amount` is below `minAmount`, the smallest donation whose minimum fee stays within MAX_FEE_BPS.
    error DonationTooSmall(uint256 amount, uint256 minAmount);

    /// @notice Deploy with ETH allowed (no minimum fee) and no ERC-20 allowed yet.
    /// @param admin Granted DEFAULT_ADMIN_ROLE (fee, fee recipient, currencies, treasury changes, roles).
    /// @param initialFeeRecipient Receives the platform fee; non-zero.
    /// @param initialFeeBps Platform fee in basis points; <= MAX_FEE_BPS.
    constructor(address admin, address initialFeeRecipient, uint16 initialFeeBps) {
        if (admin == address(0) || initialFeeRecipient == address(0)) revert ZeroAddress();
        if (initialFeeBps > MAX_FEE_BPS) revert FeeTooHigh(initialFeeBps, MAX_FEE_BPS);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        feeRecipient = initialFeeRecipient;
        feeBps = initialFeeBps;
        emit FeeRecipientChanged(address(0), initialFeeRecipient);
        emit FeeChanged(0, initialFeeBps);
        _setCurrency(ETH, true, 0);
    }

    /// @notice Register the treasury of a new portfolio (REGISTRAR_ROLE, i.e. the factory). Once only.
    /// @param portfolioId Portfolio id (as assigned by the factory).
    /// @param treasury Address receiving the portfolio's donations; non-zero.
    function registerPortfolio(uint256 portfolioId, address treasury) external onlyRole(REGISTRAR_ROLE) {
        if (treasury == address(0)) revert ZeroAddress();
        address existing = treasuryOf[portfolioId];
        if (existing != address(0)) revert PortfolioAlreadyRegistered(portfolioId, existing);
        treasuryOf[portfolioId] = treasury;
        emit PortfolioRegistered(portfolioId, treasury, msg.sender);
    }

    /// @notice Replace a registered portfolio's treasury (DEFAULT_ADMIN_ROLE), e.g. a migrated multisig.
    /// @param portfolioId Registered portfolio.
    /// @param newTreasury New treasury; non-zero.
    function setTreasury(uint256 portfolioId, address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert ZeroAddress();
        address previous = treasuryOf[portfolioId];
        if (previous == address(0)) revert UnknownPortfolio(portfolioId);
        treasuryOf[portfolioId] = newTreasury;
        emit TreasuryChanged(portfolioId, previous, newTreasury);
    }

    /// @notice Set the platform fee (DEFAULT_ADMIN_ROLE).
    /// @param newFeeBps Basis points; <= MAX_FEE_BPS.
    function setFee(uint16 newFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFeeBps > MAX_FEE_BPS) revert FeeTooHigh(newFeeBps, MAX_FEE_BPS);
        emit FeeChanged(feeBps, newFeeBps);
        feeBps = newFeeBps;
    }

    /// @notice Set the platform fee recipient (DEFAULT_ADMIN_ROLE).
    /// @param newRecipient Non-zero address.
    function setFeeRecipient(address newRecipient) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newRecipient == address(0)) revert ZeroAddress();
        emit FeeRecipientChanged(feeRecipient, newRecipient);
        feeRecipient = newRecipient;
    }

    /// @notice Allow or disallow a currency and set its minimum fee (DEFAULT_ADMIN_ROLE). Allow only
    /// tokens the ledger should book as money (the real stablecoin, not a look-alike), and no
    /// fee-on-transfer or rebasing token unless the fee rules were checked against it.
    /// @param currency ERC-20 address, or ETH (address(0)) for native ETH.
    /// @param allowed Whether donations in `currency` are accepted.
    /// @param minFee Minimum platform fee in base units of `currency` (0 = percentage only); the
    /// smallest accepted donation is then `minDonation(currency)`.
    function setCurrencyAllowed(address currency, bool allowed, uint128 minFee)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setCurrency(currency, allowed, minFee);
    }

    /// @notice Smallest donation accepted in `currency`: its minimum fee is at most MAX_FEE_BPS of it.
    /// Reverts `CurrencyNotAllowed` for a currency that is not allowed.
    /// @param currency ERC-20 address, or ETH (address(0)).
    /// @return minAmount Base units of `currency`; at least 1.
    function minDonation(address currency) public view returns (uint256 minAmount) {
        Currency memory rule = currencyOf[currency];
        if (!rule.allowed) revert CurrencyNotAllowed(currency);
        return _minDonation(rule.minFee);
    }

    /// @notice Donate, tip or gift to portfolio `portfolioId`. ETH: `token == address(0)` and
    /// `msg.value == amount`. ERC-20: approve this router for `amount` first, `msg.value == 0`.
    /// The currency must be allowed; fee = max(amount * feeBps / BPS, the currency's minFee).
    /// @param portfolioId Registered portfolio.
    /// @param kind Donation, Tip or Gift.
    /// @param token Allowed ERC-20 address, or address(0) for ETH.
    /// @param amount Gross base units paid by the sender; >= minDonation(token).
    /// @param message Free text shown with the donation, <= MAX_MESSAGE_BYTES bytes.
    /// @param isAnonymous Hide the donor in the event (donor = address(0)).
    /// @return net Base units that reached the treasury.
    function donate(
        uint256 portfolioId,
        Kind kind,
        address token,
        uint256 amount,
        string calldata message,
        bool isAnonymous
    ) external payable nonReentrant returns (uint256 net) {
        if (bytes(message).length > MAX_MESSAGE_BYTES) revert MessageTooLong(bytes(message).length, MAX_MESSAGE_BYTES);
        uint256 fee;
        (fee, net) = _settle(portfolioId, token, amount);
        emit Donated(portfolioId, kind, isAnonymous ? address(0) : msg.sender, token, fee + net, fee, net, isAnonymous, message);
    }

    /// @dev Move the donation: fee to the fee recipient, the rest to the treasury; returns what arrived.
    function _settle(uint256 portfolioId, address token, uint256 amount)
        private
        returns (uint256 fee, uint256 net)
    {
        address treasury = treasuryOf[portfolioId];
        if (treasury == address(0)) revert UnknownPortfolio(portfolioId);
        if (amount == 0) revert ZeroAmount();
        Currency memory rule = currencyOf[token];
        if (!rule.allowed) revert CurrencyNotAllowed(token);
        uint256 minAmount = _minDonation(rule.minFee);
        if (amount < minAmount) revert DonationTooSmall(amount, minAmount);
        address recipient = feeRecipient;
        // fee <= amount * MAX_FEE_BPS / BPS < amount: bounded as before, and the treasury gets > 0
        fee = Math.max(Bps.share(amount, feeBps), rule.minFee);
        uint256 netRequested = amount - fee;
        if (token == ETH) {
            if (msg.value != amount) revert ValueMismatch(msg.value, amount);
            net = netRequested;
            if (fee > 0) Address.sendValue(payable(recipient), fee);
            Address.sendValue(payable(treasury), net);
        } else {
            if (msg.value != 0) revert ValueMismatch(msg.value, amount);
            if (fee > 0) fee = _pull(IERC20(token), recipient, fee);
            net = _pull(IERC20(token), treasury, netRequested);
        }
    }

    /// @dev Smallest amount whose fee floor `minFee` is at most MAX_FEE_BPS of it (>= 1, > minFee).
    function _minDonation(uint128 minFee) private pure returns (uint256) {
        if (minFee == 0) return 1;
        return Math.mulDiv(minFee, Bps.DENOMINATOR, MAX_FEE_BPS, Math.Rounding.Ceil);
    }

    function _setCurrency(address currency, bool allowed, uint128 minFee) private {
        currencyOf[currency] = Currency({allowed: allowed, minFee: minFee});
        emit CurrencyChanged(currency, allowed, minFee);
    }

    /// @dev Move `amount` from the sender to `to`, returning what arrived (balance delta).
    function _pull(IERC20 erc20, address to, uint256 amount) private returns (uint256) {
        uint256 before = erc20.balanceOf(to);
        erc20.safeTransferFrom(msg.sender, to, amount);
        return erc20.balanceOf(to) - before;
    }
}
