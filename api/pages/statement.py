"""The signed-in household's monthly statement, downloaded from its page: the statement of
`quartier statement` (`api.statements`), built from the chain's record (the audit replays
the chain) and the member's contract in the community file (`QUARTIER_COMMUNITY`)."""

from __future__ import annotations

from pathlib import Path

from api.economics.tariff import tariff_of
from api.relayer.context import V2Chain
from api.statements.errors import StatementError
from api.statements.members import member_info
from api.statements.month import month_statement
from api.statements.record import read_record
from api.statements.render import pdf_of, render_html
from ledger.community_config.files import Directory
from ledger.community_config.model import load_config


def statement_html(
    chain: V2Chain, community_file: Path | None, household: str, year: int, month: int, lang: str
) -> str:
    """The statement page of `household` for the month (StatementError: no community file,
    no contract, no settled data)."""
    if community_file is None:
        raise StatementError(
            "the service has no community file (QUARTIER_COMMUNITY): no contract to bill with",
            "no-community-file",
        )
    info = member_info(household, community_file, Directory())
    names = {m.address.lower(): m.name for m in load_config(community_file).members}
    record = read_record(chain.sender.w3, chain.deployment)
    made = month_statement(record, info, tariff_of(info.region, year), year, month)
    return render_html(made, lang, names, record.block_time)


def statement_pdf(html: str) -> bytes:
    """The same statement as a PDF."""
    return pdf_of(html)
