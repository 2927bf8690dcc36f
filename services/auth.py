"""Sign-In with Ethereum (EIP-4361) -> short-lived JWT access tokens and rotating refresh tokens.

The use cases of issue 11 §1, behind `AuthService` (explicit dependencies: the database, the
policy, the JWT key ring, a clock and an optional EIP-1271 checker):

- `issue_nonce`: a 128-bit random nonce, stored (auth_nonces) and valid `nonce_ttl_s` (≤ 10 min).
- `sign_in`: parse the message (services/siwe.py, bounded), check domain, URI, chain id, times,
  the nonce (issued by us, unexpired, unused), the signature (EIP-191 recovery, else EIP-1271
  `isValidSignature` on the configured chain), then consume the nonce with a conditional UPDATE
  in the same transaction that opens the session: of two concurrent sign-ins with one nonce,
  exactly one wins.
- `refresh`: rotate a refresh token (single use). Presenting a token that was already rotated
  revokes its whole family (the session of that sign-in) — a stolen token is then worthless
  to both the thief and the victim, who must sign in again.
- `logout`: revoke the caller's session (every refresh token of it; access tokens of it are
  refused by `authenticate` at once, not only after they expire).
- `authenticate`: an access token -> `Principal`, or None.

Each refusal is an `AuthError` with a stable `code` (api/problems.py turns it into an RFC 9457
problem; `AUTH_PROBLEMS` lists them for the API documentation).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection

from ledger.database import Database
from ledger.schema import table_of
from services.auth_schema import NonceRow, RefreshTokenRow, SessionRow
from services.siwe import MalformedMessage, SiweMessage, eip191_hash, parse_message, recover_signer, signature_bytes

log = logging.getLogger("kogi.auth")

NONCE_BYTES = 16
"""128 random bits per nonce (EIP-4361 asks for at least 64; the issue for at least 96)."""
MAX_NONCE_TTL_S = 600
MAX_ACCESS_TOKEN_TTL_S = 900
DEFAULT_REFRESH_TOKEN_TTL_S = 14 * 24 * 3600
CLOCK_SKEW_S = 60
"""How far in the future a message's Issued At / Not Before may be (the wallet's clock may run ahead)."""
EXPIRED_NONCE_KEPT_S = 3600
"""Expired nonces are kept this long (a late sign-in learns `siwe-nonce-expired`, not `unknown`), then purged."""
MAX_TOKEN_CHARS = 4096
REFRESH_TOKEN_PREFIX = "kr_"
REFRESH_TOKEN_BYTES = 32
JWT_ALGORITHM = "HS256"
MIN_JWT_SECRET_CHARS = 32
"""HS256 keys of at least 256 bits of text."""
DEFAULT_TENANT = "default"
INVESTOR_ROLES = ("investor",)
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

AUTH_PROBLEMS: dict[str, str] = {
    "siwe-message-malformed": "the message is not an EIP-4361 message this server accepts, or the signature "
    "is not hex (422)",
    "siwe-domain-mismatch": "the message's domain is not this server's (KOGI_SIWE_DOMAIN)",
    "siwe-uri-mismatch": "the message's URI is not an http(s) URI on this server's domain",
    "siwe-chain-unsupported": "the message's Chain ID is not a chain this platform serves",
    "siwe-message-expired": "the message's Expiration Time has passed",
    "siwe-message-not-yet-valid": "the message's Issued At or Not Before is in the future",
    "siwe-nonce-unknown": "the nonce was not issued by this server",
    "siwe-nonce-expired": "the nonce expired (nonces live at most 10 minutes)",
    "siwe-nonce-used": "the nonce was already used for a sign-in (a replay)",
    "siwe-signature-invalid": "the signature is not the address's (neither ECDSA nor EIP-1271)",
    "refresh-token-invalid": "the refresh token is unknown",
    "refresh-token-expired": "the refresh token expired: sign in again",
    "refresh-token-reused": "the refresh token was already used: its whole session is now revoked",
    "refresh-token-revoked": "the refresh token's session was revoked (logout or reuse): sign in again",
}
"""Every 401 (or 422) problem code a sign-in or refresh can answer, with its meaning."""

SIGN_IN_UNAVAILABLE = "sign-in-unavailable"
"""503: no JWT signing key is configured (distributed mode without KOGI_JWT_KEYS)."""

ContractSignatureCheck = Callable[[str, bytes, bytes], bool]
"""(address, EIP-191 digest, signature) -> True when the contract at address accepts it (EIP-1271)."""


class AuthError(Exception):
    """A refused sign-in, refresh or token, with a stable problem code."""

    def __init__(self, code: str, detail: str, *, status: int = 401) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status
        self.title = _TITLES.get(code.split("-", 1)[0], "Authentication failed")


_TITLES = {"siwe": "Sign-in refused", "refresh": "Refresh refused", "sign": "Sign-in unavailable"}


@dataclass(frozen=True)
class JwtKey:
    kid: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class JwtKeyRing:
    """Access-token keys: the first signs, every listed one verifies (so keys rotate without
    logging anyone out: add the new key first, remove the old one after the access-token TTL)."""

    keys: tuple[JwtKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one JWT key is required")
        kids = [key.kid for key in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("JWT key ids must be unique")

    @classmethod
    def parse(cls, text: str) -> JwtKeyRing:
        """`kid1:secret1,kid2:secret2` (KOGI_JWT_KEYS); secrets of at least 32 characters."""
        keys = []
        for item in text.replace("\n", ",").split(","):
            if not item.strip():
                continue
            kid, sep, secret = item.strip().partition(":")
            if not sep or _KID.match(kid) is None:
                raise ValueError("JWT keys are 'kid:secret' pairs with kid of [A-Za-z0-9._-]{1,64}")
            if len(secret) < MIN_JWT_SECRET_CHARS:
                raise ValueError(f"JWT key {kid!r}: the secret must be at least {MIN_JWT_SECRET_CHARS} characters")
            keys.append(JwtKey(kid, secret.encode("utf-8")))
        return cls(tuple(keys))

    @property
    def signing(self) -> JwtKey:
        return self.keys[0]

    def secret_for(self, kid: object) -> bytes | None:
        for key in self.keys:
            if key.kid == kid:
                return key.secret
        return None


def generate_jwt_key_line() -> str:
    """A fresh `kid:secret` (embedded mode writes one to its key file)."""
    return f"k{secrets.token_hex(4)}:{secrets.token_urlsafe(48)}"


@dataclass(frozen=True)
class AuthPolicy:
    domain: str
    """EIP-4361 domain (host[:port]) messages must name (KOGI_SIWE_DOMAIN)."""
    chain_ids: frozenset[int]
    nonce_ttl_s: int = MAX_NONCE_TTL_S
    access_token_ttl_s: int = MAX_ACCESS_TOKEN_TTL_S
    refresh_token_ttl_s: int = DEFAULT_REFRESH_TOKEN_TTL_S
    tenant: str = DEFAULT_TENANT

    def __post_init__(self) -> None:
        assert 0 < self.nonce_ttl_s <= MAX_NONCE_TTL_S
        assert 0 < self.access_token_ttl_s <= MAX_ACCESS_TOKEN_TTL_S
        assert self.refresh_token_ttl_s > 0


@dataclass(frozen=True)
class IssuedNonce:
    nonce: str
    expires_at: datetime


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    expires_in_s: int
    refresh_token: str


@dataclass(frozen=True)
class Principal:
    """Who an access token speaks for."""

    address: str
    tenant: str
    roles: tuple[str, ...]
    session_id: str
    token_id: str


def token_sha256(token: str) -> str:
    """How a bearer secret (refresh token, API key) is stored: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


