"""Deployment manifest: one JSON file per chain id that the indexer and services read.

Shape (version 1):
{
  "version": 1, "chain_id": 31337, "deployer": "0x…", "written_at": "2026-…Z",
  "start_block": 1,                      # first block the indexer must scan
  "contracts": {"registry": {"address": "0x…", "block_number": 1, "tx_hash": "0x…"}, …}
}
Contract keys: registry, anchor, donation_router, factory, stablecoin (dev only) and the
implementations impl_token, impl_round, impl_splitter, impl_rights_token.
Per-portfolio contracts are not listed: the indexer discovers them from `PortfolioCreated`.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from contracts.artifacts import REPO_ROOT
from contracts.core import CoreDeployment

MANIFEST_VERSION = 1
DEFAULT_MANIFEST_DIR = REPO_ROOT / ".kogi" / "deployments"


class ManifestError(ValueError):
    """The manifest is missing, unreadable or of another version."""


def manifest_path(chain_id: int, directory: Path | None = None) -> Path:
    return (directory or DEFAULT_MANIFEST_DIR) / f"{chain_id}.json"


def manifest_dict(core: CoreDeployment) -> dict[str, Any]:
    contracts = {name: {k: v for k, v in asdict(rec).items() if k != "name"} for name, rec in core.records.items()}
    blocks = [rec.block_number for rec in core.records.values()]
    return {
        "version": MANIFEST_VERSION,
        "chain_id": core.chain_id,
        "deployer": core.deployer,
        "written_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "start_block": min(blocks) if blocks else 0,
        "contracts": contracts,
    }


def write_manifest(core: CoreDeployment, path: Path | str | None = None) -> Path:
    """Write the manifest atomically (temp file + rename); default `.kogi/deployments/<chain id>.json`."""
    target = Path(path) if path is not None else manifest_path(core.chain_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(manifest_dict(core), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)
    return target


def read_manifest(path_or_chain_id: Path | str | int) -> dict[str, Any]:
    """Read a manifest by path or by chain id (default directory)."""
    path = manifest_path(path_or_chain_id) if isinstance(path_or_chain_id, int) else Path(path_or_chain_id)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"no deployment manifest at {path}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    if data.get("version") != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {data.get('version')!r}, expected {MANIFEST_VERSION}")
    return data


def manifest_addresses(data: dict[str, Any]) -> dict[str, str]:
    return {name: entry["address"] for name, entry in data["contracts"].items()}
