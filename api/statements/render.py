"""The statement as HTML (Jinja2, text from the Babel catalogues) and as PDF (WeasyPrint).

Every word comes from `locales/<lang>/LC_MESSAGES/messages.po`, whose msgids are keys: the
templates hold none. Catalogues are read from the .po files at run time (Babel parses them
and compiles them in memory), so there is no build step and no binary .mo to keep in step.
Numbers are formatted for the locale by Babel after one rounding of our own: euros to the
cent by `ledger.display.euro_cents` (halves away from zero), kWh to a tenth, prices to a
tenth of a cent, all halves away from zero (Babel's own rounding is halves to even).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from api.statements.errors import StatementError
from api.statements.month import LOCAL_ZONE, MonthStatement
from ledger.charts import (
    PALETTE,
    Series,
    Step,
    bar_chart,
    line_chart,
    report_css,
    share_bars,
    supply_demand_chart,
)
from ledger.display import euro_cents

HERE = Path(__file__).parent
#: --lang -> Babel locale (Belgian French and Dutch; British English for en).
LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}


@cache
def translations(lang: str) -> Translations:
    """The catalogue of `lang`, compiled in memory from its .po file."""
    if lang not in LOCALES:
        raise StatementError(f"--lang must be one of {', '.join(LOCALES)}, got {lang!r}")
    path = HERE / "locales" / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=LOCALES[lang])
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def _round(value: Fraction | int, places: str) -> Decimal:
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator)
        if isinstance(value, Fraction)
        else Decimal(value)
    )
    return exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)


#: The typographic minus of the statement's signed figures.
MINUS = "\u2212"


def _signed(value: int, text: str) -> str:
    return f"+{text}" if value > 0 else f"{MINUS}{text}" if value < 0 else text


class Formats:
    """Locale-aware formatting of one statement's numbers and times."""

    def __init__(self, lang: str) -> None:
        self.locale = LOCALES[lang]

    def euros(self, units: int) -> str:
        return str(format_currency(euro_cents(units), "EUR", locale=self.locale))

    def euros_milli(self, milli: Fraction | int) -> str:
        # milli-units (Wh x units per kWh / 1000 = units): to whole units, then to the cent.
        units = _round(Fraction(milli) / 1000, "1")
        return self.euros(int(units))

    def kwh(self, wh: Fraction | int) -> str:
        return str(
            format_decimal(_round(Fraction(wh) / 1000, "0.1"), format="#,##0.0", locale=self.locale)
        )

    def kwh_signed(self, wh: int) -> str:
        """A correction's energy, signed and to the Wh (often below the tenth of a kWh)."""
        text = format_decimal(
            _round(Fraction(abs(wh)) / 1000, "0.001"), format="#,##0.000", locale=self.locale
        )
        return _signed(wh, str(text))

    def euros_signed(self, units: int) -> str:
        return _signed(units, self.euros(abs(units)))

    def kw(self, w: int) -> str:
        return str(
            format_decimal(_round(Fraction(w, 1000), "0.01"), format="#,##0.00", locale=self.locale)
        )

    def price(self, milli: int, wh: int) -> str | None:
        # €/kWh = (milli-units / Wh) units per kWh / 10^6.
        if not wh:
            return None
        per_kwh = Fraction(milli, wh) / 1_000_000
        return str(format_decimal(_round(per_kwh, "0.001"), format="0.000", locale=self.locale))

    def local(self, unix_seconds: int) -> datetime:
        return datetime.fromtimestamp(unix_seconds, tz=UTC).astimezone(LOCAL_ZONE)

    def day(self, unix_seconds: int) -> str:
        return str(format_date(self.local(unix_seconds), format="EEE d MMM", locale=self.locale))

    def hour(self, unix_seconds: int) -> str:
        return str(format_datetime(self.local(unix_seconds), format="HH:mm", locale=self.locale))

    def moment(self, unix_seconds: int) -> str:
        return str(
            format_datetime(
                self.local(unix_seconds), format="EEEE d MMMM y, HH:mm", locale=self.locale
            )
        )

    def month(self, year: int, month: int) -> str:
        return str(format_date(datetime(year, month, 1), format="LLLL y", locale=self.locale))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    return env


