"""`kogi chain …` and `kogi contracts …`: the local chain and the Solidity build/deploy."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from api.cli.errors import fail

if TYPE_CHECKING:
    from web3 import Web3

    from api.settings import ApiSettings
    from contracts.manifest import Manifest
    from ledger.database import Database
    from services.chain_recovery import RecoveryPlan, RecoveryReport

chain_app = typer.Typer(no_args_is_help=True)
contracts_app = typer.Typer(no_args_is_help=True)

POLL_INTERVAL_S = 0.5
RPC_TIMEOUT_S = 60


def connect_web3(rpc_url: str, *, hint: str = "") -> tuple[Web3, int]:
    """(web3, chain id) for a JSON-RPC URL; an unreachable node is the CLI's one error line
    (with `hint` appended, e.g. what to start)."""
    from requests.exceptions import RequestException
    from web3 import HTTPProvider, Web3

    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    try:
        return w3, int(w3.eth.chain_id)
    except (RequestException, OSError, ValueError) as exc:
        fail(f"cannot reach the chain at {rpc_url} ({exc.__class__.__name__}){hint}")


def manifest_or_fail(manifest: Path | None, chain_id: int) -> Manifest:
    """The deployment manifest at `manifest` (default .kogi/deployments/<chain id>.json), or the
    CLI's one error line."""
    from contracts.manifest import ManifestError, read_manifest

    try:
        return read_manifest(manifest if manifest is not None else chain_id)
    except ManifestError as exc:
        fail(str(exc))


@contracts_app.command("build")
def build(force: bool = typer.Option(False, help="Recompile every source.")) -> None:
    """Compile contracts/src with Hardhat 3 and solc-js (offline)."""
    from contracts.artifacts import build_contracts

    try:
        typer.echo(build_contracts(force=force) or "contracts up to date")
    except (RuntimeError, FileNotFoundError) as exc:
        fail(str(exc))


