"""Session-wide real servers. Each fixture starts its server once and stops it at the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.servers import PostgresServer, RedisServer

if TYPE_CHECKING:
    from web3 import Web3

    from contracts.anvil import AnvilProcess


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def anvil_chain() -> Iterator[AnvilProcess]:
    """One anvil per test session on a free port (never 8545); tests isolate with snapshots."""
    from contracts.anvil import ANVIL, AnvilProcess
    from tests.servers import free_port, require_binary

    require_binary("anvil", [str(ANVIL)])
    chain = AnvilProcess(port=free_port()).start()
    try:
        yield chain
    finally:
        chain.stop()


@pytest.fixture()
def w3(anvil_chain: AnvilProcess) -> Iterator[Web3]:
    """A Web3 on the session chain, reverted to a snapshot after each test."""
    web3 = anvil_chain.web3()
    snapshot_id = web3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield web3
    finally:
        web3.provider.make_request("evm_revert", [snapshot_id])
