"""Dependencies of the routers: collaborators enter here, so tests swap them by override.

Everything is taken from `app.state`, filled by `create_app` (no engine, settings or chain
connection at import time).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from api.readings.meters import MeterDirectory
from api.relayer.context import V2Chain
from api.settings import Settings

#: Returns the current unix time in whole seconds.
Clock = Callable[[], int]


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """One DB session per request."""
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        yield session


def get_chain(request: Request) -> V2Chain:
    """The (lazily connected) view of QuartierCommunity and QuartierExchange."""
    chain: V2Chain = request.app.state.v2_chain
    return chain


def get_meters(request: Request) -> MeterDirectory:
    """The cached meter directory."""
    meters: MeterDirectory = request.app.state.meters
    return meters


def get_clock(request: Request) -> Clock:
    """The wall clock (tests move time by overriding this)."""
    clock: Clock = request.app.state.clock
    return clock


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ChainDep = Annotated[V2Chain, Depends(get_chain)]
MetersDep = Annotated[MeterDirectory, Depends(get_meters)]
ClockDep = Annotated[Clock, Depends(get_clock)]
