"""Path and query parameter types shared by the routers: malformed values are a 422
validation problem before any handler runs (never a ValueError deep in a service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

#: An Ethereum address as text (any case; handlers checksum it).
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"

AddressPath = Annotated[
    str, Path(pattern=ADDRESS_PATTERN, description="0x followed by 40 hex digits")
]
