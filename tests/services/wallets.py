"""Real wallets signing real EIP-4361 messages, for the sign-in tests (tests/services, tests/api)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

DOMAIN = "127.0.0.1:8000"
URI = "http://127.0.0.1:8000"
CHAIN_ID = 31337
TEST_JWT_KEYS = "kid-a:" + "a" * 40 + ",kid-b:" + "b" * 40


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def siwe_message(
    address: str,
    nonce: str,
    *,
    domain: str = DOMAIN,
    uri: str = URI,
    chain_id: int = CHAIN_ID,
    issued_at: datetime | None = None,
    expiration_time: datetime | None = None,
    not_before: datetime | None = None,
    statement: str | None = "Sign in to Kogi.",
    resources: tuple[str, ...] = (),
) -> str:
    """An EIP-4361 message exactly as a wallet library writes it."""
    lines = [f"{domain} wants you to sign in with your Ethereum account:", address, ""]
    if statement is not None:
        lines.append(statement)
    lines.append("")  # EIP-4361: address LF LF [statement LF] LF "URI: "
    lines += [
        f"URI: {uri}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {rfc3339(issued_at or datetime.now(UTC))}",
    ]
    if expiration_time is not None:
        lines.append(f"Expiration Time: {rfc3339(expiration_time)}")
    if not_before is not None:
        lines.append(f"Not Before: {rfc3339(not_before)}")
    if resources:
        lines.append("Resources:")
        lines += [f"- {resource}" for resource in resources]
    return "\n".join(lines)


def sign(account: LocalAccount, message: str) -> str:
    """personal_sign (EIP-191), as `Account.sign_message(encode_defunct(text=message))` does it."""
    signature = account.sign_message(encode_defunct(text=message)).signature.hex()
    return signature if signature.startswith("0x") else "0x" + signature


def new_wallet() -> LocalAccount:
    return Account.create()


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
