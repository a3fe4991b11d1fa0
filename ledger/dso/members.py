"""The part of community.toml the operator's data needs: members' names and EANs, and the
allocation keys (`[[sharing]]`), read without the rest of the file's checks.

`quartier dso import` and `check-keys` need no address, meter key or rule: reading the file
through `ledger.community_config.model` would import web3 for its address checks, about 2 s
of CPU per command here (more than importing a 100-member month). The members' names and
EANs (GS1 check digit included) and the keys are checked as `load_config` checks them; a
refusal names the file, the line and the key the same way. `reconcile --community` needs
addresses and reads the whole file with `load_config`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from ledger.community_config.ean import ean_problem
from ledger.community_config.locate import dotted, line_of
from ledger.community_config.sharing import SharingEntry, sharing_problem
from ledger.dso.errors import KeyConfigError
from ledger.dso.keys import AllocationKey


@dataclass(frozen=True)
class CommunityMembers:
    """Members (community order) and the allocation keys over them."""

    names: tuple[str, ...]
    eans: tuple[str, ...]
    sharing: tuple[SharingEntry, ...]

    def keys(self) -> list[AllocationKey]:
        return [entry.key(list(self.names)) for entry in self.sharing]

    def name_of(self) -> dict[str, str]:
        """EAN -> member name."""
        return dict(zip(self.eans, self.names, strict=True))


def _refusal(text: str, source: str, location: tuple[str | int, ...], why: str) -> KeyConfigError:
    line = line_of(text, location)
    where = f"{source}:{line}" if line is not None else source
    return KeyConfigError(f"{where}: {dotted(location)}: {why}")


def load_members(path: Path) -> CommunityMembers:
    """Read `path`'s members and keys; KeyConfigError (exit 2) names what is wrong."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise KeyConfigError(f"{source}: cannot read the community file ({error})") from None
    members = raw.get("members", [])
    if not isinstance(members, list):
        raise _refusal(text, source, ("members",), "an array of tables [[members]]")
    names: list[str] = []
    eans: list[str] = []
    for index, member in enumerate(members):
        name, ean = (
            member.get(key) if isinstance(member, dict) else None for key in ("name", "ean")
        )
        if not isinstance(name, str) or not name:
            raise _refusal(text, source, ("members", index, "name"), "a member needs a name")
        if not isinstance(ean, str) or (problem := ean_problem(ean)) is not None:
            why = "a member needs an EAN" if not isinstance(ean, str) else str(problem)
            raise _refusal(text, source, ("members", index, "ean"), why)
        for key, seen, value in (("name", names, name), ("ean", eans, ean)):
            if value in seen:
                raise _refusal(
                    text, source, ("members", index, key),
                    f"duplicated {key}: members[{seen.index(value)}] has it already",
                )  # fmt: skip
        names.append(name)
        eans.append(ean)
    entries: list[SharingEntry] = []
    for index, entry in enumerate(raw.get("sharing", [])):
        try:
            entries.append(SharingEntry.model_validate(entry))
        except ValidationError as error:
            first = error.errors()[0]
            why = str(first["msg"]).removeprefix("Value error, ")
            raise _refusal(text, source, ("sharing", index, *first["loc"]), why) from None
    overlap = sharing_problem(entries, set(names))
    if overlap is not None:
        at, key, why = overlap
        raise _refusal(text, source, ("sharing", at, key), why)
    return CommunityMembers(tuple(names), tuple(eans), tuple(entries))