@chain_app.command("up")
def up(
    port: int = typer.Option(18545, help="TCP port of the JSON-RPC endpoint (never 8545 by default)."),
    accounts: int = typer.Option(10, min=1, max=100, help="Number of funded dev accounts."),
    chain_id: int = typer.Option(31337, help="Chain id."),
    block_time_s: float = typer.Option(0, help="Seconds per block; 0 mines on every transaction."),
    deploy: bool = typer.Option(False, help="Also deploy the Kogi core and write its manifest."),
    manifest: Path | None = typer.Option(
        None, help="Manifest path for --deploy (default .kogi/deployments/<chain id>.json)."
    ),
) -> None:
    """Run anvil with the funded dev accounts (dev mnemonic) until Ctrl-C; print accounts, keys and RPC URL."""
    from contracts.anvil import AnvilProcess
    from contracts.funding import dev_private_key

    chain = AnvilProcess(port=port, chain_id=chain_id, accounts=accounts, block_time_s=block_time_s or None)
    try:
        chain.start()
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        fail(f"cannot start anvil: {exc}")
    stop = {"now": False}

    def _stop(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        w3 = chain.web3()
        typer.echo(f"RPC URL: {chain.rpc_url}")
        typer.echo(f"Chain id: {chain_id}")
        typer.echo("Dev accounts (DEVELOPMENT ONLY: the keys are public):")
        for index, address in enumerate(w3.eth.accounts):
            balance_eth = w3.from_wei(w3.eth.get_balance(address), "ether")
            typer.echo(f"  ({index}) {address} {balance_eth} ETH  key 0x{dev_private_key(index).hex()}")
        if deploy:
            path = _deploy_core(w3, None, manifest, None, None)
            typer.echo(f"Manifest: {path}")
        typer.echo("Ctrl-C to stop.", err=False)
        while not stop["now"]:
            if chain.process is None or chain.process.poll() is not None:
                fail("anvil exited unexpectedly")
            time.sleep(POLL_INTERVAL_S)
    finally:
        chain.stop()
    typer.echo("anvil stopped")


def _deploy_core(
    w3: Web3,
    deployer: str | None,
    manifest: Path | None,
    compliance_signer: str | None,
    fee_recipient: str | None,
    *,
    mock_stablecoin: bool = True,
) -> Path:
    """services.deployment deploys the core and writes the manifest; print each contract, return the path
    (a role without an account to default to is the CLI's one error line)."""
    from services.deployment import DeploymentRefused, deploy_core_with_manifest

    try:
        deployed = deploy_core_with_manifest(
            w3,
            deployer=deployer,
            manifest=manifest,
            compliance_signer=compliance_signer,
            fee_recipient=fee_recipient,
            mock_stablecoin=mock_stablecoin,
        )
    except DeploymentRefused as exc:
        fail(str(exc))
    for name, record in deployed.core.records.items():
        typer.echo(f"{name:20} {record.address}  (block {record.block_number})")
    return deployed.manifest


def _refuse_live_manifest(w3: Web3, chain_id: int, manifest: Path | None) -> None:
    """One error line when the manifest to be written already names contracts with code on this chain."""
    from requests.exceptions import RequestException

    from api.embedded_chain import manifest_is_live
    from contracts.manifest import ManifestError, manifest_path, read_manifest

    target = manifest if manifest is not None else manifest_path(chain_id)
    if not target.exists():
        return
    try:
        live = manifest_is_live(w3, read_manifest(target))
    except ManifestError:
        return  # unreadable: nothing worth keeping
    except (RequestException, OSError, ValueError) as exc:
        fail(f"cannot check the contracts of {target} on the chain ({exc.__class__.__name__})")
    if live:
        fail(
            f"{target} already describes live contracts on chain {chain_id} (a running `kogi serve` or indexer "
            "uses it): pass --manifest PATH to write the new deployment elsewhere, or --force to overwrite it"
        )


@contracts_app.command("deploy")
def deploy_command(
    rpc_url: str = typer.Option(..., help="JSON-RPC URL of the chain, e.g. http://127.0.0.1:18545."),
    manifest: Path | None = typer.Option(
        None, help="Where to write the manifest (default .kogi/deployments/<chain id>.json)."
    ),
    private_key_env: str | None = typer.Option(
        None, help="Name of an environment variable holding the deployer's private key (else: first unlocked account)."
    ),
    compliance_signer: str | None = typer.Option(None, help="Signer of investment permits (default: dev account 9)."),
    fee_recipient: str | None = typer.Option(None, help="Platform fee recipient (default: dev account 8)."),
    mock_stablecoin: bool = typer.Option(True, help="Deploy the dev-only MockStablecoin."),
    force: bool = typer.Option(False, "--force", help="Overwrite a manifest whose contracts are live on this chain."),
) -> None:
    """Deploy the Kogi core (registry, anchor, donation router, implementations, factory), write the manifest.
    Refuses to overwrite a manifest whose contracts are live on this chain (a running `kogi serve` and its
    indexer use it) unless --force."""
    from requests.exceptions import RequestException

    from contracts.artifacts import ArtifactNotFound
    from contracts.deploy import TransactionFailed

    w3, chain_id = connect_web3(rpc_url)
    if not force:
        _refuse_live_manifest(w3, chain_id, manifest)
    deployer = None
    if private_key_env:
        key = os.environ.get(private_key_env)
        if not key:
            fail(f"environment variable {private_key_env} is empty or unset")
        from eth_account import Account
        from web3.middleware import SignAndSendRawMiddlewareBuilder

        account = Account.from_key(key)
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(account), layer=0)
        w3.eth.default_account = account.address
        deployer = account.address
    try:
        path = _deploy_core(w3, deployer, manifest, compliance_signer, fee_recipient, mock_stablecoin=mock_stablecoin)
    except ArtifactNotFound as exc:
        fail(str(exc))
    except TransactionFailed as exc:
        fail(f"deployment failed: {exc}")
    except (RequestException, OSError) as exc:
        fail(f"RPC error during deployment: {exc}")
    typer.echo(f"manifest: {path}")


