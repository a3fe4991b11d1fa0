"""GS1 check digits of EAN codes (a Belgian connection point's EAN is 18 digits, "54...")."""

from __future__ import annotations


def gs1_check_digit(body: str) -> int:
    """The GS1 check digit of the digits `body` (every digit but the last).

    Weights 3 and 1 alternate from the rightmost digit of the body; the check digit brings
    the weighted sum to a multiple of 10.
    """
    total = sum(
        int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body))
    )
    return (10 - total % 10) % 10


def ean_problem(ean: str, length: int = 18) -> str | None:
    """Why `ean` is not a valid EAN of `length` digits, or None when it is."""
    if len(ean) != length or not ean.isascii() or not ean.isdigit():
        return f"an EAN is {length} digits, got {ean!r}"
    expected = gs1_check_digit(ean[:-1])
    if int(ean[-1]) != expected:
        return f"EAN {ean} has check digit {ean[-1]}, GS1 gives {expected}"
    return None
