"""The statement's page without a chain: catalogues, number formats, the three languages,
the PDF. The numbers come from a hand-made MonthStatement whose figures are chosen so that
each format's rounding is visible (halves away from zero)."""

from __future__ import annotations

import io
from fractions import Fraction

import jinja2.ext
import pytest
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from pypdf import PdfReader

from api.economics.bill import Bill
from api.economics.tariff import Member
from api.statements.errors import StatementError
from api.statements.members import MemberInfo
from api.statements.month import Day, Market, MonthStatement, Neighbour, QuarterHour, parse_month
from api.statements.render import HERE, LOCALES, Formats, pdf_of, render_html, translations
from ledger.audit import Kind, Problem
from ledger.display import euro_cents, euros

NEIGHBOUR = "0x00000000000000000000000000000000000000b2"
#: 2026-06-21 00:00 UTC = 02:00 in Brussels (summer time).
MIDNIGHT_UTC = 1_782_000_000 - 1_782_000_000 % 86_400


def _statement(problems: tuple[Problem, ...] = ()) -> MonthStatement:
    member = MemberInfo(
        "0x00000000000000000000000000000000000000a1",
        "Chloé",
        "541448820000000039",
        "wallonia",
        Member("ORES", "variable-single", "fixed"),
        "Rue des Tilleuls",
    )
    day = Day(
        period_id=MIDNIGHT_UTC // 86_400,
        day=__import__("datetime").date(2026, 6, 21),
        start=MIDNIGHT_UTC,
        end=MIDNIGHT_UTC + 86_400,
        bought_wh=1_250,  # 1.25 kWh -> 1.3 (halves away from zero)
        sold_wh=350,
        paid_milli=162_500_000,  # 162,500 units for 1,250 Wh: 0.130 €/kWh
        earned_milli=35_000_000,
        change_units=-127_500,  # -0.1275 € -> -0.13 €
        problems=problems,
    )
    return MonthStatement(
        member=member,
        year=2026,
        month=6,
        tariff_file="wallonia-2026.toml",
        days=(day,),
        offtake_wh=9_000,
        injection_wh=2_000,
        bill=Bill(without_units=2_765_000, with_units=2_705_000, network_and_taxes_units=1_640_000),
        peak_wh=1_234,  # x 4 = 4,936 W -> 4.94 kW
        peak_start=MIDNIGHT_UTC + 18 * 3600 + 900,  # 20:15 in Brussels
        neighbours=(
            Neighbour(NEIGHBOUR, Fraction(1_250), Fraction(162_500_000), Fraction(0), Fraction(0)),
        ),
        problems=problems,
        audited_to_block=136,
        profile=tuple(
            QuarterHour(MIDNIGHT_UTC + q * 900, 200 + q, 0, 50 if q == 40 else 0, 0)
            for q in range(96)
        ),
        market=Market(MIDNIGHT_UTC + 40 * 900, ((300, 60_000),), ((500, 200_000),), 130_000, 300),
    )


NAMES = {NEIGHBOUR: "Bruno"}


def test_euros_round_halves_away_from_zero_once_for_every_report() -> None:
    assert euro_cents(65_000) == euro_cents(65_000).quantize(euro_cents(1))
    assert euros(65_000) == "0.07 €"
    assert euros(-65_000) == "-0.07 €"
    assert euros(64_999) == "0.06 €"
    assert euros(1_234_567) == "1.23 €"


@pytest.mark.parametrize(
    ("lang", "amount", "energy", "price"),
    [
        ("fr", "-0,13\u00a0€", "1,3", "0,130"),
        ("nl", "€\u00a0-0,13", "1,3", "0,130"),
        ("en", "-€0.13", "1.3", "0.130"),
    ],
)
def test_numbers_are_formatted_for_the_language(
    lang: str, amount: str, energy: str, price: str
) -> None:
    formats = Formats(lang)
    assert formats.euros(-127_500) == amount
    assert formats.kwh(1_250) == energy
    assert formats.kwh(1_249) == ("1,2" if lang != "en" else "1.2")
    assert formats.price(162_500_000, 1_250) == price
    assert formats.price(0, 0) is None
    assert formats.kw(4_936) == ("4,94" if lang != "en" else "4.94")
    assert formats.hour(MIDNIGHT_UTC) == "02:00"  # Brussels summer time, not UTC
    assert formats.hour(MIDNIGHT_UTC + 200 * 86_400) == "01:00"  # winter time (January)


