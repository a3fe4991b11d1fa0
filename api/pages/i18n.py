"""Languages of the pages: French by default, Dutch and English; message catalogues and
locale-aware formats (Babel), one Jinja2 environment per language.

The catalogues are gettext `.po` files under `locales/<lang>/LC_MESSAGES/messages.po`,
compiled in memory at first use (no binary `.mo` in the repository). The language is
`?lang=` when it names one of ours, else the best of the browser's `Accept-Language`, else
French.
"""

from __future__ import annotations

import functools
import io
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

LANGUAGES = ("fr", "nl", "en")
DEFAULT_LANGUAGE = "fr"
HERE = Path(__file__).parent
LOCALES = HERE / "locales"
TEMPLATES = HERE / "templates"
BRUSSELS = ZoneInfo("Europe/Brussels")


def choose_language(query: str | None, accept_language: str | None) -> str:
    """`?lang=` if ours, else the browser's preference (q-values honoured), else French."""
    if query in LANGUAGES:
        return query
    preferred: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, parameters = part.strip().partition(";")
        quality = 1.0
        if parameters.strip().startswith("q="):
            try:
                quality = float(parameters.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            preferred.append((-quality, position, tag.replace("-", "_")))
    wanted = [tag for _, _, tag in sorted(preferred)]
    # Babel matches "nl_BE" to "nl" and "en-GB" to "en" (aliases), in preference order.
    found = negotiate_locale(wanted, list(LANGUAGES)) or next(
        (lang for tag in wanted for lang in LANGUAGES if tag.lower().startswith(lang)), None
    )
    return found if found in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def translations(language: str) -> Translations:
    """The compiled catalogue of `language`."""
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalog = read_po(source, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


class Formats:
    """Numbers, money and times for people in one language (kWh, € to the cent, Brussels)."""

    def __init__(self, language: str, token_decimals: int = 6) -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self.token_decimals = token_decimals

    def kwh(self, wh: int) -> str:
        """Wh as kWh with three decimals ("1,234 kWh" in French)."""
        value = Decimal(wh) / 1000
        return format_decimal(value, format="#,##0.000", locale=self.locale) + "\u00a0kWh"

    def euros(self, units: int) -> str:
        """Token units as euros to the cent, halves away from zero."""
        value = (Decimal(units) / Decimal(10) ** self.token_decimals).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        return format_currency(value, "EUR", locale=self.locale, decimal_quantization=False)

    def euros_milli(self, milli_units: int) -> str:
        """Milli token units (the settlement's exact money) as euros to the cent."""
        value = (Decimal(milli_units) / 1000 / Decimal(10) ** self.token_decimals).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        return format_currency(value, "EUR", locale=self.locale, decimal_quantization=False)

    def price(self, per_kwh_units: int) -> str:
        """A price in token units per kWh as euros per kWh (three decimals: cents matter)."""
        value = (Decimal(per_kwh_units) / Decimal(10) ** self.token_decimals).quantize(
            Decimal("0.001"), rounding=ROUND_HALF_UP
        )
        return (
            format_currency(
                value, "EUR", format="#,##0.000\u00a0¤", locale=self.locale, currency_digits=False
            )
            + "/kWh"
        )

    def percent(self, share: str) -> str:
        """A share ("0.3421") as a percentage with one decimal ("34,2 %")."""
        return format_percent(Decimal(share), format="#,##0.0 %", locale=self.locale)

    def decimal_price(self, per_kwh_units: int) -> str:
        """A price for a form field: euros per kWh, the language's decimal sign, no unit."""
        value = Decimal(per_kwh_units) / Decimal(10) ** self.token_decimals
        return format_decimal(value, format="0.00#", locale=self.locale)

    def hour(self, hour: int) -> str:
        """An hour of the day, HH:00."""
        return format_time(datetime(2026, 1, 1, hour), "HH:mm", locale=self.locale)

    def time(self, unix_seconds: int) -> str:
        """Brussels local time of day, HH:MM."""
        moment = datetime.fromtimestamp(unix_seconds, BRUSSELS)
        return format_time(moment, "HH:mm", tzinfo=BRUSSELS, locale=self.locale)

    def day(self, unix_seconds: int) -> str:
        """The Brussels date, written out ("21 juin 2026")."""
        return format_date(
            datetime.fromtimestamp(unix_seconds, BRUSSELS), "long", locale=self.locale
        )

    def month(self, year: int, month: int) -> str:
        """A month and its year ("juin 2026")."""
        return format_date(datetime(year, month, 1), "LLLL y", locale=self.locale)


@functools.cache
def environment(language: str) -> Environment:
    """The templates with `language`'s catalogue installed (gettext `_` in templates)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env
