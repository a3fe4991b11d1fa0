"""Day-to-day transactions of a manager or a household, sent or printed unsigned.

Each action is a contract call built here once; `execute` either signs and sends it with a
local key, or (a multisig manager) returns it unsigned as {"chain_id", "from", "to", "value",
"data", "function", "args"} (`to`, `value`, `data` are what a Safe transaction builder takes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from web3 import Web3
from web3.contract.contract import ContractFunction

from ledger.chain import Sender, encode_call
from ledger.community_config.apply import Record, _receipt_fields, rules_json
from ledger.community_config.errors import ConfigRefusedError
from ledger.community_config.model import RulesSection, rules_problem
from ledger.rules import Rules


@dataclass(frozen=True)
class Action:
    """One contract call and the record that describes it."""

    description: str
    fn: ContractFunction
    record: Record


def unsigned(action: Action, chain_id: int, sender_address: str) -> Record:
    """The transaction a multisig (or another wallet) signs and sends."""
    return {
        **action.record,
        "chain_id": chain_id,
        "from": Web3.to_checksum_address(sender_address),
        "to": action.fn.address,
        "value": "0",
        "data": "0x" + encode_call(action.fn).hex(),
        "function": action.fn.signature,
        "args": [_json_arg(arg) for arg in action.fn.args],
    }


def execute(action: Action, sender: Sender) -> Record:
    """Sign and send; the record with the transaction's hash, block and gas."""
    receipt = sender.transact(action.fn)
    return {**action.record, **_receipt_fields(receipt)}


def _json_arg(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple | list):
        return [_json_arg(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # uint256 values exceed JSON's safe integers
    return value


def changed_rules(latest: Rules, key: str, value: str, period_seconds: int) -> Rules:
    """`latest` with `key` set to `value` (the file's names), checked as the file is."""
    current = rules_json(latest)
    if key not in current:
        raise ConfigRefusedError(f"set-rule: no rule {key!r} (one of {', '.join(current)})")
    current[key] = value if key == "mechanism" else _integer(key, value)
    try:
        section = RulesSection.model_validate(current)
    except ValidationError as error:
        message = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigRefusedError(f"set-rule: {key}: {message}") from None
    broken = rules_problem(section, period_seconds)
    if broken is not None:
        raise ConfigRefusedError(f"set-rule: {broken[0]}: {broken[1]}")
    return section.rules()


def _integer(key: str, value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise ConfigRefusedError(f"set-rule: {key}: {value!r} is not an integer") from None
