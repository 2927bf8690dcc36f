// Hardhat 3 build of the Kogi contracts, offline: the compiler is npm solc-js via
// contracts/tools/solc (a --standard-json shim), never a downloaded native solc.
// evmVersion "prague": the newest fork py-evm can execute (it cannot run osaka).
import { defineConfig } from "hardhat/config";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  paths: {
    sources: "contracts/src",
    artifacts: "contracts/build/artifacts",
    cache: "contracts/build/cache",
  },
  solidity: {
    version: "0.8.28",
    path: path.join(root, "node_modules/solc/soljson.js"),
    settings: {
      evmVersion: "prague",
      optimizer: { enabled: true, runs: 200 },
    },
  },
});