NONCES = table_of(NonceRow)
SESSIONS = table_of(SessionRow)
REFRESH_TOKENS = table_of(RefreshTokenRow)


class AuthService:
    def __init__(
        self,
        database: Database,
        policy: AuthPolicy,
        keys: JwtKeyRing | None,
        *,
        clock: Callable[[], float] = time.time,
        contract_check: ContractSignatureCheck | None = None,
    ) -> None:
        self.database = database
        self.policy = policy
        self.keys = keys
        self.clock = clock
        self.contract_check = contract_check

    # ------------------------------------------------------------------ nonces and sign-in

    def issue_nonce(self) -> IssuedNonce:
        now_ms = _ms(self.clock())
        nonce = secrets.token_hex(NONCE_BYTES)
        expires_at_ms = now_ms + _ms(self.policy.nonce_ttl_s)
        with self.database.write() as conn:
            conn.execute(delete(NONCES).where(NONCES.c.expires_at_ms < now_ms - _ms(EXPIRED_NONCE_KEPT_S)))
            conn.execute(insert(NONCES).values(nonce=nonce, issued_at_ms=now_ms, expires_at_ms=expires_at_ms))
        return IssuedNonce(nonce, _at(expires_at_ms))

    def sign_in(self, message_text: str, signature_hex: str) -> TokenPair:
        keys = self._require_keys()
        try:
            signature = signature_bytes(signature_hex)
            message = parse_message(message_text)
        except MalformedMessage as exc:
            raise AuthError("siwe-message-malformed", str(exc), status=422) from None
        now_s = self.clock()
        self._check_claims(message, now_s)
        self._check_nonce(message.nonce, _ms(now_s))
        self._check_signature(message, message_text, signature)
        session_id = secrets.token_hex(16)
        refresh_token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        now_ms = _ms(now_s)
        with self.database.write() as conn:
            consumed = conn.execute(
                update(NONCES)
                .where(NONCES.c.nonce == message.nonce, NONCES.c.used_at_ms.is_(None))
                .where(NONCES.c.expires_at_ms > now_ms)
                .values(used_at_ms=now_ms)
            ).rowcount
            if consumed == 1:
                conn.execute(
                    insert(SESSIONS).values(
                        session_id=session_id,
                        address=message.address,
                        tenant=self.policy.tenant,
                        chain_id=message.chain_id,
                        created_at_ms=now_ms,
                    )
                )
                self._insert_refresh(conn, refresh_token, session_id, now_ms)
        if consumed != 1:  # a concurrent sign-in consumed it between the check and here
            raise AuthError("siwe-nonce-used", "this nonce was already used for a sign-in")
        log.info("sign-in: %s (session %s, chain %s)", message.address, session_id, message.chain_id)
        return self._pair(keys, message.address, self.policy.tenant, session_id, refresh_token, now_s)

    def _check_claims(self, message: SiweMessage, now_s: float) -> None:
        domain = self.policy.domain.lower()
        if message.domain.lower() != domain:
            raise AuthError("siwe-domain-mismatch", f"the message is for {message.domain[:255]!r}, not {domain!r}")
        try:
            uri = urlsplit(message.uri)
            uri_host = uri.netloc.lower()
        except ValueError:
            uri_host, uri = "", None
        if uri is None or uri.scheme.lower() not in ("http", "https") or uri_host != domain:
            raise AuthError("siwe-uri-mismatch", f"the URI must be an http(s) URI on {domain!r}")
        if message.chain_id not in self.policy.chain_ids:
            served = ", ".join(str(chain) for chain in sorted(self.policy.chain_ids))
            raise AuthError("siwe-chain-unsupported", f"chain {message.chain_id} is not served here (served: {served})")
        now = datetime.fromtimestamp(now_s, tz=UTC)
        if message.expiration_time is not None and now >= message.expiration_time:
            raise AuthError("siwe-message-expired", "the message's Expiration Time has passed")
        for name, moment in (("Issued At", message.issued_at), ("Not Before", message.not_before)):
            if moment is not None and (moment - now).total_seconds() > CLOCK_SKEW_S:
                raise AuthError("siwe-message-not-yet-valid", f"the message's {name} is in the future")

    def _check_nonce(self, nonce: str, now_ms: int) -> None:
        with self.database.read() as conn:
            query = select(NONCES.c.expires_at_ms, NONCES.c.used_at_ms).where(NONCES.c.nonce == nonce)
            row = conn.execute(query).first()
        if row is None:
            raise AuthError("siwe-nonce-unknown", "this nonce was not issued here (get one: GET /v1/auth/nonce)")
        if row.used_at_ms is not None:
            raise AuthError("siwe-nonce-used", "this nonce was already used for a sign-in")
        if row.expires_at_ms <= now_ms:
            raise AuthError("siwe-nonce-expired", "this nonce expired; get a new one and sign again")

    def _check_signature(self, message: SiweMessage, text: str, signature: bytes) -> None:
        if recover_signer(text, signature) == message.address:
            return
        if self.contract_check is not None and self.contract_check(message.address, eip191_hash(text), signature):
            return
        raise AuthError("siwe-signature-invalid", f"the signature is not {message.address}'s")

    # ------------------------------------------------------------------ refresh and logout

    def refresh(self, refresh_token: str) -> TokenPair:
        keys = self._require_keys()
        if not refresh_token.startswith(REFRESH_TOKEN_PREFIX) or len(refresh_token) > MAX_TOKEN_CHARS:
            raise AuthError("refresh-token-invalid", "this is not a refresh token issued by this server")
        now_s = self.clock()
        now_ms = _ms(now_s)
        digest = token_sha256(refresh_token)
        new_token = REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
        with self.database.write() as conn:
            row = conn.execute(
                select(
                    REFRESH_TOKENS.c.session_id,
                    REFRESH_TOKENS.c.expires_at_ms,
                    REFRESH_TOKENS.c.used_at_ms,
                    SESSIONS.c.address,
                    SESSIONS.c.tenant,
                    SESSIONS.c.revoked_at_ms,
                )
                .join(SESSIONS, SESSIONS.c.session_id == REFRESH_TOKENS.c.session_id)
                .where(REFRESH_TOKENS.c.token_sha256 == digest)
            ).first()
            outcome = self._rotate(conn, row, digest, new_token, now_ms)
        if outcome != "rotated":
            if outcome == "refresh-token-reused":
                log.warning("refresh token reused: session %s revoked", row.session_id if row else "?")
            raise AuthError(outcome, AUTH_PROBLEMS[outcome])
        assert row is not None
        return self._pair(keys, row.address, row.tenant, row.session_id, new_token, now_s)

    def _rotate(self, conn: Connection, row: Any, digest: str, new_token: str, now_ms: int) -> str:
        """Inside the refresh transaction: 'rotated', or the problem code (a reuse revokes the
        session here, so that the revocation commits although the request is refused)."""
        if row is None:
            return "refresh-token-invalid"
        session_id: str = row.session_id
        if row.revoked_at_ms is not None:
            return "refresh-token-revoked"
        if row.used_at_ms is None and row.expires_at_ms <= now_ms:
            return "refresh-token-expired"
        rotated = 0
        if row.used_at_ms is None:
            rotated = conn.execute(
                update(REFRESH_TOKENS)
                .where(REFRESH_TOKENS.c.token_sha256 == digest, REFRESH_TOKENS.c.used_at_ms.is_(None))
                .values(used_at_ms=now_ms)
            ).rowcount
        if rotated != 1:  # already rotated (now or by a concurrent request): reuse
            self._revoke(conn, session_id, now_ms, "reuse")
            return "refresh-token-reused"
        self._insert_refresh(conn, new_token, session_id, now_ms)
        return "rotated"

    def logout(self, principal: Principal) -> None:
        with self.database.write() as conn:
            self._revoke(conn, principal.session_id, _ms(self.clock()), "logout")
        log.info("logout: %s (session %s)", principal.address, principal.session_id)

    @staticmethod
    def _revoke(conn: Connection, session_id: str, now_ms: int, reason: str) -> None:
        conn.execute(
            update(SESSIONS)
            .where(SESSIONS.c.session_id == session_id, SESSIONS.c.revoked_at_ms.is_(None))
            .values(revoked_at_ms=now_ms, revoked_reason=reason)
        )

    def _insert_refresh(self, conn: Connection, token: str, session_id: str, now_ms: int) -> None:
        conn.execute(
            insert(REFRESH_TOKENS).values(
                token_sha256=token_sha256(token),
                session_id=session_id,
                issued_at_ms=now_ms,
                expires_at_ms=now_ms + _ms(self.policy.refresh_token_ttl_s),
            )
        )

    # ------------------------------------------------------------------ access tokens

    def _require_keys(self) -> JwtKeyRing:
        if self.keys is None:
            raise AuthError(SIGN_IN_UNAVAILABLE, "sign-in is not configured on this server (KOGI_JWT_KEYS)", status=503)
        return self.keys

    def _pair(
        self, keys: JwtKeyRing, address: str, tenant: str, session_id: str, refresh_token: str, now_s: float
    ) -> TokenPair:
        issued_at = int(now_s)
        ttl_s = self.policy.access_token_ttl_s
        key = keys.signing
        claims = {
            "sub": address,
            "iat": issued_at,
            "exp": issued_at + ttl_s,
            "jti": secrets.token_hex(16),
            "kid": key.kid,
            "sid": session_id,
            "tenant": tenant,
            "roles": list(INVESTOR_ROLES),
        }
        token = jwt.encode(claims, key.secret, algorithm=JWT_ALGORITHM, headers={"kid": key.kid})
        return TokenPair(access_token=token, expires_in_s=ttl_s, refresh_token=refresh_token)

    def authenticate(self, access_token: str) -> Principal | None:
        """The principal of a valid, unexpired access token whose session is not revoked."""
        principal = verify_access_token(self.keys, access_token, self.clock())
        if principal is None:
            return None
        with self.database.read() as conn:
            revoked = conn.execute(
                select(SESSIONS.c.revoked_at_ms).where(SESSIONS.c.session_id == principal.session_id)
            ).first()
        if revoked is None or revoked.revoked_at_ms is not None:
            return None
        return principal


