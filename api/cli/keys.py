"""`kogi keys …`: the platform's on-chain keys in their encrypted keystore (services/keys.py).

The password is read from KOGI_PLATFORM_KEYSTORE_PASSWORD only; no command takes it as an argument
and none prints it or a private key.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.errors import fail

app = typer.Typer(no_args_is_help=True)

KEYSTORE = typer.Option(
    None,
    "--keystore",
    help="Keystore file (default: KOGI_PLATFORM_KEYSTORE, else .kogi/platform_keys.json).",
    show_default=False,
)


def _path(keystore: Path | None) -> Path:
    from services.keys import KeystoreSettings

    return keystore if keystore is not None else KeystoreSettings().platform_keystore


@app.command("generate")
def generate(keystore: Path | None = KEYSTORE) -> None:
    """Create a key for every platform role that has none; existing keys are never overwritten."""
    from services import keys

    path = _path(keystore)
    try:
        result = keys.generate(path, keys.password_from_environment())
    except keys.KeystoreError as exc:
        fail(str(exc))
    for role, address in result.generated.items():
        typer.echo(f"{role} {address} generated")
    for role, address in result.kept.items():
        typer.echo(f"{role} {address} kept")
    if not result.generated:
        typer.echo(f"every role already has a key in {path}; replace one with `kogi keys rotate ROLE`")


@app.command("show-addresses")
def show_addresses(
    keystore: Path | None = KEYSTORE,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object role → address."),
) -> None:
    """Print each role and its address (no password needed: keystores carry the address)."""
    from services import keys

    try:
        found = keys.addresses(_path(keystore))
    except keys.KeystoreError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(found))
        return
    for role, address in found.items():
        typer.echo(f"{role} {address}")


@app.command("rotate")
def rotate(
    role: str = typer.Argument(..., help="The role whose key to replace."), keystore: Path | None = KEYSTORE
) -> None:
    """Replace one role's key; the old key is kept under `retired`. Updating the contracts to the
    new address (e.g. FundingRound.setComplianceSigner) is a separate platform action."""
    from services import keys

    try:
        keys.check_role(role)
        result = keys.rotate(_path(keystore), role, keys.password_from_environment())
    except keys.KeystoreError as exc:
        fail(str(exc))
    typer.echo(f"{result.role} {result.old_address} -> {result.new_address} (old key retired at {result.retired_at})")
    typer.echo("the contracts still trust the old address until the platform updates them (a separate action)")
