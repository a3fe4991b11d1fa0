"""Amounts for people: one rounding of money for every report (status, statements, the demo).

Token base units become euros to the cent with halves away from zero (0.065 € is 0.07 €, as
a bill rounds it; `format`'s and Babel's default, halves to even, would show 0.06 €). The
JSON of every command keeps the integer units; only text goes through here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

#: Decimals of the community's token (QuartierToken: 1 EUR = 1,000,000 units).
TOKEN_DECIMALS = 6

_CENT = Decimal("0.01")


def euro_cents(units: int, decimals: int = TOKEN_DECIMALS) -> Decimal:
    """`units` as euros rounded to the cent, halves away from zero (a Decimal: locale
    formatters print it without rounding it again)."""
    return Decimal(units).scaleb(-decimals).quantize(_CENT, rounding=ROUND_HALF_UP)


def euros(units: int, decimals: int = TOKEN_DECIMALS) -> str:
    """`units` as "12.66 €" (see `euro_cents`)."""
    return f"{euro_cents(units, decimals)} €"