def verify_access_token(keys: JwtKeyRing | None, token: str, now_s: float | None = None) -> Principal | None:
    """Signature (by a listed kid), expiry and claims of an access token; no database (the request
    guard calls it before reading a body). None when anything is wrong."""
    if keys is None or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        secret = keys.secret_for(jwt.get_unverified_header(token).get("kid"))
        if secret is None:
            return None
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            options={"require": ["sub", "iat", "exp", "jti", "sid"], "verify_iat": False},
        )
        if now_s is not None and int(claims["exp"]) <= now_s:
            return None
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            return None
        return Principal(
            address=str(claims["sub"]),
            tenant=str(claims.get("tenant", DEFAULT_TENANT)),
            roles=tuple(roles),
            session_id=str(claims["sid"]),
            token_id=str(claims["jti"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None


def erc1271_checker(rpc_url: str, *, timeout_s: float = 5.0) -> ContractSignatureCheck:
    """An EIP-1271 check against the chain at `rpc_url`: `isValidSignature(bytes32, bytes)` on the
    address must return the magic value 0x1626ba7e. Any failure (no code, revert, RPC down) is False."""
    from eth_abi.abi import encode
    from web3 import HTTPProvider, Web3

    web3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))
    selector = bytes.fromhex("1626ba7e")

    def check(address: str, digest: bytes, signature: bytes) -> bool:
        try:
            if not web3.eth.get_code(address):  # type: ignore[arg-type]
                return False
            data = selector + encode(["bytes32", "bytes"], [digest, signature])
            result = web3.eth.call({"to": address, "data": data})
        except Exception as exc:  # an RPC failure must not become a 500: the signature is just not accepted
            log.warning("EIP-1271 check of %s failed: %s", address, str(exc).splitlines()[0] if str(exc) else exc)
            return False
        return bytes(result[:4]) == selector

    return check
