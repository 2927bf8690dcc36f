"""The JSON-RPC client: batched headers, adaptive eth_getLogs ranges, provider hints."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from web3 import Web3

from indexer.rpc import RpcClient, RpcError, range_hint
from tests.indexer.conftest import TOKEN, Stack


def test_headers_come_in_one_batch_request_and_match_the_chain(stack: Stack, rpc: RpcClient) -> None:
    w3 = stack.w3
    head = rpc.head()
    assert head == w3.eth.block_number
    numbers = list(range(max(0, head - 9), head + 1))
    before = rpc.requests_sent
    headers = rpc.get_headers(numbers)
    assert rpc.requests_sent == before + 1
    for n in numbers:
        block = w3.eth.get_block(n)
        assert headers[n].hash == "0x" + block["hash"].hex().removeprefix("0x")
        assert headers[n].parent_hash == "0x" + block["parentHash"].hex().removeprefix("0x")
        assert headers[n].timestamp_s == block["timestamp"]


def test_get_logs_walks_small_windows_and_equals_web3(stack: Stack, anvil_chain: Any) -> None:
    start = stack.w3.eth.block_number + 1
    for i in range(6):
        stack.send(stack.token.functions.mint(stack.investors[i % 3], (i + 1) * TOKEN))
    end = stack.w3.eth.block_number
    client = RpcClient(anvil_chain.rpc_url, initial_log_range_blocks=1, max_log_range_blocks=4)
    try:
        logs = client.get_logs(start, end, [stack.token.address])
    finally:
        client.close()
    expected = stack.w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": stack.token.address})
    assert [(log["transactionHash"], log["logIndex"]) for log in logs] == [
        ("0x" + e["transactionHash"].hex().removeprefix("0x"), hex(e["logIndex"])) for e in expected
    ]
    assert client.log_range_blocks == 4  # grew from 1 and capped


class FakeNode:
    """A JSON-RPC node whose eth_getLogs refuses ranges wider than `max_range` in a chosen way."""

    def __init__(self, max_range: int, mode: str) -> None:
        self.max_range = max_range
        self.mode = mode
        self.ranges: list[tuple[int, int]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        params = body["params"][0]
        start, end = int(params["fromBlock"], 16), int(params["toBlock"], 16)
        self.ranges.append((start, end))
        if end - start + 1 > self.max_range:
            if self.mode == "timeout":
                raise httpx.ReadTimeout("slow", request=request)
            if self.mode == "hint":
                message = (
                    f"query exceeds limit, try with this block range [{hex(start)}, {hex(start + self.max_range - 1)}]"
                )
            else:
                message = "query returned more than 10000 results"
            error = {"code": -32005, "message": message}
            return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})
        logs = [{"blockNumber": hex(n), "logIndex": "0x0", "address": "0x" + "11" * 20} for n in range(start, end + 1)]
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": logs})


@pytest.mark.parametrize("mode", ["too_many", "timeout", "hint"])
def test_ranges_shrink_on_refusals_and_every_block_is_covered(mode: str) -> None:
    node = FakeNode(max_range=7, mode=mode)
    client = RpcClient("http://fake", initial_log_range_blocks=100, transport=httpx.MockTransport(node))
    logs = client.get_logs(0, 99, ["0x" + "11" * 20])
    assert [int(log["blockNumber"], 16) for log in logs] == list(range(100))
    assert client.log_range_blocks <= 14  # under the limit, or one probe above it
    refused = [r for r in node.ranges if r[1] - r[0] + 1 > 7]
    assert len(refused) <= 6  # a limit costs a few refusals, not one per window
    if mode == "hint":
        assert node.ranges[1] == (0, 6)  # the provider's suggested range was used as given


def test_non_range_errors_are_raised_and_hints_parse() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        error = {"code": -32601, "message": "method not found"}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "error": error})

    client = RpcClient("http://fake", transport=httpx.MockTransport(handler))
    with pytest.raises(RpcError, match="method not found"):
        client.get_logs(0, 10, ["0x" + "11" * 20])
    assert range_hint(RpcError("this block range should work: [0x10, 0x1f]")) == (16, 31)
    assert range_hint(RpcError("no hint")) is None
    assert Web3.is_address("0x" + "11" * 20)
