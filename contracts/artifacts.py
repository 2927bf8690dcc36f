"""Build the Solidity sources with Hardhat 3 (solc-js, offline) and load the artifacts."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
SOURCES_DIR = REPO_ROOT / "contracts" / "src"
BUILD_DIR = REPO_ROOT / "contracts" / "build"
ARTIFACTS_DIR = BUILD_DIR / "artifacts"
NODE = REPO_ROOT / "node_modules" / ".bin" / "node"
HARDHAT = REPO_ROOT / "node_modules" / "hardhat" / "dist" / "src" / "cli.js"


class ArtifactNotFound(LookupError):
    """No compiled artifact of that name: the sources were not built or the name is wrong."""


@dataclass(frozen=True)
class Artifact:
    contract_name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    source_name: str

    @classmethod
    def from_hardhat(cls, data: dict[str, Any]) -> Artifact:
        """An artifact from a Hardhat artifact JSON (ours, or one an npm package ships)."""
        return cls(
            contract_name=data["contractName"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            source_name=data["sourceName"],
        )


def build_contracts(force: bool = False) -> str:
    """Compile with Hardhat 3 on the npm Node 22; Hardhat itself skips unchanged sources."""
    if not NODE.exists() or not HARDHAT.exists():
        raise FileNotFoundError("node_modules is missing Hardhat or node@22: run `npm install` (make does it)")
    argv = [str(NODE), str(HARDHAT), "build"]
    if force:
        argv.append("--force")
    result = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"hardhat build failed:\n{result.stdout}\n{result.stderr}")
    load_artifact.cache_clear()
    return result.stdout.strip()


@cache
def load_artifact(contract_name: str) -> Artifact:
    """Load `<contract_name>.json` from the Hardhat artifacts of contracts/src."""
    matches = sorted((ARTIFACTS_DIR / "contracts" / "src").rglob(f"{contract_name}.json"))
    if not matches:
        raise ArtifactNotFound(f"no artifact for {contract_name!r} under {ARTIFACTS_DIR} (run `kogi contracts build`)")
    return Artifact.from_hardhat(json.loads(matches[0].read_text()))
