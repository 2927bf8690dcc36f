"""The platform keystore (services/keys.py): generate, read addresses, load to sign, rotate."""

from __future__ import annotations

import json
import logging
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from services import keys

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests only: pbkdf2 with few iterations instead of the library's scrypt default."""
    monkeypatch.setattr(keys, "KDF_OPTIONS", {"kdf": "pbkdf2", "iterations": 2})


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    return tmp_path / "kogi" / "platform_keys.json"


def _private_key_hexes(path: Path) -> list[str]:
    """Every private key in the file (current and retired), as hex with and without 0x."""
    document = json.loads(path.read_text())
    stores = [document[role] for role in keys.ROLES] + [r["keystore"] for r in document["retired"]]
    hexes = [bytes(Account.decrypt(store, PASSWORD)).hex() for store in stores]
    return hexes + ["0x" + h for h in hexes]


def test_generate_then_addresses_match_the_decrypted_keys(keystore: Path) -> None:
    result = keys.generate(keystore, PASSWORD)

    assert list(result.generated) == list(keys.ROLES) and result.kept == {}
    shown = keys.addresses(keystore)
    assert shown == result.generated
    for role in keys.ROLES:
        assert keys.load(keystore, role, PASSWORD).address == shown[role]
    assert len(set(shown.values())) == len(keys.ROLES)
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert list(keystore.parent.iterdir()) == [keystore]  # no temporary file left behind


def test_generate_fills_missing_roles_and_never_overwrites(keystore: Path) -> None:
    first = keys.generate(keystore, PASSWORD).generated
    document = json.loads(keystore.read_text())
    del document["arbiter"]
    keystore.write_text(json.dumps(document))

    again = keys.generate(keystore, PASSWORD)

    assert list(again.generated) == ["arbiter"] and again.generated["arbiter"] != first["arbiter"]
    assert {role: a for role, a in again.kept.items()} == {r: a for r, a in first.items() if r != "arbiter"}
    assert keys.generate(keystore, PASSWORD).generated == {}


def test_rotate_retires_the_old_key_and_leaves_the_others(keystore: Path) -> None:
    before = keys.generate(keystore, PASSWORD).generated
    when = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    rotated = keys.rotate(keystore, "compliance_signer", PASSWORD, now=when)

    after = keys.addresses(keystore)
    assert rotated.old_address == before["compliance_signer"] != rotated.new_address == after["compliance_signer"]
    assert {r: a for r, a in after.items() if r != "compliance_signer"} == {
        r: a for r, a in before.items() if r != "compliance_signer"
    }
    [retired] = json.loads(keystore.read_text())["retired"]
    assert retired["role"] == "compliance_signer" and retired["retired_at"] == when.isoformat()
    assert retired["address"] == rotated.old_address
    assert Account.from_key(Account.decrypt(retired["keystore"], PASSWORD)).address == rotated.old_address
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600


def test_loaded_key_signs_for_the_shown_address(keystore: Path) -> None:
    keys.generate(keystore, PASSWORD)
    keys.rotate(keystore, "anchor_publisher", PASSWORD)
    message = encode_defunct(text="anchor ledger main 1..10")

    signed = keys.load(keystore, "anchor_publisher", PASSWORD).sign_message(message)

    recovered = Account.recover_message(message, signature=signed.signature)
    assert recovered == keys.addresses(keystore)["anchor_publisher"]


def test_wrong_password_is_a_clear_error(keystore: Path) -> None:
    keys.generate(keystore, PASSWORD)
    document_before = keystore.read_text()

    with pytest.raises(keys.WrongPassword, match="wrong password"):
        keys.load(keystore, "arbiter", "not the password at all")
    with pytest.raises(keys.WrongPassword):
        keys.rotate(keystore, "arbiter", "not the password at all")
    document = json.loads(document_before)
    del document["arbiter"]
    keystore.write_text(json.dumps(document))
    with pytest.raises(keys.WrongPassword):  # one file never mixes two passwords
        keys.generate(keystore, "not the password at all")
    assert "arbiter" not in json.loads(keystore.read_text())


def test_unknown_role_missing_keystore_and_missing_password(keystore: Path) -> None:
    with pytest.raises(keys.KeystoreMissing, match="kogi keys generate"):
        keys.addresses(keystore)
    keys.generate(keystore, PASSWORD)
    with pytest.raises(keys.UnknownRole, match="compliance_signer"):
        keys.rotate(keystore, "treasurer", PASSWORD)
    with pytest.raises(keys.UnknownRole):
        keys.load(keystore, "treasurer", PASSWORD)
    with pytest.raises(keys.PasswordMissing, match=keys.PASSWORD_ENV):
        keys.password_from_environment({})
    with pytest.raises(keys.PasswordMissing, match="shorter"):
        keys.password_from_environment({keys.PASSWORD_ENV: "short"})
    assert keys.password_from_environment({keys.PASSWORD_ENV: PASSWORD}) == PASSWORD


def test_not_a_keystore_is_a_clear_error(keystore: Path) -> None:
    keystore.parent.mkdir(parents=True)
    keystore.write_text("[1, 2]")
    with pytest.raises(keys.KeystoreError, match="not a platform keystore"):
        keys.addresses(keystore)
    keystore.write_text("{not json")
    with pytest.raises(keys.KeystoreError, match="cannot read"):
        keys.addresses(keystore)


def test_no_secret_reaches_the_logs(keystore: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    keys.generate(keystore, PASSWORD)
    keys.rotate(keystore, "compliance_signer", PASSWORD)
    keys.load(keystore, "compliance_signer", PASSWORD)
    with pytest.raises(keys.WrongPassword) as wrong:
        keys.load(keystore, "arbiter", PASSWORD + "!")

    assert "rotated compliance_signer" in caplog.text
    secrets = [PASSWORD, *_private_key_hexes(keystore)]
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in str(wrong.value)
    stored = keystore.read_text()
    assert not any(secret in stored for secret in secrets)


def test_production_default_is_the_library_kdf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.undo()  # drop the cheap test KDF
    assert keys.KDF_OPTIONS == {}
    monkeypatch.setenv("KOGI_PLATFORM_KEYSTORE", str(tmp_path / "elsewhere.json"))
    assert keys.KeystoreSettings().platform_keystore == tmp_path / "elsewhere.json"
