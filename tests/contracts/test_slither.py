"""Static analysis: slither on the Hardhat 3 build-info, zero high/medium findings in our sources.

No native solc: crytic-compile's Hardhat platform reads the build-info that Hardhat 3 writes
as a pair, `<id>.json` (solc standard-json input) + `<id>.output.json` (solc output). Hardhat keeps
per-job build-infos that may hold stale copies of files recompiled later, so the test recompiles
their union (current sources) once with solc-js into a temporary artifacts directory. Suppressions
live inline in the sources as `// slither-disable-next-line <detector> (reason)`.
If slither cannot run, this test fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from contracts.artifacts import ARTIFACTS_DIR, NODE, REPO_ROOT, build_contracts

# Sources we answer for. contracts/src/test/ holds test-only stand-ins (never deployed).
ANALYSED_PREFIX = "contracts/src/"
EXCLUDED_PREFIXES = ("contracts/src/test/",)
FAILING_IMPACTS = {"High", "Medium"}
SOLC_VERSION = "0.8.28"
SOLC_TIMEOUT_S = 600


def _write_fresh_build_info(target: Path) -> int:
    """One solc-js standard-json compile of the current sources, saved as a Hardhat 3 build-info pair.

    Hardhat's own build-infos are per compilation job and keep the sources as they were when that
    job ran, so a file recompiled later by another job would be analysed in a stale version too.
    Their union (sources re-read from disk) compiled once gives a single consistent unit.
    """
    sources: dict[str, dict[str, str]] = {}
    remappings: set[str] = set()
    settings: dict = {}
    for info_path in sorted((ARTIFACTS_DIR / "build-info").glob("*.json")):
        if info_path.name.endswith(".output.json"):
            continue
        info = json.loads(info_path.read_text())
        settings = info["input"]["settings"]
        remappings.update(settings.get("remappings", []))
        for name, source in info["input"]["sources"].items():
            if name.startswith("project/"):
                path = REPO_ROOT / name.removeprefix("project/")
                if not path.exists():
                    continue
                sources[name] = {"content": path.read_text()}
            else:
                sources[name] = {"content": source["content"]}
    if not sources:
        return 0
    standard_input = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": settings.get("evmVersion", "prague"),
            "optimizer": {"enabled": False},
            "remappings": sorted(remappings),
            # AST + ABI need full analysis but no code generation: fast on solc-js.
            "outputSelection": {"*": {"": ["ast"], "*": ["abi"]}},
        },
    }
    solcjs = REPO_ROOT / "node_modules" / "solc" / "solc.js"
    input_path = target.parent / "standard-input.json"
    input_path.parent.mkdir(parents=True, exist_ok=True)
    input_path.write_text(json.dumps(standard_input))
    output_path = target.parent / "standard-output.json"
    # Files, not pipes: solc.js reads fd 0 synchronously and exits before a large pipe drains.
    with input_path.open("rb") as stdin, output_path.open("wb") as stdout:
        result = subprocess.run(
            [str(NODE), str(solcjs), "--standard-json", "--base-path", str(REPO_ROOT)],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            timeout=SOLC_TIMEOUT_S,
        )
    assert result.returncode == 0, f"solc-js failed: {result.stderr[-2000:]}"
    raw = output_path.read_text()
    output = json.loads(raw[raw.index("{") :])
    errors = [e["formattedMessage"] for e in output.get("errors", []) if e.get("severity") == "error"]
    assert not errors, "solc-js errors:\n" + "\n".join(errors)
    # crytic-compile expects bytecode fields; slither only needs the AST, so leave them empty.
    empty_code = {"object": "", "sourceMap": "", "linkReferences": {}}
    for per_file in output.get("contracts", {}).values():
        for info in per_file.values():
            info.setdefault("evm", {"bytecode": dict(empty_code), "deployedBytecode": dict(empty_code)})
    target.mkdir(parents=True)
    build_id = "slither-current"
    (target / f"{build_id}.json").write_text(
        json.dumps(
            {
                "_format": "hh3-sol-build-info-1",
                "id": build_id,
                "solcVersion": SOLC_VERSION,
                "solcLongVersion": SOLC_VERSION,
                "compilerType": "solc",
                "input": standard_input,
            }
        )
    )
    (target / f"{build_id}.output.json").write_text(
        json.dumps(
            {
                "_format": "hh3-sol-build-info-output-1",
                "id": build_id,
                "output": output,
            }
        )
    )
    return len(sources)


def _finding_paths(result: dict) -> list[str]:
    paths = []
    for element in result.get("elements", []):
        mapping = element.get("source_mapping") or {}
        path = mapping.get("filename_relative") or mapping.get("filename_short") or ""
        paths.append(path)
    return paths


def test_slither_has_no_high_or_medium_findings(tmp_path: Path) -> None:
    import inspect

    from crytic_compile import CryticCompile
    from slither import Slither
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector

    build_contracts()
    assert _write_fresh_build_info(tmp_path / "artifacts" / "build-info") > 0, "no build-info: build failed?"
    compilation = CryticCompile(
        str(REPO_ROOT),
        compile_force_framework="hardhat",
        hardhat_ignore_compile=True,
        hardhat_artifacts_directory=str(tmp_path / "artifacts"),
        npx_disable=True,
    )
    slither = Slither(compilation)
    analysed = {c.name for c in slither.contracts if c.source_mapping.filename.relative.startswith(ANALYSED_PREFIX)}
    assert {"ComplianceRegistry", "PortfolioToken", "PortfolioFactory", "LedgerAnchor"} <= analysed

    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        if issubclass(detector, AbstractDetector):
            slither.register_detector(detector)
    findings = []
    for per_detector in slither.run_detectors():
        for result in per_detector:
            if result["impact"] not in FAILING_IMPACTS:
                continue
            paths = _finding_paths(result)
            ours = [p for p in paths if p.startswith(ANALYSED_PREFIX) and not p.startswith(EXCLUDED_PREFIXES)]
            if ours:
                findings.append(f"{result['impact']} {result['check']}: {result['description'].strip()}")
    assert not findings, "slither high/medium findings:\n" + "\n".join(sorted(set(findings)))