@chain_app.command("recover")
def recover(
    chain_id: int = typer.Option(31337, "--chain-id", help="The lost chain (default: the embedded anvil's)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """The chain the ledger mirrors is lost (its state file deleted, corrupt or older than the ledger): reverse
    every entry mirrored from it (off-chain entries are kept), reset the indexer's state for it and set the
    chain state files and manifest aside, so that the next `kogi serve` starts a fresh chain and mirrors it.
    Run it with the server stopped; it uses the same KOGI_ settings."""
    from api.cli.errors import database_or_fail
    from api.cli.serve import acquire_instance_lock, anvil_started_here, load_settings

    settings = load_settings()
    lock = acquire_instance_lock(settings, "kogi chain recover", elsewhere="")
    database = database_or_fail(settings.database_url)
    try:
        embedded = anvil_started_here(settings)
        plan = _recovery_plan_or_fail(database, chain_id, settings, embedded)
        _show_recovery_plan(plan, embedded)
        if not yes:
            if not sys.stdin.isatty():
                fail("confirmation needed: pass --yes to recover")
            if not typer.confirm("Recover?", default=False):
                fail("nothing changed (not confirmed)")
        report = _recover_or_fail(database, plan)
    finally:
        database.dispose()
        if lock is not None:
            lock.release()
    for ledger, reversed_count in sorted(report.reversed.items()):
        typer.echo(f"ledger {ledger!r}: {reversed_count} entries reversed")
    for old, new in report.set_aside:
        typer.echo(f"{old} -> {new}")
    typer.echo(
        f"chain {chain_id}: indexer state reset; {report.total_reversed} entries reversed. "
        + (
            "Start again with `kogi serve` (or `make run`): a fresh chain is deployed and mirrored."
            if embedded
            else "Deploy the core on the new chain (`kogi contracts deploy`) and start the indexer."
        )
    )


def _recovery_plan_or_fail(database: Database, chain_id: int, settings: ApiSettings, embedded: bool) -> RecoveryPlan:
    """services.chain_recovery's plan (the embedded chain's files only when its anvil is started here),
    or the CLI's one error line (an unmigrated database; a chain that is not lost)."""
    from sqlalchemy.exc import SQLAlchemyError

    from api.embedded_chain import rpc_url_of
    from contracts.manifest import manifest_path
    from services.chain_recovery import ChainNotLost, plan_recovery

    try:
        return plan_recovery(
            database,
            chain_id,
            rpc_url_of(settings),
            state_file=settings.chain_state_file if embedded else None,
            manifest=manifest_path(chain_id, settings.deployments_dir) if embedded else None,
        )
    except SQLAlchemyError as exc:
        fail(f"cannot read the indexer's state ({str(exc).splitlines()[0]}): run `kogi db upgrade` first")
    except ChainNotLost as exc:
        fail(str(exc))


def _show_recovery_plan(plan: RecoveryPlan, embedded: bool) -> None:
    where = ", ".join(f"{len(ids)} in ledger {ledger!r}" for ledger, ids in sorted(plan.pending.items())) or "none"
    typer.echo(
        f"chain {plan.chain_id}: the ledger mirrors it up to block "
        f"{'-' if plan.cursor is None else plan.cursor[0]}; {plan.entry_count} mirrored entries to reverse "
        f"({where}); off-chain entries stay as they are"
    )
    if embedded:
        typer.echo(
            f"the chain state ({plan.state_file}, .exit, .prev) and {plan.manifest} will be set aside "
            "(….lost-<time>); the next `kogi serve` starts a fresh chain"
        )


def _recover_or_fail(database: Database, plan: RecoveryPlan) -> RecoveryReport:
    """services.chain_recovery carries the plan out, or the CLI's one error line."""
    from sqlalchemy.exc import SQLAlchemyError

    from ledger.errors import LedgerError
    from services.chain_recovery import RecoveryRefused, carry_out_recovery

    try:
        return carry_out_recovery(database, plan)
    except RecoveryRefused as exc:
        fail(str(exc))
    except LedgerError as exc:
        fail(
            f"cannot reverse the mirrored entries: {exc.detail} (an off-chain entry moved mirrored funds? "
            "reverse it first)"
        )
    except SQLAlchemyError as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
