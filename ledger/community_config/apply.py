"""Apply a community file to the chain: create the contracts if need be, then send the diff.

Each transaction sent becomes one change record (a JSON-ready dict) handed to `report` as
soon as it is mined, so that a run cut short has printed what it did. The diff is computed
from the chain each run (`diff.plan`), and contract creation is journaled (`files`), so a
run the node or the process lost midway is completed by the next one, never duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rlp  # type: ignore[import-untyped]  # eth-account's own dependency
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import TxReceipt

from ledger.chain import Sender
from ledger.community import CommunityClient
from ledger.community_config.chain_state import ChainState, read_state
from ledger.community_config.diff import (
    AdmitMember,
    Change,
    RegisterMeter,
    RemoveMember,
    RevokeMeter,
    ScheduleRules,
    plan,
)
from ledger.community_config.errors import (
    ChainConflictError,
    PartialDeploymentError,
    SignerError,
)
from ledger.community_config.files import (
    Directory,
    journal_path,
    load_deployment_file,
    save_deployment_file,
    write_json,
)
from ledger.community_config.model import CommunityFile
from ledger.community_config.sharing_plan import EndSharingKey, ScheduleSharingKey
from ledger.compiler import artifact, compiler_settings
from ledger.deployment import Deployment
from ledger.errors import DeploymentError
from ledger.events_v2 import MeterAdmitted, RulesScheduled, decode_receipt_v2, only
from ledger.rules import Mechanism, Rules

Record = dict[str, Any]
Report = Callable[[Record], None]

#: Name and symbol of a QuartierToken the file does not name (6 decimals, a euro stand-in).
DEFAULT_TOKEN_NAME = "Quartier Euro"
DEFAULT_TOKEN_SYMBOL = "qEUR"

MECHANISM_NAMES = {
    Mechanism.PAY_AS_CLEAR: "pay-as-clear",
    Mechanism.PAY_AS_BID: "pay-as-bid",
    Mechanism.COMMUNITY_PRICE: "community-price",
}


def rules_json(rules: Rules) -> dict[str, Any]:
    """The rules with the file's keys and mechanism names."""
    return {
        "mechanism": MECHANISM_NAMES[rules.mechanism],
        "gate_lead_seconds": rules.gate_lead_seconds,
        "settlement_deadline_seconds": rules.settlement_deadline_seconds,
        "min_entry_wh": rules.min_entry_wh,
        "price_floor_per_kwh": rules.price_floor_per_kwh,
        "price_ceiling_per_kwh": rules.price_ceiling_per_kwh,
        "community_price_per_kwh": rules.community_price_per_kwh,
    }


def apply_config(
    config: CommunityFile,
    source: str,
    sender: Sender,
    deployment_path: Path,
    report: Report,
) -> list[Record]:
    """Bring the chain to `config`; returns the change records (also passed to `report`)."""
    records: list[Record] = []

    def sent(record: Record) -> None:
        records.append(record)
        report(record)

    directory = _directory(config)
    if deployment_path.exists():
        deployment, known = load_deployment_file(deployment_path)
        deployment.check_chain(sender.w3)
        token = config.token.address
        if token is not None and token.lower() != deployment.address("QuartierToken").lower():
            raise ChainConflictError(
                f"{source}: token.address: is {token} but the community settles in "
                f"{deployment.address('QuartierToken')}, fixed at deployment"
            )
        directory = _merged(known, directory)
        state = _read_state(sender, deployment)
        changes = plan(config, state, source)
        if changes and state.manager.lower() != sender.address.lower():
            raise SignerError(
                f"the key {sender.address} is not the community's manager {state.manager}"
            )
    else:
        deployment = _create_contracts(config, sender, deployment_path, sent)
        state = _read_state(sender, deployment)
        changes = plan(config, state, source)
    save_deployment_file(deployment_path, deployment, directory)
    journal_path(deployment_path).unlink(missing_ok=True)
    community = CommunityClient(sender, deployment.address("QuartierCommunity"))
    for change in changes:
        sent(_send(community, change, directory, state))
    return records


def _read_state(sender: Sender, deployment: Deployment) -> ChainState:
    return read_state(
        sender,
        deployment.address("QuartierCommunity"),
        deployment.deploy_block,
        deployment.contracts.get("QuartierSharingKeys"),
    )


def _directory(config: CommunityFile) -> Directory:
    from metering.reading import PublicKey, meter_id_of

    return Directory(
        name=config.name,
        members={m.address.lower(): {"name": m.name, "ean": m.ean} for m in config.members},
        meters={"0x" + meter_id_of(PublicKey(m.x, m.y)).hex(): m.member for m in config.meters},
    )


