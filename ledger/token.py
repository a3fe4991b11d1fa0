"""Typed client of the settlement token (QuartierToken, or any ERC-20 for reads and transfers)."""

from __future__ import annotations

from typing import TypeVar

from web3 import Web3
from web3.contract import Contract

from ledger.chain import Sender, chain_call
from ledger.compiler import artifact
from ledger.errors import LedgerError
from ledger.events import Approval, Transfer, decode_receipt, only

T = TypeVar("T")


class TokenClient:
    """Reads the token; writes as `sender` (the minter for `mint`)."""

    def __init__(self, sender: Sender, address: str) -> None:
        self.sender = sender
        self.contract: Contract = sender.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact("QuartierToken").abi
        )

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def mint(self, to: str, amount_units: int) -> Transfer:
        """Create `amount_units` for `to` (the minter, i.e. the community manager, only)."""
        receipt = self.sender.transact(self.contract.functions.mint(to, amount_units))
        return self._one(only(decode_receipt(self.contract, receipt), Transfer))

    def transfer(self, to: str, amount_units: int) -> Transfer:
        """Move `amount_units` from the sender to `to`."""
        receipt = self.sender.transact(self.contract.functions.transfer(to, amount_units))
        return self._one(only(decode_receipt(self.contract, receipt), Transfer))

    def approve(self, spender: str, amount_units: int) -> Approval:
        """Let `spender` (the market, to take a deposit) move up to `amount_units`."""
        receipt = self.sender.transact(self.contract.functions.approve(spender, amount_units))
        return self._one(only(decode_receipt(self.contract, receipt), Approval))

    def balance_of(self, account: str) -> int:
        return int(chain_call(self.contract.functions.balanceOf(account)))

    def total_supply(self) -> int:
        return int(chain_call(self.contract.functions.totalSupply()))

    def decimals(self) -> int:
        return int(chain_call(self.contract.functions.decimals()))

    def symbol(self) -> str:
        return str(chain_call(self.contract.functions.symbol()))

    @staticmethod
    def _one(events: list[T]) -> T:
        if len(events) != 1:
            raise LedgerError(f"expected one token event, the transaction emitted {len(events)}")
        return events[0]
