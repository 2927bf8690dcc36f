"""`.env.example` documents every setting a newcomer can change."""

from __future__ import annotations

from pathlib import Path

from api.settings import ApiSettings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_every_setting_is_in_env_example() -> None:
    text = ENV_EXAMPLE.read_text()
    for name in ApiSettings.model_fields:  # ApiSettings extends the ledger's settings
        assert f"KOGI_{name.upper()}=" in text, f"KOGI_{name.upper()} is missing from .env.example"


def test_platform_keystore_settings_are_in_env_example() -> None:
    from services.keys import KeystoreSettings

    text = ENV_EXAMPLE.read_text()
    for name in KeystoreSettings.model_fields:
        assert f"KOGI_{name.upper()}" in text, f"KOGI_{name.upper()} is missing from .env.example"
