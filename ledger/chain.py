"""Connect to a JSON-RPC node and send transactions whose reverts come back decoded.

Transactions are signed locally (households, the manager and relayers hold their own keys;
the node holds none) and receipts are polled every 10 ms: web3.py's default 100 ms caps a
relayer near 10 transactions a second on Anvil.

Hot paths skip web3.py's contract layer, which walks every argument through recursive
formatters and middleware (~3 ms a view call, tens of ms for a large settlement):
`encode_call` encodes with eth-abi from a per-signature cache, `lean_call` sends a view as one
bare `eth_call`, and `Sender.transact(fn, gas=...)` builds the transaction itself when the
caller knows a sufficient gas limit (no estimation round trip; a mined failure is still
replayed as a call to name its error).

Bounded waits: every JSON-RPC request has a timeout (`connect(timeout_seconds=...)`), and a
caller may set one overall deadline for all the requests it makes (`chain_deadline`, a context
variable, so it follows the caller into the threads anyio starts for it): each request then
waits at most until the deadline, and none starts after it (ChainUnreachableError). The API
runs every HTTP request under such a deadline, so a node that accepts connections but never
answers costs a request a few seconds, not web3.py's 5 retries of the full timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, cast

import requests
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils.abi import collapse_if_tuple
from eth_utils.crypto import keccak
from web3 import HTTPProvider, Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception
from web3.providers.rpc.utils import ExceptionRetryConfiguration
from web3.types import Nonce, RPCEndpoint, TxParams, TxReceipt, Wei

from ledger.errors import ChainUnreachableError, ContractRevertError, revert_class
from ledger.reverts import decode_revert, revert_data_of

RECEIPT_POLL_SECONDS = 0.01
RECEIPT_TIMEOUT_SECONDS = 60.0
#: Fee cap of transactions built without web3.py (`transact` with a known gas limit), as a
#: multiple of the latest base fee: room for it to rise for several full blocks.
BASE_FEE_HEADROOM = 2

#: What can be sent as a transaction: a contract function call or a contract creation.
Transactable = ContractFunction | ContractConstructor


#: Timeout of one JSON-RPC request (connect, and each read) when the caller sets none.
RPC_TIMEOUT_SECONDS = 10.0

#: Monotonic time after which no JSON-RPC request of this context may wait (None: no deadline).
_DEADLINE: ContextVar[float | None] = ContextVar("quartier_chain_deadline", default=None)


#: What `start_deadline` returns and `end_deadline` takes back.
DeadlineToken = Token[float | None]


def start_deadline(seconds: float) -> DeadlineToken:
    """From now on in this context (and in threads started with a copy of it), every
    JSON-RPC request ends within `seconds`; a nested deadline can only shorten it. Pair with
    `end_deadline` (or use `chain_deadline`)."""
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    return _DEADLINE.set(deadline if outer is None else min(outer, deadline))


def end_deadline(token: DeadlineToken) -> None:
    """Restore the deadline in force before `start_deadline` returned `token`."""
    _DEADLINE.reset(token)


@contextmanager
def chain_deadline(seconds: float) -> Iterator[None]:
    """Every JSON-RPC request made inside the block ends within `seconds` from now."""
    token = start_deadline(seconds)
    try:
        yield
    finally:
        end_deadline(token)


def deadline_remaining() -> float | None:
    """Seconds left before the current context's chain deadline (None when there is none)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


class BoundedHTTPProvider(HTTPProvider):
    """web3.py's HTTP provider whose every request honours the context's `chain_deadline`.

    web3.py reads `get_request_kwargs()` before each attempt (its retries included): the
    timeout becomes the time left, and an attempt after the deadline raises
    ChainUnreachableError, which web3.py does not retry.
    """

    def get_request_kwargs(self) -> Any:
        kwargs = dict(super().get_request_kwargs())
        remaining = deadline_remaining()
        if remaining is not None:
            if remaining <= 0:
                raise ChainUnreachableError(
                    f"the node at {self.endpoint_uri} did not answer within the deadline"
                )
            kwargs["timeout"] = min(float(kwargs.get("timeout", RPC_TIMEOUT_SECONDS)), remaining)
        return kwargs