def _merged(known: Directory, current: Directory) -> Directory:
    # Members and meters the file dropped keep their names: the chain keeps their history.
    return Directory(
        name=current.name,
        members={**known.members, **current.members},
        meters={**known.meters, **current.meters},
    )


def _receipt_fields(receipt: TxReceipt) -> Record:
    return {
        "tx": "0x" + bytes(receipt["transactionHash"]).hex(),
        "block": int(receipt["blockNumber"]),
        "gas_used": int(receipt["gasUsed"]),
    }


def _send(
    community: CommunityClient, change: Change, directory: Directory, state: ChainState
) -> Record:
    functions = community.contract.functions
    sender = community.sender
    if isinstance(change, EndSharingKey | ScheduleSharingKey):
        return _send_sharing(sender, change, state)
    if isinstance(change, AdmitMember):
        receipt = sender.transact(functions.admitHousehold(change.address))
        return {
            "action": "admit_member",
            "member": change.name,
            "address": change.address,
            **_receipt_fields(receipt),
        }
    if isinstance(change, RegisterMeter):
        fn = functions.admitMeter(change.address, change.public_key_x, change.public_key_y)
        receipt = sender.transact(fn)
        (event,) = only(decode_receipt_v2(community.contract, receipt), MeterAdmitted)
        return {
            "action": "register_meter",
            "member": change.member,
            "meter_id": "0x" + event.meter_id.hex(),
            **_receipt_fields(receipt),
        }
    if isinstance(change, RevokeMeter):
        receipt = sender.transact(functions.revokeMeter(change.meter_id))
        return {
            "action": "revoke_meter",
            "member": change.member or directory.meter_member(change.meter_id),
            "meter_id": "0x" + change.meter_id.hex(),
            **_receipt_fields(receipt),
        }
    if isinstance(change, RemoveMember):
        receipt = sender.transact(functions.removeHousehold(change.address))
        return {
            "action": "remove_member",
            "member": change.name or directory.member_name(change.address),
            "address": change.address,
            **_receipt_fields(receipt),
        }
    assert isinstance(change, ScheduleRules)
    receipt = sender.transact(functions.scheduleRules(change.rules.as_abi()))
    (scheduled,) = only(decode_receipt_v2(community.contract, receipt), RulesScheduled)
    return {
        "action": "schedule_rules",
        "effective_from_period": scheduled.effective_from_period_id,
        "effective_from": state.grid.period_start(scheduled.effective_from_period_id),
        "rules": rules_json(change.rules),
        **_receipt_fields(receipt),
    }


def _send_sharing(
    sender: Sender, change: EndSharingKey | ScheduleSharingKey, state: ChainState
) -> Record:
    from ledger.sharing_keys import SharingKeysClient

    assert state.sharing_keys_address is not None  # plan_sharing plans nothing without it
    contract = SharingKeysClient(sender, state.sharing_keys_address).contract
    if isinstance(change, EndSharingKey):
        receipt = sender.transact(contract.functions.endKeyFrom(change.key_id, change.from_period))
        (ended,) = contract.events.KeyEnded().process_receipt(receipt)
        return {
            "action": "end_sharing_key",
            "key_id": change.key_id,
            "from_period": change.from_period,
            "from": state.grid.period_start(change.from_period),
            "valid_until_period": int(ended["args"]["validUntilPeriod"]),
            **_receipt_fields(receipt),
        }
    key = change.key
    receipt = sender.transact(contract.functions.scheduleKey(key.as_abi()))
    (scheduled,) = contract.events.KeyScheduled().process_receipt(receipt)
    return {
        "action": "schedule_sharing_key",
        "sharing": change.entry,
        "key_id": int(scheduled["args"]["keyId"]),
        "valid_from_period": key.valid_from_period,
        "valid_until_period": key.valid_until_period,
        "from": state.grid.period_start(key.valid_from_period),
        "cascade": [rule.value for rule in key.cascade],
        "members": list(key.members),
        "shares_bp": list(key.shares_bp),
        **_receipt_fields(receipt),
    }


# ---------------------------------------------------------------- contract creation


def create_address(deployer: str, nonce: int) -> str:
    """The address a creation by `deployer` at `nonce` gets: keccak(rlp([sender, nonce]))."""
    encoded = rlp.encode([bytes.fromhex(deployer[2:]), nonce])
    return Web3.to_checksum_address(keccak(encoded)[12:])


