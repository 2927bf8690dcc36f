"""The platform's on-chain keys, by role, in one encrypted keystore file (issue 11 §3).

The file (`KOGI_PLATFORM_KEYSTORE`, default `.kogi/platform_keys.json`, mode 0600, replaced
atomically on every write) is a JSON object mapping each role in `ROLES` to an eth-account V3
keystore (`Account.encrypt(private_key, password)`), plus `retired`: the keys rotation replaced,
each with its role, address and `retired_at`, still encrypted. The password comes from the
environment only (`KOGI_PLATFORM_KEYSTORE_PASSWORD`, see `password_from_environment`); callers pass
it in explicitly. Private keys and the password never reach the database, a log line or an error
message: only roles, addresses and the keystore path are logged.

Use cases: `generate` (a fresh random key for every role that has none), `addresses` (role →
checksummed address, read from the keystores without decrypting), `load` (decrypt one role's key
for signing) and `rotate` (a new key for one role; the old one is kept under `retired`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_hex_address, to_checksum_address
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("kogi.keys")

ROLES: tuple[str, ...] = (
    "compliance_signer",
    "compliance_agent",
    "arbiter",
    "anchor_publisher",
    "factory_creator",
    "recovery_approver",
)
"""Every key the platform holds: EIP-712 investment permits, registry writes, dispute arbitration,
ledger anchors, factory deployments and chain-recovery approvals."""
RETIRED = "retired"
DEFAULT_KEYSTORE_PATH = Path(".kogi/platform_keys.json")
PASSWORD_ENV = "KOGI_PLATFORM_KEYSTORE_PASSWORD"
MIN_PASSWORD_LENGTH = 12
MAX_KEYSTORE_BYTES = 1024 * 1024
"""A keystore of six roles and a few hundred retired keys stays far below this; larger is not ours."""
PRIVATE_KEY_BYTES = 32
KEYSTORE_FILE_MODE = 0o600
KEYSTORE_DIR_MODE = 0o700
KDF_OPTIONS: dict[str, Any] = {}
"""Extra `Account.encrypt` arguments (`kdf`, `iterations`). Empty: the library's default (scrypt).
Tests lower the cost here; production never sets it."""


class KeystoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOGI_", env_file=".env", extra="ignore")

    platform_keystore: Path = DEFAULT_KEYSTORE_PATH
    """KOGI_PLATFORM_KEYSTORE: the encrypted keystore file of the platform's keys."""


class KeystoreError(Exception):
    """A keystore operation that cannot proceed; the message is one readable line with no secret."""


class KeystoreMissing(KeystoreError):
    pass


class WrongPassword(KeystoreError):
    pass


class UnknownRole(KeystoreError):
    pass


class PasswordMissing(KeystoreError):
    pass


@dataclass(frozen=True)
class GenerateResult:
    generated: dict[str, str]
    """role → address of the keys created now."""
    kept: dict[str, str]
    """role → address of the keys that were already there (never overwritten)."""


@dataclass(frozen=True)
class RotateResult:
    role: str
    old_address: str
    new_address: str
    retired_at: str


def password_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The keystore password from KOGI_PLATFORM_KEYSTORE_PASSWORD; never from a file or argument."""
    password = (os.environ if environ is None else environ).get(PASSWORD_ENV, "")
    if not password:
        raise PasswordMissing(f"{PASSWORD_ENV} is not set: the platform keystore's password comes from it")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordMissing(f"{PASSWORD_ENV} is shorter than {MIN_PASSWORD_LENGTH} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UnknownRole(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")
    return role


def generate(path: Path, password: str) -> GenerateResult:
    """A fresh random key for every role the keystore lacks (creating the file if needed).

    Existing roles are kept as they are — replacing one is `rotate`. When the file already holds
    keys the password must open them, so one file never mixes two passwords."""
    document = _read(path) if path.exists() else {RETIRED: []}
    kept = {role: _address(document[role]) for role in ROLES if role in document}
    if kept:
        _decrypt(document[next(iter(kept))], password, path)
    generated: dict[str, str] = {}
    for role in ROLES:
        if role not in document:
            document[role], generated[role] = _new_keystore(password)
    if generated:
        _write(path, document)
        log.info("platform keystore %s: generated keys for %s", path, ", ".join(generated))
    return GenerateResult(generated=generated, kept=kept)


def addresses(path: Path) -> dict[str, str]:
    """role → checksummed address of every current key, read without the password (V3 keystores
    carry the address in clear)."""
    document = _read(path)
    return {role: _address(document[role]) for role in ROLES if role in document}


def load(path: Path, role: str, password: str) -> LocalAccount:
    """Decrypt one role's key for signing. The account lives in memory only; do not log it."""
    check_role(role)
    document = _read(path)
    if role not in document:
        raise KeystoreError(f"the platform keystore {path} has no key for {role}; run `kogi keys generate`")
    account: LocalAccount = Account.from_key(_decrypt(document[role], password, path))
    return account