def connect(rpc_url: str, timeout_seconds: float = RPC_TIMEOUT_SECONDS) -> Web3:
    """A Web3 connected to `rpc_url`; raises ChainUnreachableError when nothing answers.

    Each request waits at most `timeout_seconds` (and never past the context's
    `chain_deadline`). A timed-out request is not retried: web3.py's default retried timeouts
    5 times, so a node that accepts connections but never answers held a caller for a minute.
    """
    provider = BoundedHTTPProvider(
        rpc_url,
        request_kwargs={"timeout": timeout_seconds},
        exception_retry_configuration=ExceptionRetryConfiguration(errors=(requests.HTTPError,)),
    )
    w3 = Web3(provider)
    try:
        w3.eth.chain_id  # noqa: B018 - the cheapest call that proves a node answers
    except (requests.RequestException, Web3Exception, OSError, ValueError) as error:
        raise ChainUnreachableError(
            f"no Ethereum JSON-RPC node answers at {rpc_url} ({type(error).__name__})"
        ) from error
    return w3


@lru_cache(maxsize=512)
def _codec(signature: str) -> tuple[bytes, tuple[str, ...]]:
    # The canonical signature names the input types, hence the selector and the encoding.
    return keccak(text=signature)[:4], _types_in(signature)


def _types_in(signature: str) -> tuple[str, ...]:
    # "f(uint64,(address,uint8)[],bytes32)" -> ("uint64", "(address,uint8)[]", "bytes32")
    inner = signature[signature.index("(") + 1 : -1]
    types: list[str] = []
    depth, start = 0, 0
    for index, char in enumerate(inner):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            types.append(inner[start:index])
            start = index + 1
    if inner:
        types.append(inner[start:])
    return tuple(types)


def encode_call(fn: ContractFunction) -> bytes:
    """The calldata of a bound contract call, selector ‖ abi.encode(args), via eth-abi.

    The selector and types are cached per signature: web3.py's `_encode_transaction_data`
    re-derives them and re-formats every argument on each call.
    """
    selector, types = _codec(fn.signature)
    return selector + abi_encode(list(types), list(fn.args))


def decode_calldata(signature: str, data: bytes) -> tuple[Any, ...]:
    """The arguments of a call of `signature` from its calldata (structs as tuples).

    Raises ValueError when the calldata is not a call of `signature`.
    """
    selector, types = _codec(signature)
    if data[:4] != selector:
        raise ValueError(f"the calldata is not a call of {signature}")
    return tuple(abi_decode(list(types), data[4:]))


def lean_call(fn: ContractFunction) -> tuple[Any, ...]:
    """A view call as one bare `eth_call` at the latest block, its outputs decoded by eth-abi.

    Same answer as `chain_call` (addresses come back lower-case, structs as tuples) for a
    fraction of its Python work; a revert raises the named ContractRevertError, a failed
    request ChainUnreachableError.
    """
    call = {"to": fn.address, "data": HexStr("0x" + encode_call(fn).hex())}
    try:
        answer = fn.w3.provider.make_request(RPCEndpoint("eth_call"), [call, "latest"])
    except (requests.RequestException, OSError) as error:
        raise ChainUnreachableError(f"the node stopped answering: {error}") from error
    if "error" in answer:
        error_data = cast(dict[str, Any], answer["error"])
        data = error_data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            raise decode_revert(bytes.fromhex(data[2:]))
        raise ChainUnreachableError(f"eth_call of {fn.signature} failed: {error_data}")
    outputs = [collapse_if_tuple(dict(item)) for item in fn.abi.get("outputs", [])]
    return tuple(abi_decode(outputs, bytes.fromhex(str(answer["result"])[2:])))


def chain_call(fn: ContractFunction) -> Any:
    """Call a view function; a revert raises the named ContractRevertError."""
    try:
        return fn.call()
    except ContractLogicError as error:
        raise _decoded(error) from error
    except requests.RequestException as error:
        raise ChainUnreachableError(f"the node stopped answering: {error}") from error


