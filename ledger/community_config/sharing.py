"""`[[sharing]]` in community.toml: the community's CWaPE allocation keys (ledger.dso.keys).

    [[sharing]]
    valid_from = 2027-01-01          # Brussels dates, both included
    valid_until = 2027-12-31         # optional: no end
    cascade = ["fixed", "pro-rata"]  # 1 to 3 iterations: equal | fixed | pro-rata
    shares = { Alice = "40", Bruno = "35.5", "Chloé" = "24.5" }  # % per member (fixed only)

A percentage is an integer or a decimal string with at most 2 decimals (TOML floats are
refused: 35.5 as a binary float is not 35.5); the shares of a fixed key name members of the
file and add up to exactly 100. Keys' validities do not overlap.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from ledger.dso.keys import FULL_SHARE_BP, AllocationKey, KeyRule

_PERCENT = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?")


def percent_bp(value: int | str) -> int:
    """'35.5' -> 3550 basis points; ValueError for anything else than 0-100 with 2 decimals."""
    if isinstance(value, int):
        if not 0 <= value <= 100:
            raise ValueError(f"a share is 0 to 100 %, got {value}")
        return value * 100
    match = _PERCENT.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"a share is a percentage with at most 2 decimals, got {value!r}")
    bp = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if bp > FULL_SHARE_BP:
        raise ValueError(f"a share is 0 to 100 %, got {value}")
    return bp


class SharingEntry(BaseModel):
    """One allocation key and its validity."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valid_from: date
    valid_until: date | None = None
    cascade: Annotated[
        list[Literal["equal", "fixed", "pro-rata"]], Field(min_length=1, max_length=3)
    ]
    shares: dict[str, StrictInt | StrictStr] | None = None

    @field_validator("shares", mode="before")
    @classmethod
    def _no_floats(cls, value: object) -> object:
        if isinstance(value, dict):
            for name, share in value.items():
                if isinstance(share, float):
                    raise ValueError(
                        f'{name}: write {share} as "{share:g}" (a TOML float is binary, a share'
                        " is exact)"
                    )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SharingEntry:
        if self.valid_until is not None and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        fixed = "fixed" in self.cascade
        if fixed and not self.shares:
            raise ValueError("a fixed key needs shares (a percentage per member)")
        if not fixed and self.shares:
            raise ValueError("shares are for a fixed key only")
        if self.shares:
            total = sum(percent_bp(value) for value in self.shares.values())
            if total != FULL_SHARE_BP:
                raise ValueError(f"the shares add up to {total / 100:g} %, not 100 %")
        return self

    def key(self, member_names: list[str]) -> AllocationKey:
        """The key over the members in the file's order (a member without a share: 0 %)."""
        shares = self.shares or {}
        return AllocationKey(
            self.valid_from,
            self.valid_until,
            tuple(KeyRule(rule) for rule in self.cascade),
            tuple(percent_bp(shares[name]) if name in shares else 0 for name in member_names)
            if shares
            else (),
        )


def sharing_problem(
    entries: list[SharingEntry], member_names: set[str]
) -> tuple[int, str, str] | None:
    """(index, key, why) of the first entry that names an unknown member or overlaps an
    earlier one's validity; None when the keys are sound together."""
    for index, entry in enumerate(entries):
        for name in entry.shares or {}:
            if name not in member_names:
                return index, "shares", f"no member is named {name!r}"
        for earlier, other in enumerate(entries[:index]):
            ends = other.valid_until or date.max
            entry_ends = entry.valid_until or date.max
            if entry.valid_from <= ends and other.valid_from <= entry_ends:
                return index, "valid_from", f"overlaps the validity of sharing[{earlier}]"
    return None
