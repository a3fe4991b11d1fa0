"""`--report FILE.html`: the demo's day for people, one self-contained page (see
`api.demo.report_page`), and the formats the demo's table shares with it: euros with two
decimals (`ledger.display.euros`, halves away from zero), kWh with one, prices per kWh to a
tenth of a cent.

The page's module (Altair, vl-convert, the fleet's flows) is imported only when a report is
written: `quartier demo` without --report does not pay for it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

from api.demo.errors import DemoError
from api.demo.summary import Summary
from ledger.display import TOKEN_DECIMALS, euros

__all__ = ["euros", "kwh", "price", "write_report"]


def price(units_per_kwh: int) -> str:
    """A price per kWh in euros to a tenth of a cent (0.125 €/kWh), halves away from zero."""
    value = Decimal(units_per_kwh).scaleb(-TOKEN_DECIMALS)
    return f"{value.quantize(Decimal('0.001'), rounding=ROUND_HALF_UP)} €/kWh"


def kwh(energy_wh: int | Fraction) -> str:
    """Wh as kWh with one decimal, halves away from zero, for people."""
    exact = Fraction(energy_wh) / 1000
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    return str(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def write_report(summary: Summary, path: Path, title: str) -> None:
    """Write the report to `path` (DemoError when it cannot be written)."""
    from api.demo.report_page import render

    page = render(summary, title)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as error:
        raise DemoError(f"cannot write the report {path}: {error.strerror}") from None
