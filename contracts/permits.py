"""EIP-712 investment permits for FundingRound.

The compliance service signs one permit per investment it clears:

    InvestmentPermit(address investor,address round,uint256 maxAmount,uint256 deadline,uint256 nonce)

under the domain {name: "KogiFundingRound", version: "1", chainId, verifyingContract: round}.
These constants must match contracts/src/FundingRound.sol (`__EIP712_init` and
`INVESTMENT_PERMIT_TYPEHASH`); tests compare the Python digest with the contract's
`investmentPermitDigest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

DOMAIN_NAME = "KogiFundingRound"
DOMAIN_VERSION = "1"
PRIMARY_TYPE = "InvestmentPermit"
PERMIT_FIELDS: list[dict[str, str]] = [
    {"name": "investor", "type": "address"},
    {"name": "round", "type": "address"},
    {"name": "maxAmount", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
    {"name": "nonce", "type": "uint256"},
]
PERMIT_TYPE_STRING = "InvestmentPermit(address investor,address round,uint256 maxAmount,uint256 deadline,uint256 nonce)"
PERMIT_TYPEHASH = keccak(text=PERMIT_TYPE_STRING)
UINT256_MAX = 2**256 - 1


@dataclass(frozen=True)
class InvestmentPermit:
    """One permit: `investor` may invest up to `max_amount_units` stablecoin base units in
    `round_address` until unix time `deadline_s`, once (`nonce`)."""

    chain_id: int
    round_address: str
    investor: str
    max_amount_units: int
    deadline_s: int
    nonce: int

    def __post_init__(self) -> None:
        for name in ("max_amount_units", "deadline_s", "nonce"):
            value = getattr(self, name)
            if not 0 <= value <= UINT256_MAX:
                raise ValueError(f"{name} out of uint256 range: {value}")

    def typed_data(self) -> dict[str, Any]:
        """The full EIP-712 message (as accepted by eth_signTypedData_v4)."""
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                PRIMARY_TYPE: PERMIT_FIELDS,
            },
            "primaryType": PRIMARY_TYPE,
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": self.chain_id,
                "verifyingContract": to_checksum_address(self.round_address),
            },
            "message": {
                "investor": to_checksum_address(self.investor),
                "round": to_checksum_address(self.round_address),
                "maxAmount": self.max_amount_units,
                "deadline": self.deadline_s,
                "nonce": self.nonce,
            },
        }

    def digest(self) -> bytes:
        """The 32-byte EIP-712 hash that is signed (equals `investmentPermitDigest` on chain)."""
        signable = encode_typed_data(full_message=self.typed_data())
        return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_investment_permit(
    private_key: bytes | str,
    *,
    chain_id: int,
    round_address: str,
    investor: str,
    max_amount: int,
    deadline: int,
    nonce: int,
) -> bytes:
    """Sign a permit with the compliance signer's key; returns the 65-byte r‖s‖v signature."""
    permit = InvestmentPermit(chain_id, round_address, investor, max_amount, deadline, nonce)
    signed = Account.sign_typed_data(private_key, full_message=permit.typed_data())
    return bytes(signed.signature)


def recover_permit_signer(
    signature: bytes,
    *,
    chain_id: int,
    round_address: str,
    investor: str,
    max_amount: int,
    deadline: int,
    nonce: int,
) -> str:
    """The address that signed this permit (checksummed)."""
    permit = InvestmentPermit(chain_id, round_address, investor, max_amount, deadline, nonce)
    signable = encode_typed_data(full_message=permit.typed_data())
    signer: str = Account.recover_message(signable, signature=signature)  # eth_account's decorator hides the type
    return signer


def verify_investment_permit(
    signature: bytes,
    expected_signer: str,
    *,
    chain_id: int,
    round_address: str,
    investor: str,
    max_amount: int,
    deadline: int,
    nonce: int,
) -> bool:
    """True when `signature` is `expected_signer`'s signature of this permit (EOA signers only;
    the contract also accepts ERC-1271 signers, which this helper does not check)."""
    try:
        signer = recover_permit_signer(
            signature,
            chain_id=chain_id,
            round_address=round_address,
            investor=investor,
            max_amount=max_amount,
            deadline=deadline,
            nonce=nonce,
        )
    except Exception:  # malformed signature bytes
        return False
    return signer.lower() == expected_signer.lower()
