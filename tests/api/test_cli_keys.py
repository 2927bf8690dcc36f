"""`kogi keys generate | show-addresses | rotate`: the story of a keystore, and one line per bad input."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from typer.testing import CliRunner

from api.cli import app
from services import keys

PASSWORD = "correct horse battery staple"
ENV = {keys.PASSWORD_ENV: PASSWORD}


@pytest.fixture(autouse=True)
def cheap_kdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests only: pbkdf2 with few iterations instead of the library's scrypt default."""
    monkeypatch.setattr(keys, "KDF_OPTIONS", {"kdf": "pbkdf2", "iterations": 2})
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)


@pytest.fixture
def keystore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "platform_keys.json"
    monkeypatch.setenv("KOGI_PLATFORM_KEYSTORE", str(path))
    return path


def _lines(text: str) -> dict[str, str]:
    return dict(line.split()[:2] for line in text.splitlines())  # type: ignore[misc]


def test_generate_show_rotate_then_sign(keystore: Path) -> None:
    runner = CliRunner()

    generated = runner.invoke(app, ["keys", "generate"], env=ENV)
    assert generated.exit_code == 0, generated.output
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600

    shown = runner.invoke(app, ["keys", "show-addresses"])  # no password needed
    assert shown.exit_code == 0, shown.output
    addresses = _lines(shown.stdout)
    assert list(addresses) == list(keys.ROLES)
    assert addresses == _lines(generated.stdout)
    document = json.loads(keystore.read_text())
    for role, address in addresses.items():
        assert Account.from_key(Account.decrypt(document[role], PASSWORD)).address == address
    as_json = runner.invoke(app, ["keys", "show-addresses", "--json"])
    assert json.loads(as_json.stdout) == addresses

    again = runner.invoke(app, ["keys", "generate"], env=ENV)
    assert again.exit_code == 0 and "kogi keys rotate" in again.stdout
    assert _lines(runner.invoke(app, ["keys", "show-addresses"]).stdout) == addresses

    rotated = runner.invoke(app, ["keys", "rotate", "compliance_signer"], env=ENV)
    assert rotated.exit_code == 0, rotated.output
    after = _lines(runner.invoke(app, ["keys", "show-addresses"]).stdout)
    assert after["compliance_signer"] != addresses["compliance_signer"]
    assert f"{addresses['compliance_signer']} -> {after['compliance_signer']}" in rotated.stdout
    assert {r: a for r, a in after.items() if r != "compliance_signer"} == {
        r: a for r, a in addresses.items() if r != "compliance_signer"
    }
    [retired] = json.loads(keystore.read_text())["retired"]
    assert retired["address"] == addresses["compliance_signer"]

    message = encode_defunct(text="investment permit")
    signature = keys.load(keystore, "compliance_signer", PASSWORD).sign_message(message).signature
    assert Account.recover_message(message, signature=signature) == after["compliance_signer"]

    outputs = generated.output + again.output + rotated.output + shown.output + as_json.output
    document = json.loads(keystore.read_text())
    stores = [document[role] for role in keys.ROLES] + [retired["keystore"]]
    for secret in [PASSWORD, *(bytes(Account.decrypt(store, PASSWORD)).hex() for store in stores)]:
        assert secret not in outputs


def test_the_keystore_option_overrides_the_setting(keystore: Path, tmp_path: Path) -> None:
    other = tmp_path / "other" / "keys.json"
    result = CliRunner().invoke(app, ["keys", "generate", "--keystore", str(other)], env=ENV)
    assert result.exit_code == 0, result.output
    assert other.exists() and not keystore.exists()


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["keys", "show-addresses"], {}, "no platform keystore at"),
        (["keys", "rotate", "arbiter"], ENV, "no platform keystore at"),
        (["keys", "generate"], {}, f"{keys.PASSWORD_ENV} is not set"),
        (["keys", "rotate", "treasurer"], ENV, "unknown role 'treasurer'"),
    ],
)
def test_bad_input_before_any_keystore_is_one_line(
    keystore: Path, argv: list[str], env: dict[str, str], expected: str
) -> None:
    result = CliRunner().invoke(app, argv, env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith("kogi: error: ") and expected in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output


def test_wrong_password_unknown_role_and_missing_password_are_one_line(keystore: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "generate"], env=ENV).exit_code == 0
    before = keystore.read_text()
    wrong = "definitely the wrong password"

    for argv, env, expected in [
        (["keys", "rotate", "arbiter"], {keys.PASSWORD_ENV: wrong}, "wrong password"),
        (["keys", "rotate", "treasurer"], ENV, "unknown role"),
        (["keys", "rotate", "arbiter"], {}, f"{keys.PASSWORD_ENV} is not set"),
        (["keys", "rotate"], ENV, "Missing argument"),
    ]:
        result = runner.invoke(app, argv, env=env)
        assert result.exit_code != 0, argv
        assert expected in result.stderr, (argv, result.output)
        assert "Traceback" not in result.output and wrong not in result.output and PASSWORD not in result.output
    assert keystore.read_text() == before
