"""Deploy the Kogi core on a chain and write its manifest (`kogi contracts deploy`, `kogi chain up --deploy`).

The roles nobody named default to the node's dev accounts, as on anvil with the dev mnemonic: the
deployer is the sender (or the first unlocked account), account 9 signs investment permits and
account 8 receives platform fees. On a node without such accounts the caller must name them; that
refusal is `DeploymentRefused`, with a message for the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from web3 import Web3

from contracts.core import CoreDeployment, deploy_core
from contracts.manifest import write_manifest

COMPLIANCE_SIGNER_ACCOUNT = 9
FEE_RECIPIENT_ACCOUNT = 8


class DeploymentRefused(RuntimeError):
    """A role has no account to default to; the message says what to pass."""


@dataclass(frozen=True)
class CoreDeployed:
    """The deployed core and where its manifest was written."""

    core: CoreDeployment
    manifest: Path


def deploy_core_with_manifest(
    w3: Web3,
    *,
    deployer: str | None,
    manifest: Path | None,
    compliance_signer: str | None,
    fee_recipient: str | None,
    mock_stablecoin: bool = True,
) -> CoreDeployed:
    """Deploy the core from `deployer` (default: the sender set on `w3`, else the first unlocked
    account) and write the manifest to `manifest` (default .kogi/deployments/<chain id>.json)."""
    unlocked = w3.eth.accounts
    default_account = w3.eth.default_account
    deployer = (
        deployer
        or (default_account if isinstance(default_account, str) else None)
        or (unlocked[0] if unlocked else None)
    )
    if deployer is None:
        raise DeploymentRefused("no deployer: the node has no unlocked account; pass --private-key-env")
    compliance_signer = compliance_signer or _dev_account(unlocked, COMPLIANCE_SIGNER_ACCOUNT)
    fee_recipient = fee_recipient or _dev_account(unlocked, FEE_RECIPIENT_ACCOUNT)
    if compliance_signer is None or fee_recipient is None:
        raise DeploymentRefused("pass --compliance-signer and --fee-recipient (no dev accounts to default to)")
    core = deploy_core(
        w3,
        deployer,
        compliance_signer=compliance_signer,
        fee_recipient=fee_recipient,
        with_mock_stablecoin=mock_stablecoin,
    )
    return CoreDeployed(core, write_manifest(core, manifest))


def _dev_account(unlocked: Sequence[str], index: int) -> str | None:
    """Dev account `index` of the node, if it has that many unlocked accounts."""
    return unlocked[index] if len(unlocked) > index else None