def _charts(statement: MonthStatement, formats: Formats, gettext: Any) -> dict[str, str]:
    labels = [formats.day(day.start) for day in statement.days]
    daily = bar_chart(
        gettext("days.chart"),
        "kWh",
        labels,
        [
            Series(
                gettext("chart.bought"),
                PALETTE["bought"],
                [d.bought_wh / 1000 for d in statement.days],
            ),
            Series(
                gettext("chart.sold"), PALETTE["sold"], [d.sold_wh / 1000 for d in statement.days]
            ),
        ],
        x_title=gettext("chart.day"),
    )
    bought, sold = statement.bought_wh, statement.sold_wh
    flows = share_bars(
        gettext("flows.chart"),
        "kWh",
        [gettext("flows.offtake"), gettext("flows.injection")],
        [
            Series(
                gettext("flows.neighbours"), PALETTE["neighbours"], [bought / 1000, sold / 1000]
            ),
            Series(
                gettext("flows.supplier"),
                PALETTE["grid"],
                [(statement.offtake_wh - bought) / 1000, (statement.injection_wh - sold) / 1000],
            ),
        ],
    )
    charts = {"daily": daily, "flows": flows, "profile": "", "market": ""}
    rows = statement.profile
    if rows:
        charts["profile"] = line_chart(
            gettext("profile.chart"),
            "kWh",
            [formats.hour(row.start) for row in rows],
            [
                Series(
                    gettext("flows.offtake"), PALETTE["grid"], [r.offtake_wh / 1000 for r in rows]
                ),
                Series(
                    gettext("flows.injection"), PALETTE["pv"], [r.injection_wh / 1000 for r in rows]
                ),
                Series(
                    gettext("chart.bought"), PALETTE["bought"], [r.bought_wh / 1000 for r in rows]
                ),
                Series(
                    gettext("chart.sold"), PALETTE["neighbours"], [r.sold_wh / 1000 for r in rows]
                ),
            ],
        )
    market = statement.market
    if market is not None:
        charts["market"] = supply_demand_chart(
            gettext("market.chart"),
            gettext("chart.cumulative"),
            "€/kWh",
            [Step(e / 1000, p / 1_000_000) for e, p in market.asks],
            [Step(e / 1000, p / 1_000_000) for e, p in market.bids],
            (gettext("chart.asks"), gettext("chart.bids"), gettext("chart.cleared")),
            (market.traded_wh / 1000, market.price_per_kwh / 1_000_000),
        )
    return charts


def render_html(statement: MonthStatement, lang: str, names: dict[str, str], made_at: int) -> str:
    """The statement page in `lang` ("fr", "nl", "en"); `names`: lower-case address -> name
    of every member the community file names (neighbours are shown by name)."""
    catalogue = translations(lang)
    formats = Formats(lang)
    env = _environment()
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    template = env.get_template("statement.html")

    def name_of(address: str) -> str:
        return names.get(address.lower()) or f"{address[:6]}…{address[-4:]}"

    return template.render(
        lang=lang,
        s=statement,
        f=formats,
        name_of=name_of,
        charts=_charts(statement, formats, catalogue.gettext),
        css=report_css(),
        made_at=made_at,
    )


def pdf_of(html: str) -> bytes:
    """The same page as a PDF (WeasyPrint; the charts are inline SVG, nothing is fetched)."""
    import weasyprint  # its import takes a second: only when a PDF is asked for

    document = weasyprint.HTML(string=html, base_url=str(HERE)).write_pdf()
    if document is None:
        raise StatementError("WeasyPrint made no PDF")
    return bytes(document)