def rotate(path: Path, role: str, password: str, now: datetime | None = None) -> RotateResult:
    """Replace one role's key with a fresh one; the old keystore moves, still encrypted, to
    `retired` with its address and `retired_at`, and the other roles are untouched.

    Only the keystore changes. Pointing the contracts at the new address — e.g.
    `FundingRound.setComplianceSigner(new)` sent through PLATFORM_ROLE, or re-granting the agent,
    arbiter, anchor-publisher and factory roles — is a separate platform action not done here;
    until it is done the chain still trusts the retired key, which is why that key is kept."""
    check_role(role)
    document = _read(path)
    if role not in document:
        raise KeystoreError(f"the platform keystore {path} has no key for {role}; run `kogi keys generate`")
    old_keystore = document[role]
    _decrypt(old_keystore, password, path)
    retired_at = (now or datetime.now(UTC)).isoformat()
    old_address = _address(old_keystore)
    document[RETIRED].append({"role": role, "address": old_address, "retired_at": retired_at, "keystore": old_keystore})
    document[role], new_address = _new_keystore(password)
    _write(path, document)
    log.info("platform keystore %s: rotated %s from %s to %s", path, role, old_address, new_address)
    return RotateResult(role=role, old_address=old_address, new_address=new_address, retired_at=retired_at)


def _new_keystore(password: str) -> tuple[dict[str, Any], str]:
    private_key = secrets.token_bytes(PRIVATE_KEY_BYTES)
    keystore: dict[str, Any] = Account.encrypt(private_key, password, **KDF_OPTIONS)
    return keystore, _address(keystore)


def _decrypt(keystore: Mapping[str, Any], password: str, path: Path) -> bytes:
    try:
        return bytes(Account.decrypt(dict(keystore), password))
    except ValueError:
        # eth-keyfile says "MAC mismatch"; nothing of the password or key goes into the message.
        raise WrongPassword(f"wrong password for the platform keystore {path} ({PASSWORD_ENV})") from None


def _address(keystore: Any) -> str:
    address = keystore.get("address") if isinstance(keystore, dict) else None
    if not isinstance(address, str) or not is_hex_address(address if address.startswith("0x") else "0x" + address):
        raise KeystoreError("the platform keystore holds an entry without a valid address")
    return str(to_checksum_address(address if address.startswith("0x") else "0x" + address))


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise KeystoreMissing(f"no platform keystore at {path}; run `kogi keys generate`")
    try:
        if path.stat().st_size > MAX_KEYSTORE_BYTES:
            raise KeystoreError(f"{path} is larger than {MAX_KEYSTORE_BYTES} bytes: not a platform keystore")
        document = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"cannot read the platform keystore {path}: {type(exc).__name__}") from None
    if not isinstance(document, dict) or not isinstance(document.get(RETIRED, []), list):
        raise KeystoreError(f"{path} is not a platform keystore (a JSON object of role → keystore)")
    unknown = sorted(set(document) - set(ROLES) - {RETIRED})
    if unknown:
        raise KeystoreError(f"{path} holds unknown roles: {', '.join(unknown)}")
    document.setdefault(RETIRED, [])
    return document


def _write(path: Path, document: Mapping[str, Any]) -> None:
    """Write the whole file beside itself with mode 0600, fsync, then rename over the old one."""
    path.parent.mkdir(mode=KEYSTORE_DIR_MODE, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, KEYSTORE_FILE_MODE)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
