"""`quartier statement`: a member's monthly statement as HTML and/or PDF.

Everything is computed and rendered before a file is touched, so a refusal (unknown
member, a month without settled data, a tariff file missing a component, a chain or file
that cannot be read) is one line on stderr, a non-zero exit and no file; a file is written
whole (a temporary beside it, then renamed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from api.economics.tariff import load_tariff, tariff_of
from api.statements.errors import StatementError
from api.statements.members import checked_address, member_info
from api.statements.month import month_statement, parse_month
from api.statements.record import read_record
from api.statements.render import LOCALES, pdf_of, render_html, translations
from ledger.chain import connect
from ledger.community_config.files import load_deployment_file
from ledger.community_config.model import load_config


def _names(community: Path | None, directory_names: dict[str, str]) -> dict[str, str]:
    if community is None:
        return directory_names
    return {m.address.lower(): m.name for m in load_config(community).members}


def _save(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise StatementError(f"cannot write {path}: {error.strerror}") from None


def statement(
    member: Annotated[str, typer.Option(help="The member's address on the ledger.")],
    month: Annotated[str, typer.Option(help="The month, YYYY-MM (Europe/Brussels).")],
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of a node of the community's chain.")],
    deployment: Annotated[Path, typer.Option(help="The community's deployment file.")],
    lang: Annotated[str, typer.Option(help="Language: fr, nl or en.")] = "fr",
    html: Annotated[Path | None, typer.Option(help="Write the statement as HTML here.")] = None,
    pdf: Annotated[Path | None, typer.Option(help="Write the statement as PDF here.")] = None,
    community: Annotated[
        Path | None,
        typer.Option(help="community.toml: members' names, EANs and supply contracts."),
    ] = None,
    tariff: Annotated[
        Path | None,
        typer.Option(help="A tariff file (default: the shipped one of the region and year)."),
    ] = None,
) -> None:
    """A member's monthly statement (fr, nl, en) as HTML or PDF, from the chain and the
    tariff file. It shows the shared kWh per day, prices, amounts, the bill with and without the
    community, the 15-minute peak and the audit's verdict."""
    if html is None and pdf is None:
        raise StatementError("give --html FILE or --pdf FILE (or both)")
    if lang not in LOCALES:
        raise StatementError(f"--lang must be one of {', '.join(LOCALES)}, got {lang!r}")
    translations(lang)
    year, month_number = parse_month(month)
    address = checked_address(member)
    loaded, directory = load_deployment_file(deployment)
    info = member_info(address, community, directory)
    bill_tariff = load_tariff(tariff) if tariff is not None else tariff_of(info.region, year)
    record = read_record(connect(rpc), loaded)
    names = _names(
        community, {a: entry["name"] for a, entry in directory.members.items() if "name" in entry}
    )
    made = month_statement(record, info, bill_tariff, year, month_number)
    page = render_html(made, lang, names, record.block_time)
    document = pdf_of(page) if pdf is not None else None
    if html is not None:
        _save(html, page.encode("utf-8"))
    if pdf is not None and document is not None:
        _save(pdf, document)
    for path in (html, pdf):
        if path is not None:
            typer.echo(f"statement of {info.name} for {month} written to {path}")