def _create_contracts(
    config: CommunityFile, sender: Sender, deployment_path: Path, sent: Report
) -> Deployment:
    journal_file = journal_path(deployment_path)
    journal = _load_journal(journal_file, sender)
    created: dict[str, dict[str, Any]] = journal["created"]
    manager = sender.address
    time = config.time
    plans: list[tuple[str, Callable[[], tuple[Any, ...]]]] = [
        (
            "QuartierCommunity",
            lambda: (
                manager,
                time.interval_seconds,
                time.period_intervals,
                time.rule_change_delay_periods,
                config.rules.rules().as_abi(),
            ),
        ),
        (
            "QuartierExchange",
            lambda: (addresses["QuartierCommunity"], addresses["QuartierToken"]),
        ),
        ("QuartierSettlementVersions", lambda: (addresses["QuartierExchange"],)),
        # The [[sharing]] keys (IQuartierSharingKeys); later edits go through diff.plan.
        ("QuartierSharingKeys", lambda: (addresses["QuartierCommunity"], _sharing_keys(config))),
    ]
    addresses: dict[str, str] = {}
    if config.token.address is not None:
        addresses["QuartierToken"] = config.token.address
    else:
        token = config.token
        name = token.name or DEFAULT_TOKEN_NAME
        symbol = token.symbol or DEFAULT_TOKEN_SYMBOL
        plans.insert(0, ("QuartierToken", lambda: (name, symbol, manager)))
    blocks: list[int] = []
    for contract, arguments in plans:
        entry = created.get(contract)
        if entry is not None and sender.w3.eth.get_code(entry["address"]):
            addresses[contract] = entry["address"]
            blocks.append(int(entry.get("block") or _creation_block(sender, entry["address"])))
            continue
        nonce = int(sender.w3.eth.get_transaction_count(sender.account.address, "pending"))
        predicted = create_address(sender.address, nonce)
        created[contract] = {"address": predicted, "nonce": nonce}
        write_json(journal_file, journal)
        compiled = artifact(contract)
        factory = sender.w3.eth.contract(abi=compiled.abi, bytecode=compiled.bytecode)
        receipt = sender.transact(factory.constructor(*arguments()))
        address = Web3.to_checksum_address(str(receipt["contractAddress"]))
        if address != predicted:
            raise PartialDeploymentError(
                f"{contract} was created at {address}, not at {predicted}: another "
                f"transaction of {sender.address} went first; deploy again"
            )
        created[contract]["block"] = int(receipt["blockNumber"])
        write_json(journal_file, journal)
        addresses[contract] = address
        blocks.append(int(receipt["blockNumber"]))
        sent(
            {
                "action": "deploy",
                "contract": contract,
                "address": address,
                **_receipt_fields(receipt),
            }
        )
    return Deployment(
        chain_id=sender.chain_id,
        deploy_block=min(blocks),
        manager=manager,
        contracts=addresses,
        compiler=compiler_settings().as_dict(),
    )


def _sharing_keys(config: CommunityFile) -> list[tuple[Any, ...]]:
    from ledger.sharing_keys import chain_key_of

    members = [(member.name, member.address) for member in config.members]
    period_seconds = config.time.period_seconds
    return [chain_key_of(entry, members, period_seconds).as_abi() for entry in config.sharing]


def _load_journal(path: Path, sender: Sender) -> dict[str, Any]:
    fresh = {"chain_id": sender.chain_id, "deployer": sender.address, "created": {}}
    if not path.exists():
        return fresh
    try:
        journal: dict[str, Any] = json.loads(path.read_text())
        chain_id, deployer = int(journal["chain_id"]), str(journal["deployer"])
        dict(journal["created"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise PartialDeploymentError(f"journal {path} is unreadable ({error}); delete it") from None
    if chain_id != sender.chain_id or deployer.lower() != sender.address.lower():
        raise PartialDeploymentError(
            f"journal {path} is of a deployment by {deployer} on chain {chain_id}: resume it "
            "with that key and chain, or delete it"
        )
    return journal


def _creation_block(sender: Sender, address: str) -> int:
    # The first block where `address` has code (a creation mined but not journaled).
    low, high = 0, int(sender.w3.eth.block_number)
    while low < high:
        middle = (low + high) // 2
        if sender.w3.eth.get_code(Web3.to_checksum_address(address), middle):
            high = middle
        else:
            low = middle + 1
    if not sender.w3.eth.get_code(Web3.to_checksum_address(address), low):
        raise DeploymentError(f"no contract at {address}")
    return low
