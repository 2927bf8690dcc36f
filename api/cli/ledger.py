"""`kogi ledger …`: maintenance commands over the journal (verify, expire holds, anchor on chain)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli.chain import connect_web3, manifest_or_fail
from api.cli.errors import database_or_fail, fail

if TYPE_CHECKING:
    from web3 import Web3

    from ledger.store import LedgerStore

app = typer.Typer(no_args_is_help=True)

DATABASE_URL = typer.Option(
    None, "--database-url", envvar="KOGI_DATABASE_URL", help="SQLAlchemy URL (default: the embedded SQLite file)."
)
LEDGER = typer.Option(None, "--ledger", help="Ledger code (default: KOGI_DEFAULT_LEDGER, 'main').")


@contextmanager
def open_store(database_url: str | None) -> Iterator[LedgerStore]:
    """A store on the database (default: the embedded SQLite file), disposed after; ledger and database
    errors inside the block are the CLI's one error line."""
    from sqlalchemy.exc import SQLAlchemyError

    from ledger.chart import platform_store
    from ledger.config import LedgerSettings
    from ledger.errors import LedgerError

    database = database_or_fail(database_url or LedgerSettings().database_url)
    try:
        yield platform_store(database)
    except LedgerError as exc:
        fail(exc.detail)
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
    finally:
        database.dispose()


def _ledger_code(ledger: str | None) -> str:
    from ledger.config import LedgerSettings

    return ledger or LedgerSettings().default_ledger


@app.command("verify")
def verify(
    database_url: str = DATABASE_URL,
    ledger: str = LEDGER,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Recompute the hash chain and balances; exit 1 naming the first entry that does not match."""
    with open_store(database_url) as store:
        report = store.verify(_ledger_code(ledger))
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ledger": report.ledger,
                    "ok": report.ok,
                    "entries_checked": report.entries_checked,
                    "first_bad_sequence": report.first_bad_sequence,
                    "first_bad_entry_id": report.first_bad_entry_id,
                    "reason": report.reason,
                    "balance_mismatches": list(report.balance_mismatches),
                }
            )
        )
    if report.ok:
        if not as_json:
            typer.echo(
                f"ledger {report.ledger}: {report.entries_checked} entries verified, hash chain and balances intact"
            )
        return
    if report.first_bad_sequence is not None:
        fail(
            f"ledger {report.ledger}: entry {report.first_bad_entry_id} (sequence {report.first_bad_sequence}) "
            f"fails verification: {report.reason}"
        )
    fail(f"ledger {report.ledger}: {report.reason}: " + "; ".join(report.balance_mismatches))


@app.command("expire-holds")
def expire_holds(database_url: str = DATABASE_URL, ledger: str = LEDGER) -> None:
    """Release every pending hold whose expiry has passed."""
    with open_store(database_url) as store:
        total = 0
        while True:
            expired = store.expire_holds(_ledger_code(ledger))
            total += expired
            if expired == 0:
                break
    typer.echo(f"expired {total} holds")


@app.command("anchor")
def anchor(
    rpc_url: str = typer.Option(..., "--rpc-url", help="JSON-RPC URL of the chain holding LedgerAnchor."),
    manifest: Path | None = typer.Option(None, help="Deployment manifest (default .kogi/deployments/<chain id>.json)."),
    database_url: str = DATABASE_URL,
    ledger: str = LEDGER,
    private_key_env: str | None = typer.Option(
        None,
        help="Name of an environment variable holding the sender's private key (needs ANCHOR_ROLE). "
        "Default: the dev account that deployed the core (dev chains only: its key is public).",
    ),
) -> None:
    """Publish the Merkle root of the journal since the last anchor on LedgerAnchor (one transaction per
    MAX_ANCHOR_RANGE entries); prints each range and transaction hash."""
    import os

    from eth_account import Account

    from services.anchoring import dev_key_of

    w3, chain_id = connect_web3(rpc_url)
    data = manifest_or_fail(manifest, chain_id)
    address = data.addresses().get("anchor")
    if address is None:
        fail("the manifest lists no LedgerAnchor (contract key 'anchor')")
    if private_key_env:
        key: bytes | str | None = os.environ.get(private_key_env)
        if not key:
            fail(f"environment variable {private_key_env} is empty or unset")
    else:
        deployer = data.deployer
        key = dev_key_of(deployer)
        if key is None:
            fail(
                f"the deployer {deployer or '(none)'} is not a dev account: pass --private-key-env NAME with a key "
                "that holds ANCHOR_ROLE"
            )
    try:
        Account.from_key(key)
    except ValueError:
        fail(f"environment variable {private_key_env} does not hold a valid private key (32 bytes hex)")
    _publish(w3, rpc_url, address, _ledger_code(ledger), key, database_url)


def _publish(w3: Web3, rpc_url: str, address: str, code: str, key: bytes | str, database_url: str | None) -> None:
    """services.anchoring publishes range after range; print each, or the CLI's one error line."""
    from requests.exceptions import RequestException
    from web3.exceptions import Web3Exception

    from services.anchoring import AnchorPublishError, publish_anchors

    with open_store(database_url) as store:
        try:
            for result in publish_anchors(store, w3, address, code, private_key=key):
                if not result.published:
                    typer.echo(f"ledger {code}: nothing to anchor ({result.reason})")
                    break
                typer.echo(
                    f"ledger {code}: anchored sequences {result.from_sequence}..{result.to_sequence} "
                    f"as anchor #{result.anchor_index}, root {result.merkle_root}, "
                    f"tx {result.tx_hash} (block {result.block_number})"
                )
        except AnchorPublishError as exc:
            fail(str(exc))
        except (RequestException, OSError) as exc:
            fail(f"RPC error at {rpc_url}: {exc}")
        except Web3Exception as exc:  # no contract at the manifest's address, receipt timeout, …
            fail(f"LedgerAnchor at {address} on {rpc_url}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
