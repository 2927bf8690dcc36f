"""A small JSON-RPC client for the indexer: adaptive `eth_getLogs` and batched headers.

Why not web3.py's provider: the follower needs control over exactly the parts providers
disagree on — error texts that mean "range too large", hints with a suggested range,
timeouts that should shrink the range rather than fail — and JSON-RPC batches for
headers. Plain httpx keeps that logic visible and works against any JSON-RPC URL.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_TIMEOUT_S = 30.0
INITIAL_LOG_RANGE_BLOCKS = 2_000
MIN_LOG_RANGE_BLOCKS = 1
MAX_LOG_RANGE_BLOCKS = 100_000
LOG_RANGE_GROWTH_FACTOR = 2
MAX_ADDRESSES_PER_FILTER = 500
"""Providers cap the address list of one filter; larger sets are split into several calls."""
MAX_HEADERS_PER_BATCH = 100
"""Headers per JSON-RPC batch request (providers cap batch sizes at 100-1,000)."""
SUCCESSES_BEFORE_PROBING = 16
"""After a refusal the range stays below the refused size; it probes higher again only after
this many successes in a row (so a provider limit costs one refusal, not one per window)."""
MAX_SHRINK_ATTEMPTS = 40
"""Consecutive range reductions before giving up on one window (1 block is the floor anyway)."""

_RANGE_HINT_RE = re.compile(r"\[\s*(0x[0-9a-fA-F]+)\s*,\s*(0x[0-9a-fA-F]+)\s*\]")
_TOO_MUCH_MARKERS = (
    "more than",
    "too many",
    "limit exceeded",
    "response size",
    "size exceeded",
    "range",
    "too large",
    "query timeout",
    "timed out",
    "timeout",
    "exceed",
    "-32005",
)


class RpcError(RuntimeError):
    """The node answered with a JSON-RPC error (or an unusable response)."""

    def __init__(self, message: str, code: int | None = None, data: Any = None) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.code = code
        self.rpc_message = message
        self.data = data


@dataclass(frozen=True)
class BlockHeader:
    number: int
    hash: str
    parent_hash: str
    timestamp_s: int


def _hex(value: int) -> str:
    return hex(value)


def _is_range_error(exc: Exception) -> bool:
    """Errors that a smaller block range may cure (too many results, payload size, timeouts)."""
    if isinstance(exc, httpx.TimeoutException):
        return True
    if isinstance(exc, RpcError):
        text = f"{exc.rpc_message} {exc.data or ''}".lower()
        return exc.code == -32005 or any(marker in text for marker in _TOO_MUCH_MARKERS)
    return False


def range_hint(exc: Exception) -> tuple[int, int] | None:
    """A provider's suggested range, e.g. Infura's "try with this block range [0x1, 0x2]"."""
    if not isinstance(exc, RpcError):
        return None
    match = _RANGE_HINT_RE.search(f"{exc.rpc_message} {exc.data or ''}")
    if match is None:
        return None
    start, end = int(match.group(1), 16), int(match.group(2), 16)
    return (start, end) if end >= start else None


class RpcClient:
    """JSON-RPC over HTTP. Not thread-safe (one per follower); remembers the log range that works."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        initial_log_range_blocks: int = INITIAL_LOG_RANGE_BLOCKS,
        max_log_range_blocks: int = MAX_LOG_RANGE_BLOCKS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._ids = itertools.count(1)
        self.log_range_blocks = max(MIN_LOG_RANGE_BLOCKS, min(initial_log_range_blocks, max_log_range_blocks))
        self.max_log_range_blocks = max_log_range_blocks
        self._ceiling_blocks = max_log_range_blocks
        self._successes = 0
        self.requests_sent = 0
        """HTTP requests made (a batch counts once): lets tests prove "one request per batch"."""

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _post(self, payload: Any) -> Any:
        self.requests_sent += 1
        response = self._client.post(self.url, json=payload)
        if response.status_code == 413:
            raise RpcError("response too large (HTTP 413)", -32005)
        try:
            body = response.json()
        except ValueError as exc:
            raise RpcError(f"HTTP {response.status_code}: not a JSON-RPC response") from exc
        return body

    @staticmethod
    def _result(body: Any) -> Any:
        if not isinstance(body, dict):
            raise RpcError(f"unexpected JSON-RPC response: {str(body)[:200]}")
        error = body.get("error")
        if error is not None:
            raise RpcError(str(error.get("message", error)), error.get("code"), error.get("data"))
        if "result" not in body:
            raise RpcError(f"JSON-RPC response without result: {str(body)[:200]}")
        return body["result"]

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        return self._result(self._post(request))

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in ONE HTTP request; results in the order of `calls`."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        body = self._post(
            [
                {"jsonrpc": "2.0", "id": call_id, "method": method, "params": list(params)}
                for call_id, (method, params) in zip(ids, calls, strict=True)
            ]
        )
        if isinstance(body, dict):  # some nodes answer a whole failed batch with one error
            self._result(body)
            raise RpcError("batch answered with a single response")
        by_id = {item.get("id"): item for item in body}
        return [self._result(by_id.get(call_id, {"error": {"message": "missing batch response"}})) for call_id in ids]

    # ---------------------------------------------------------------------- chain

    def chain_id(self) -> int:
        return int(self.call("eth_chainId"), 16)

    def head(self) -> int:
        """Number of the latest block."""
        return int(self.call("eth_blockNumber"), 16)

    def get_headers(self, numbers: Sequence[int]) -> dict[int, BlockHeader]:
        """Headers of `numbers`, fetched with JSON-RPC batches of MAX_HEADERS_PER_BATCH."""
        wanted = sorted(set(numbers))
        headers: dict[int, BlockHeader] = {}
        for start in range(0, len(wanted), MAX_HEADERS_PER_BATCH):
            chunk = wanted[start : start + MAX_HEADERS_PER_BATCH]
            results = self.batch([("eth_getBlockByNumber", [_hex(n), False]) for n in chunk])
            for number, block in zip(chunk, results, strict=True):
                if block is None:
                    raise RpcError(f"block {number} is not available (beyond the head?)")
                headers[number] = _header(block)
        return headers

    def get_logs(
        self, from_block: int, to_block: int, addresses: Sequence[str], topics: Sequence[Any] | None = None
    ) -> list[dict[str, Any]]:
        """All logs of `addresses` in [from_block, to_block], ordered by (block, log index).

        The range is walked in windows of `log_range_blocks`, which grows after each success
        and shrinks (or jumps to a provider's hint) on "too many results"/size/timeout errors.
        """
        if to_block < from_block or not addresses:
            return []
        address_list = sorted({address.lower() for address in addresses})
        logs: list[dict[str, Any]] = []
        for start in range(0, len(address_list), MAX_ADDRESSES_PER_FILTER):
            logs.extend(
                self._get_logs_adaptive(
                    from_block, to_block, address_list[start : start + MAX_ADDRESSES_PER_FILTER], topics
                )
            )
        logs.sort(key=lambda log: (int(log["blockNumber"], 16), int(log["logIndex"], 16)))
        return logs

    def _get_logs_adaptive(
        self, from_block: int, to_block: int, addresses: list[str], topics: Sequence[Any] | None
    ) -> list[dict[str, Any]]:
        logs: list[dict[str, Any]] = []
        start = from_block
        shrinks = 0
        while start <= to_block:
            end = min(to_block, start + self.log_range_blocks - 1)
            params: dict[str, Any] = {"fromBlock": _hex(start), "toBlock": _hex(end), "address": addresses}
            if topics:
                params["topics"] = list(topics)
            try:
                found = self.call("eth_getLogs", [params])
            except (RpcError, httpx.TimeoutException) as exc:
                if not _is_range_error(exc) or shrinks >= MAX_SHRINK_ATTEMPTS:
                    raise
                shrinks += 1
                self._successes = 0
                hint = range_hint(exc)
                if hint is not None and hint[0] == start and hint[1] < end:
                    self.log_range_blocks = max(MIN_LOG_RANGE_BLOCKS, hint[1] - hint[0] + 1)
                elif end == start:
                    raise  # a single block cannot be split further
                else:
                    self.log_range_blocks = max(MIN_LOG_RANGE_BLOCKS, (end - start + 1) // 2)
                self._ceiling_blocks = self.log_range_blocks
                continue
            shrinks = 0
            logs.extend(found)
            start = end + 1
            self._grow()
        return logs

    def _grow(self) -> None:
        self._successes += 1
        if self._successes >= SUCCESSES_BEFORE_PROBING:
            self._successes = 0
            self._ceiling_blocks = min(self.max_log_range_blocks, self._ceiling_blocks * LOG_RANGE_GROWTH_FACTOR)
        self.log_range_blocks = min(self._ceiling_blocks, self.log_range_blocks * LOG_RANGE_GROWTH_FACTOR)

    def eth_call(self, to: str, data: str, block: int | None = None) -> str:
        return str(self.call("eth_call", [{"to": to, "data": data}, "latest" if block is None else _hex(block)]))


def _header(block: dict[str, Any]) -> BlockHeader:
    return BlockHeader(
        number=int(block["number"], 16),
        hash=block["hash"],
        parent_hash=block["parentHash"],
        timestamp_s=int(block["timestamp"], 16),
    )
