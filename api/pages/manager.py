"""The manager's page: the community as `quartier community status` shows it (members and
meters with their admission times, rules and pending changes, periods pending or settled)
with the members' names from the service's profiles, and the latest audit verdict, replayed
from the chain by `ledger.audit` and kept until a new block arrives."""

from __future__ import annotations

import threading
from typing import Any

from sqlmodel import Session, select

from api.audit_cli import settlement_rule
from api.households.models import HouseholdRow
from api.relayer.context import V2Chain
from ledger.audit import AuditReport, run_audit
from ledger.community_config.files import Directory
from ledger.community_config.status import read_status

#: The audit's problem kinds by family, for a sentence the page can translate.
FAMILIES = ("rules", "registry", "calldata", "posting", "batch", "settlement", "escrow", "token")


def directory(session: Session) -> Directory:
    """Names of the members from their (erasable) profiles."""
    rows = session.exec(select(HouseholdRow)).all()
    return Directory(
        members={row.address.lower(): {"name": row.name} for row in rows if row.name},
    )


def status(chain: V2Chain, session: Session) -> dict[str, Any]:
    """The community's status from the chain, with the members' names."""
    return read_status(chain.sender, chain.deployment, directory(session))


def family(kind: str) -> str:
    """The family of an audit problem kind ("posting_signature" -> "posting")."""
    head = kind.split("_", 1)[0]
    if head in ("hints", "cleared", "household", "period"):
        return "settlement"
    return head if head in FAMILIES else "other"


class LatestAudit:
    """The audit of the whole chain, recomputed when the chain has a new block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: tuple[int, AuditReport] | None = None

    def report(self, chain: V2Chain) -> AuditReport:
        with self._lock:
            latest = int(chain.sender.w3.eth.block_number)
            if self._report is None or self._report[0] != latest:
                found = run_audit(chain.sender.w3, chain.deployment, settlement_rule)
                self._report = (latest, found)
            return self._report[1]