def _template_keys() -> set[str]:
    keys = set()
    with (HERE / "templates" / "statement.html").open("rb") as handle:
        for _, message, _, _ in extract(jinja2.ext.babel_extract, handle):  # type: ignore[arg-type]
            keys.add(message if isinstance(message, str) else message[0])
    source = (HERE / "render.py").read_text()
    keys.update(key for key in _catalogue_keys("en") if f'"{key}"' in source)
    return keys


def _catalogue_keys(lang: str) -> dict[str, str]:
    path = HERE / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle)
    return {str(m.id): str(m.string) for m in catalog if m.id}


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_every_text_of_the_template_is_in_each_catalogue(lang: str) -> None:
    keys = _template_keys()
    catalogue = _catalogue_keys(lang)
    assert len(keys) > 40
    assert keys <= set(catalogue), sorted(keys - set(catalogue))
    assert all(catalogue[key].strip() for key in keys)
    assert set(catalogue) == set(_catalogue_keys("en")), "catalogues differ in keys"


@pytest.mark.parametrize(
    ("lang", "phrases"),
    [
        (
            "fr",
            [
                "Relevé mensuel — juin 2026",
                "Sans la communauté, vous auriez payé 2,77\u00a0€",
                "Vous devez 0,13\u00a0€ à vos voisins",
                "4,94 kW",
                "dimanche 21 juin 2026, 20:15",
            ],
        ),
        (
            "nl",
            [
                "Maandoverzicht — juni 2026",
                "Zonder de gemeenschap had u €\u00a02,77 betaald",
                "U bent uw buren €\u00a00,13 verschuldigd",
                "4,94 kW",
            ],
        ),
        (
            "en",
            [
                "Monthly statement — June 2026",
                "Without the community you would have paid €2.77",
                "You owe your neighbours €0.13",
                "4.94 kW",
                "Sunday 21 June 2026, 20:15",
                "0.3 kWh changed hands at 0.130 €/kWh",
            ],
        ),
    ],
)
def test_the_page_speaks_the_members_language(lang: str, phrases: list[str]) -> None:
    page = render_html(_statement(), lang, NAMES, MIDNIGHT_UTC + 86_400)
    for phrase in phrases:
        assert phrase in page, phrase
    assert "Chloé" in page
    assert "541448820000000039" in page
    assert "Bruno" in page
    # No key left untranslated, no script, no fetched resource.
    assert not [key for key in _catalogue_keys("en") if "." in key and key in page]
    assert "<script" not in page
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert page.count("<svg") == 4  # flows, days, the day profile, the market


def test_an_audit_problem_is_shown_by_kind_and_period() -> None:
    problem = Problem(Kind.CLEARED_MISMATCH, "interval 3 cleared at 1 unit", 7, None, 99)
    page = render_html(_statement((problem,)), "en", NAMES, MIDNIGHT_UTC)
    assert "The audit found 1 problem(s)" in page
    assert "cleared_mismatch" in page
    assert "1 problem(s)</span>" in page


def test_the_pdf_is_a_pdf_with_the_members_name() -> None:
    document = pdf_of(render_html(_statement(), "fr", NAMES, MIDNIGHT_UTC))
    assert document.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(document)).pages)
    assert "Chloé" in text
    assert "Sans la communauté" in text


def test_bad_language_and_month_are_refused_by_name() -> None:
    with pytest.raises(StatementError, match="--lang must be one of fr, nl, en, got 'de'"):
        translations("de")
    with pytest.raises(StatementError, match="--month must be YYYY-MM, got '2026-13'"):
        parse_month("2026-13")


def test_po_files_are_the_only_catalogues() -> None:
    # The catalogues are compiled in memory: no .mo file is kept beside the .po.
    assert not list((HERE / "locales").rglob("*.mo"))
