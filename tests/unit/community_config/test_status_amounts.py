"""How `community status` and `household statement` show amounts to people."""

from __future__ import annotations

import pytest

from ledger.display import euros


@pytest.mark.parametrize(
    ("units", "shown"),
    [
        (65_000, "0.07 €"),  # a half cent rounds away from zero, not to even
        (-65_000, "-0.07 €"),
        (64_999, "0.06 €"),
        (1_234_567, "1.23 €"),
        (0, "0.00 €"),
    ],
)
def test_euros_to_the_cent_with_halves_away_from_zero(units: int, shown: str) -> None:
    assert euros(units, 6) == shown
