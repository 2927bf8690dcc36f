"""Sign-in with Ethereum (services/auth.py) on SQLite and PostgreSQL: real wallets, real EIP-4361
messages, every refusal with its own code, single-use nonces and refresh tokens under concurrency,
JWT expiry and key rotation, EIP-1271 contract wallets on anvil."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from ledger.database import Database
from services.auth import (
    REFRESH_TOKENS,
    AuthError,
    AuthPolicy,
    AuthService,
    JwtKeyRing,
    TokenPair,
    token_sha256,
    verify_access_token,
)
from tests.services.conftest import FakeClock
from tests.services.wallets import CHAIN_ID, DOMAIN, TEST_JWT_KEYS, new_wallet, sign, siwe_message

POLICY = AuthPolicy(domain=DOMAIN, chain_ids=frozenset({CHAIN_ID}))


@pytest.fixture()
def auth(database: Database, clock: FakeClock) -> AuthService:
    return AuthService(database, POLICY, JwtKeyRing.parse(TEST_JWT_KEYS), clock=clock)


def refused(code: str, call: Callable[[], Any]) -> AuthError:
    with pytest.raises(AuthError) as caught:
        call()
    assert caught.value.code == code, (caught.value.code, caught.value.detail)
    return caught.value


def signed_in(auth: AuthService, **message: Any) -> TokenPair:
    wallet = new_wallet()
    text = siwe_message(wallet.address, auth.issue_nonce().nonce, **message)
    return auth.sign_in(text, sign(wallet, text))


def test_a_wallet_signs_in_and_its_token_names_it(auth: AuthService, clock: FakeClock) -> None:
    wallet = new_wallet()
    issued = auth.issue_nonce()
    assert len(issued.nonce) == 32 and int(issued.nonce, 16) >= 0  # 128 random bits, hex
    assert timedelta(0) < issued.expires_at - datetime.fromtimestamp(clock(), UTC) <= timedelta(minutes=10)
    text = siwe_message(wallet.address.lower(), issued.nonce)  # any letter case: normalised
    pair = auth.sign_in(text, sign(wallet, text))
    principal = auth.authenticate(pair.access_token)
    assert principal is not None and principal.address == wallet.address  # checksummed
    assert principal.roles == ("investor",) and principal.tenant == "default"
    header = jwt.get_unverified_header(pair.access_token)
    claims = jwt.decode(pair.access_token, options={"verify_signature": False})
    assert header["kid"] == claims["kid"] == "kid-a" and header["alg"] == "HS256"
    assert claims["exp"] - claims["iat"] == pair.expires_in_s <= 900
    assert {"sub", "iat", "exp", "jti", "kid", "tenant", "roles"} <= set(claims)


def test_a_replayed_message_is_refused(auth: AuthService) -> None:
    wallet = new_wallet()
    text = siwe_message(wallet.address, auth.issue_nonce().nonce)
    auth.sign_in(text, sign(wallet, text))
    refused("siwe-nonce-used", lambda: auth.sign_in(text, sign(wallet, text)))


def test_of_concurrent_sign_ins_with_one_nonce_exactly_one_wins(auth: AuthService) -> None:
    wallet = new_wallet()
    text = siwe_message(wallet.address, auth.issue_nonce().nonce)
    signature = sign(wallet, text)
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        try:
            auth.sign_in(text, signature)
            outcomes.append("signed-in")
        except AuthError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["signed-in"] + ["siwe-nonce-used"] * 7


def _later(minutes: float) -> datetime:
    return datetime.now(UTC) + timedelta(minutes=minutes)


REFUSALS: list[tuple[str, dict[str, Any], str]] = [
    ("wrong domain", {"domain": "evil.example"}, "siwe-domain-mismatch"),
    ("wrong URI", {"uri": "https://evil.example/login"}, "siwe-uri-mismatch"),
    ("URI on another port", {"uri": "http://127.0.0.1:8001"}, "siwe-uri-mismatch"),
    ("URI not http", {"uri": "ftp://127.0.0.1:8000"}, "siwe-uri-mismatch"),
    ("wrong chain", {"chain_id": 1}, "siwe-chain-unsupported"),
    # times as minutes from the moment the test runs (not from collection: a long suite outlives them)
    ("expired", {"expiration_time": -1.0}, "siwe-message-expired"),
    ("not yet valid", {"not_before": 5.0}, "siwe-message-not-yet-valid"),
    ("issued in the future", {"issued_at": 5.0}, "siwe-message-not-yet-valid"),
]
TIME_FIELDS = ("expiration_time", "not_before", "issued_at")


@pytest.mark.parametrize(("case", "fields", "code"), REFUSALS, ids=[case for case, _, _ in REFUSALS])
def test_each_refusal_has_its_own_code(auth: AuthService, case: str, fields: dict[str, Any], code: str) -> None:
    wallet = new_wallet()
    nonce = auth.issue_nonce().nonce
    fields = {k: _later(v) if k in TIME_FIELDS else v for k, v in fields.items()}
    text = siwe_message(wallet.address, nonce, **fields)
    error = refused(code, lambda: auth.sign_in(text, sign(wallet, text)))
    assert error.status == 401
    fixed = siwe_message(wallet.address, nonce)  # the refusal did not consume the nonce
    auth.sign_in(fixed, sign(wallet, fixed))


def test_small_clock_skew_and_future_expiry_are_accepted(auth: AuthService) -> None:
    signed_in(auth, issued_at=datetime.now(UTC) + timedelta(seconds=30), expiration_time=_later(5))
    signed_in(
        auth, not_before=_later(-1), resources=("ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq",)
    )
    signed_in(auth, statement=None)


def test_nonces_must_be_ours_and_fresh(auth: AuthService, clock: FakeClock) -> None:
    wallet = new_wallet()
    unknown = siwe_message(wallet.address, "0123456789abcdef0123456789abcdef")
    refused("siwe-nonce-unknown", lambda: auth.sign_in(unknown, sign(wallet, unknown)))
    stale = siwe_message(wallet.address, auth.issue_nonce().nonce)
    clock.advance(601)
    refused("siwe-nonce-expired", lambda: auth.sign_in(stale, sign(wallet, stale)))


def test_a_tampered_message_or_someone_elses_signature_is_refused(auth: AuthService) -> None:
    wallet, thief = new_wallet(), new_wallet()
    text = siwe_message(wallet.address, auth.issue_nonce().nonce)
    tampered = text.replace("Sign in to Kogi.", "Sign in to Kogi!")
    refused("siwe-signature-invalid", lambda: auth.sign_in(tampered, sign(wallet, text)))
    refused("siwe-signature-invalid", lambda: auth.sign_in(text, sign(thief, text)))
    refused("siwe-signature-invalid", lambda: auth.sign_in(text, "0x" + "00" * 65))
    refused("siwe-signature-invalid", lambda: auth.sign_in(text, "0x" + "11" * 64))
    auth.sign_in(text, sign(wallet, text))  # none of it consumed the nonce


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n0x1234\n\nURI: http://127.0.0.1:8000",
        "x" * 5000,
        "[" * 4000,
        "a\n" * 100,
    ],
    ids=["empty", "prose", "short-address", "too-long", "brackets", "too-many-lines"],
)
def test_malformed_messages_are_422(auth: AuthService, text: str) -> None:
    error = refused("siwe-message-malformed", lambda: auth.sign_in(text, "0x" + "00" * 65))
    assert error.status == 422


def test_refresh_rotates_and_reuse_revokes_the_whole_family(auth: AuthService, database: Database) -> None:
    first = signed_in(auth)
    second = auth.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token and auth.authenticate(second.access_token) is not None
    with database.read() as conn:
        stored = set(conn.execute(select(REFRESH_TOKENS.c.token_sha256)).scalars())
    assert token_sha256(first.refresh_token) in stored and first.refresh_token not in stored  # hashes only
    refused("refresh-token-reused", lambda: auth.refresh(first.refresh_token))  # the stolen one
    refused("refresh-token-revoked", lambda: auth.refresh(second.refresh_token))  # the family is gone
    assert auth.authenticate(second.access_token) is None
    assert auth.authenticate(first.access_token) is None
    other = signed_in(auth)  # another sign-in is another family
    assert auth.authenticate(other.access_token) is not None
    refused("refresh-token-invalid", lambda: auth.refresh("kr_" + "x" * 43))


def test_concurrent_refreshes_of_one_token_rotate_it_once(auth: AuthService) -> None:
    pair = signed_in(auth)
    outcomes: list[str] = []
    start = threading.Barrier(6)

    def attempt() -> None:
        start.wait()
        try:
            auth.refresh(pair.refresh_token)
            outcomes.append("rotated")
        except AuthError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("rotated") == 1, outcomes
    assert "refresh-token-reused" in outcomes
    assert set(outcomes) <= {"rotated", "refresh-token-reused", "refresh-token-revoked"}


def test_refresh_tokens_expire(database: Database, clock: FakeClock) -> None:
    policy = AuthPolicy(domain=DOMAIN, chain_ids=frozenset({CHAIN_ID}), refresh_token_ttl_s=3600)
    auth = AuthService(database, policy, JwtKeyRing.parse(TEST_JWT_KEYS), clock=clock)
    pair = signed_in(auth)
    clock.advance(3601)
    refused("refresh-token-expired", lambda: auth.refresh(pair.refresh_token))


def test_logout_ends_the_session(auth: AuthService) -> None:
    pair = signed_in(auth)
    principal = auth.authenticate(pair.access_token)
    assert principal is not None
    auth.logout(principal)
    assert auth.authenticate(pair.access_token) is None
    refused("refresh-token-revoked", lambda: auth.refresh(pair.refresh_token))


def test_access_tokens_expire(auth: AuthService, clock: FakeClock) -> None:
    pair = signed_in(auth)
    clock.advance(899)
    assert auth.authenticate(pair.access_token) is not None
    clock.advance(2)
    assert auth.authenticate(pair.access_token) is None


def test_keys_rotate_without_logging_anyone_out(database: Database, clock: FakeClock) -> None:
    old_ring = JwtKeyRing.parse("old:" + "o" * 40)
    token = signed_in(AuthService(database, POLICY, old_ring, clock=clock)).access_token
    rotated = JwtKeyRing.parse("new:" + "n" * 40 + ",old:" + "o" * 40)
    assert verify_access_token(rotated, token, clock()) is not None  # old kid still listed
    fresh = signed_in(AuthService(database, POLICY, rotated, clock=clock)).access_token
    assert jwt.get_unverified_header(fresh)["kid"] == "new"
    removed = JwtKeyRing.parse("new:" + "n" * 40)
    assert verify_access_token(removed, token, clock()) is None  # old kid removed: refused
    assert verify_access_token(removed, fresh, clock()) is not None


def test_forged_tokens_are_refused(auth: AuthService, clock: FakeClock) -> None:
    token = signed_in(auth).access_token
    claims = jwt.decode(token, options={"verify_signature": False})
    ring = auth.keys
    assert ring is not None
    forgeries = [
        jwt.encode(claims, "x" * 40, algorithm="HS256", headers={"kid": "kid-a"}),  # wrong secret
        jwt.encode(claims, "a" * 40, algorithm="HS256", headers={"kid": "nope"}),  # unknown kid
        jwt.encode(claims, None, algorithm="none", headers={"kid": "kid-a"}),  # alg none
        jwt.encode({**claims, "sid": None}, "a" * 40, algorithm="HS256", headers={"kid": "kid-a"}),
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "",
        "x" * 5000,
    ]
    for forged in forgeries:
        assert verify_access_token(ring, forged, clock()) is None, forged


def test_key_ring_settings_are_checked() -> None:
    for bad in ("", "nokid", "kid:short", "bad kid:" + "s" * 40, "a:" + "s" * 40 + ",a:" + "t" * 40):
        with pytest.raises(ValueError):
            JwtKeyRing.parse(bad)
    assert [key.kid for key in JwtKeyRing.parse(TEST_JWT_KEYS).keys] == ["kid-a", "kid-b"]


def test_without_keys_sign_in_is_unavailable(database: Database) -> None:
    auth = AuthService(database, POLICY, None)
    wallet = new_wallet()
    text = siwe_message(wallet.address, auth.issue_nonce().nonce)
    assert refused("sign-in-unavailable", lambda: auth.sign_in(text, sign(wallet, text))).status == 503


@pytest.mark.chain
def test_a_contract_wallet_signs_in_through_eip1271(database: Database, w3: Any, anvil_chain: Any) -> None:
    """TestERC1271Signer (contracts/src/test) accepts its owner's ECDSA signature of the EIP-191 digest."""
    from contracts.deploy import deploy_contract
    from services.auth import erc1271_checker

    owner, stranger = new_wallet(), new_wallet()
    wallet = deploy_contract(w3, "TestERC1271Signer", owner.address)
    auth = AuthService(
        database, POLICY, JwtKeyRing.parse(TEST_JWT_KEYS), contract_check=erc1271_checker(anvil_chain.rpc_url)
    )
    text = siwe_message(wallet.address, auth.issue_nonce().nonce)
    refused("siwe-signature-invalid", lambda: auth.sign_in(text, sign(stranger, text)))
    pair = auth.sign_in(text, sign(owner, text))
    principal = auth.authenticate(pair.access_token)
    assert principal is not None and principal.address == wallet.address
    eoa = new_wallet()  # an address without code: only ECDSA can sign for it
    text = siwe_message(eoa.address, auth.issue_nonce().nonce)
    refused("siwe-signature-invalid", lambda: auth.sign_in(text, sign(owner, text)))
