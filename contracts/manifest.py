"""Deployment manifest: one JSON file per chain id that the indexer and services read.

In code the manifest is a typed `Manifest` (no string-keyed dict travels between modules); on disk
it is JSON of this shape (version 1):
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from contracts.artifacts import REPO_ROOT
from contracts.core import CoreDeployment

MANIFEST_VERSION = 1
DEFAULT_MANIFEST_DIR = REPO_ROOT / ".kogi" / "deployments"


class ManifestError(ValueError):
    """The manifest is missing, unreadable, malformed or of another version."""


@dataclass(frozen=True)
class ManifestContract:
    """Where one core contract lives and where it was created (the indexer scans from there)."""

    address: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True)
class Manifest:
    chain_id: int
    deployer: str
    start_block: int
    contracts: Mapping[str, ManifestContract] = field(default_factory=lambda: MappingProxyType({}))
    written_at: str = ""
    version: int = MANIFEST_VERSION

    @classmethod
    def of(cls, core: CoreDeployment) -> Manifest:
        """The manifest of a deployment just made (written_at: now)."""
        contracts = {
            name: ManifestContract(rec.address, rec.block_number, rec.tx_hash) for name, rec in core.records.items()
        }
        blocks = [rec.block_number for rec in core.records.values()]
        return cls(
            chain_id=core.chain_id,
            deployer=core.deployer,
            start_block=min(blocks) if blocks else 0,
            contracts=MappingProxyType(contracts),
            written_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    @classmethod
    def from_json(cls, data: Any, source: str = "manifest") -> Manifest:
        """Validate the JSON form; a wrong version or shape is a ManifestError naming `source`."""
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            version = data.get("version") if isinstance(data, dict) else None
            raise ManifestError(f"{source}: manifest version {version!r}, expected {MANIFEST_VERSION}")
        try:
            contracts = {
                str(name): ManifestContract(str(entry["address"]), int(entry["block_number"]), str(entry["tx_hash"]))
                for name, entry in data["contracts"].items()
            }
            return cls(
                chain_id=int(data["chain_id"]),
                deployer=str(data["deployer"]),
                start_block=int(data.get("start_block", 0)),
                contracts=MappingProxyType(contracts),
                written_at=str(data.get("written_at", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ManifestError(f"{source}: malformed manifest ({type(exc).__name__}: {exc})") from exc

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "chain_id": self.chain_id,
            "deployer": self.deployer,
            "written_at": self.written_at,
            "start_block": self.start_block,
            "contracts": {
                name: {"address": entry.address, "block_number": entry.block_number, "tx_hash": entry.tx_hash}
                for name, entry in self.contracts.items()
            },
        }

    def addresses(self) -> dict[str, str]:
        """Contract key -> address."""
        return {name: entry.address for name, entry in self.contracts.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable for the indexer's reader process (MappingProxyType itself is not)."""
        return (Manifest.from_json, (self.to_json(),))


def manifest_path(chain_id: int, directory: Path | None = None) -> Path:
    return (directory or DEFAULT_MANIFEST_DIR) / f"{chain_id}.json"


def write_manifest(core: CoreDeployment, path: Path | str | None = None) -> Path:
    """Write the manifest atomically (temp file + rename); default `.kogi/deployments/<chain id>.json`."""
    target = Path(path) if path is not None else manifest_path(core.chain_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(Manifest.of(core).to_json(), indent=2, sort_keys=True) + "\n")
    os.replace(tmp, target)
    return target


def read_manifest(path_or_chain_id: Path | str | int) -> Manifest:
    """Read a manifest by path or by chain id (default directory)."""
    path = manifest_path(path_or_chain_id) if isinstance(path_or_chain_id, int) else Path(path_or_chain_id)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"no deployment manifest at {path}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from exc
    return Manifest.from_json(data, str(path))
