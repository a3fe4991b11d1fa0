"""Connect to a JSON-RPC node and send transactions whose reverts come back decoded.

Transactions are signed locally (households, the manager and relayers hold their own keys;
the node holds none) and receipts are polled every 10 ms: web3.py's default 100 ms caps a
relayer near 10 transactions a second on Anvil.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception
from web3.types import TxParams, TxReceipt

from ledger.errors import ChainUnreachableError, ContractRevertError, revert_class
from ledger.reverts import decode_revert, revert_data_of

RECEIPT_POLL_SECONDS = 0.01
RECEIPT_TIMEOUT_SECONDS = 60.0

#: What can be sent as a transaction: a contract function call or a contract creation.
Transactable = ContractFunction | ContractConstructor


def connect(rpc_url: str, timeout_seconds: float = 10.0) -> Web3:
    """A Web3 connected to `rpc_url`; raises ChainUnreachableError when nothing answers."""
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_seconds}))
    try:
        w3.eth.chain_id  # noqa: B018 - the cheapest call that proves a node answers
    except (requests.RequestException, Web3Exception, OSError, ValueError) as error:
        raise ChainUnreachableError(
            f"no Ethereum JSON-RPC node answers at {rpc_url} ({type(error).__name__})"
        ) from error
    return w3


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

    def transact(self, fn: Transactable, gas: int | None = None) -> TxReceipt:
        """Sign, send and wait for `fn`; a revert raises the named ContractRevertError.

        Without `gas`, the node estimates it first, which also surfaces the revert reason
        before anything is sent.
        """
        params: TxParams = {"from": self.account.address}
        try:
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