@dataclass
class Sender:
    """An account that signs and sends transactions on one chain."""

    w3: Web3
    account: LocalAccount

    @property
    def address(self) -> str:
        return str(self.account.address)

    #: Tip offered by transactions this module builds itself (`transact` with `gas`).
    priority_fee_wei: int = 10**9
    _chain_id: int | None = field(default=None, init=False, repr=False)

    def transact(self, fn: Transactable, gas: int | None = None) -> TxReceipt:
        """Sign, send and wait for `fn`; a revert raises the named ContractRevertError.

        Without `gas`, the node estimates it first, which also surfaces the revert reason
        before anything is sent. With `gas` (a caller that knows its call shapes), a contract
        call is encoded and built here, without estimation; only the gas used is paid, and a
        revert is named by replaying the mined failure.
        """
        params: TxParams = {"from": self.account.address}
        try:
            if gas is not None and isinstance(fn, ContractFunction):
                return self.send_signed(self._built(fn, gas), fn)
            if gas is None:
                gas = int(fn.estimate_gas(params) * 12 // 10)
            params["gas"] = gas
            params["nonce"] = self.w3.eth.get_transaction_count(self.account.address, "pending")
            transaction = fn.build_transaction(params)
        except ContractLogicError as error:
            raise _decoded(error) from error
        except requests.RequestException as error:
            raise ChainUnreachableError(f"the node stopped answering: {error}") from error
        return self.send_signed(transaction, fn)

    def _built(self, fn: ContractFunction, gas: int) -> TxParams:
        nonce = self._rpc("eth_getTransactionCount", [self.account.address, "pending"])
        block = self._rpc("eth_getBlockByNumber", ["latest", False])
        base_fee_wei = int(block.get("baseFeePerGas", "0x0"), 16)
        return {
            "from": self.account.address,
            "to": fn.address,
            "data": HexStr("0x" + encode_call(fn).hex()),
            "value": Wei(0),
            "gas": gas,
            "nonce": Nonce(int(nonce, 16)),
            "chainId": self.chain_id,
            "type": 2,
            "maxFeePerGas": Wei(BASE_FEE_HEADROOM * base_fee_wei + self.priority_fee_wei),
            "maxPriorityFeePerGas": Wei(self.priority_fee_wei),
        }

    def _rpc(self, method: str, params: list[Any]) -> Any:
        # One bare request: web3.py's formatters would cost more than the node's answer.
        answer = self.w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in answer:
            raise ChainUnreachableError(f"{method} failed: {answer['error']}")
        return answer["result"]

    @property
    def chain_id(self) -> int:
        """The chain's id (asked once: it is constant for a node)."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    def send_signed(self, transaction: TxParams, fn: Transactable | None = None) -> TxReceipt:
        """Sign and send a built transaction; decode the revert if it failed on-chain."""
        signed = self.account.sign_transaction(transaction)  # type: ignore[arg-type]
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=RECEIPT_TIMEOUT_SECONDS, poll_latency=RECEIPT_POLL_SECONDS
            )
        except ContractLogicError as error:
            raise _decoded(error) from error
        except TimeExhausted as error:
            raise ChainUnreachableError(f"transaction {tx_hash.hex()} was never mined") from error
        except requests.RequestException as error:
            raise ChainUnreachableError(f"the node stopped answering: {error}") from error
        if receipt["status"] != 1:
            raise self._replayed_revert(transaction, receipt, fn)
        return receipt

    def _replayed_revert(
        self, transaction: TxParams, receipt: TxReceipt, fn: Transactable | None
    ) -> ContractRevertError:
        # A mined failure carries no reason: replay it as a call at its block to read one.
        call: TxParams = {"from": self.account.address, "data": transaction["data"]}
        if "to" in transaction:
            call["to"] = transaction["to"]
        try:
            self.w3.eth.call(call, receipt["blockNumber"] - 1)
        except ContractLogicError as error:
            return _decoded(error)
        name = getattr(fn, "fn_name", "constructor")
        return revert_class("OutOfGasOrUnknown")({"function": name, "gas_used": receipt["gasUsed"]})


def _decoded(error: ContractLogicError) -> ContractRevertError:
    data = revert_data_of(error)
    if data is None:
        return revert_class("UnknownRevert")({"message": str(error)})
    return decode_revert(data)
