"""The pages: the household's (`/`), the community's (`/community`) and its open data.

A household signs in from the page: its wallet (EIP-1193) personal_signs the one-time
message of POST /auth/challenge, POST /pages/session trades it for the same short-lived
token as POST /auth/token, set as an HttpOnly, SameSite=Strict cookie; no key ever reaches
the server. Pages are rendered on the server; the only script is the sign-in.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.auth import check_token
from api.deps import ChainDep, ClockDep, SessionDep, SettingsDep
from api.errors import (
    ApiError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    ValidationFailedError,
)
from api.households import service
from api.households.models import HouseholdRow
from api.pages import (
    days,
    manager,
    open_data,
    plan,
    production,
    reconciliation,
    savings,
    statement,
)
from api.pages.i18n import Formats, choose_language, environment, translations
from api.pages.replay import SettledPeriods
from api.relayer.context import V2Chain
from api.statements.month import parse_month
from ledger.errors import LedgerError
from ledger.schedules import schedule_body, schedule_typed_data

router = APIRouter(include_in_schema=False)
vendor_router = APIRouter(include_in_schema=False)

#: The wallet library, as npm installed it (package-lock.json pins it; MIT, LICENSE.md).
ETHERS = Path(__file__).resolve().parents[2] / "node_modules" / "ethers"
VENDORED = {
    "ethers.umd.min.js": (ETHERS / "dist" / "ethers.umd.min.js", "text/javascript"),
    "ethers-LICENSE.md": (ETHERS / "LICENSE.md", "text/plain; charset=utf-8"),
}

COOKIE = "quartier_session"
#: Scripts, styles and images from this origin only; no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

LangQuery = Annotated[str | None, Query(alias="lang")]
DayQuery = Annotated[date | None, Query(alias="day")]


def settled_periods(request: Request) -> SettledPeriods:
    """The app's cache of replayed settled periods (made at first use)."""
    periods: SettledPeriods | None = getattr(request.app.state, "settled_periods", None)
    if periods is None:
        periods = SettledPeriods()
        request.app.state.settled_periods = periods
    return periods


def _render(language: str, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment(language).get_template(template).render(lang=language, **context)
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Content-Language": language}
    return HTMLResponse(html, status_code=status, headers=headers)


def _signed_in(request: Request, secret: bytes, now: int) -> tuple[str | None, str | None]:
    """(household, None) for a valid session cookie, else (None, why: expired/invalid/None)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return None, None
    try:
        return check_token(secret, token, now), None
    except AuthenticationError as error:
        return None, "expired" if error.slug == "token-expired" else "invalid"


def _name(session: Session, household: str) -> str | None:
    row = session.get(HouseholdRow, household)
    return None if row is None else row.name


@router.get("/", response_class=HTMLResponse)
def household_page(
    request: Request,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    clock: ClockDep,
    lang: LangQuery = None,
    day: DayQuery = None,
) -> HTMLResponse:
    """The household's page: sign-in, then its day and month."""
    language = choose_language(lang, request.headers.get("accept-language"))
    household, session_problem = _signed_in(request, settings.auth_secret, clock())
    chosen = day or days.brussels_day(clock())
    context: dict[str, Any] = {
        "session_problem": session_problem,
        "day": chosen,
        "day_start": days.day_bounds(chosen)[0],
    }
    if household is None:
        response = _render(language, "household.html", household=None, **context)
        if session_problem:
            response.delete_cookie(COOKIE, path="/")
        return response
    formats = Formats(language)
    try:
        start, end = days.day_bounds(chosen)
        periods = settled_periods(request)
        settled = days.household_quarters(periods, chain, household, start, end)
        live = days.live_quarters(
            session, chain.grid, household, start, end, {q.interval_id for q in settled}
        )
        quarters = sorted([*settled, *live], key=lambda q: q.interval_id)
        month = days.household_month(periods, chain, household, chosen)
        month_start, _ = days.day_bounds(days.month_days(chosen)[0])
        _, month_end = days.day_bounds(days.month_days(chosen)[-1])
        month_quarters = days.household_quarters(periods, chain, household, month_start, month_end)
        saved = savings.savings(
            settings.community_file, household, chain.grid, chosen, settled, month_quarters
        )
        escrow = chain.exchange.escrow_of(household)
    except LedgerError:
        return _render(
            language, "household.html", status=503, household=household, node_down=True, **context
        )
    own = production.OwnProduction.of(settings.production_file, settings.community_file, household)
    grid = chain.grid
    plan_bands, plan_shown = plan.household_bands(service.own_schedules(session, household), grid)

    def own_pv(found: list[Any]) -> int | None:
        return own.total(grid.interval_start(q.interval_id) for q in found)

    by_day: dict[date, list[Any]] = {}
    for quarter in month_quarters:
        by_day.setdefault(days.brussels_day(grid.interval_start(quarter.interval_id)), []).append(
            quarter
        )
    return _render(
        language,
        "household.html",
        household=household,
        name=_name(session, household),
        production=own,
        day_pv=own_pv(settled),
        month_totals=days.totals(chosen, month_quarters),
        month_pv=own_pv(month_quarters),
        month_day_pv={d.day: own_pv(by_day.get(d.day, [])) for d in month},
        f=formats,
        grid=chain.grid,
        quarters=[q for q in quarters if q.import_wh or q.export_wh or q.side != "none"],
        day_totals=days.totals(chosen, settled),
        live=bool(live),
        month=month,
        saved=saved,
        day_starts={d.day: days.day_bounds(d.day)[0] for d in month},
        escrow=escrow,
        token_address=chain.deployment.address("QuartierToken"),
        exchange_address=chain.deployment.address("QuartierExchange"),
        plan_bands=plan_bands,
        plan_shown=plan_shown,
        hours=[(hour, formats.hour(hour % 24) if hour < 24 else "24:00") for hour in range(25)],
        node_down=False,
        **context,
    )


@router.get("/manager", response_class=HTMLResponse)
def manager_page(
    request: Request,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    clock: ClockDep,
    lang: LangQuery = None,
) -> HTMLResponse:
    """The manager's page (the community manager's wallet signs in as a household does)."""
    language = choose_language(lang, request.headers.get("accept-language"))
    signed_in, session_problem = _signed_in(request, settings.auth_secret, clock())
    context: dict[str, Any] = {"session_problem": session_problem, "day": None}
    if signed_in is None:
        return _render(language, "manager.html", signed_in=None, **context)
    try:
        is_manager = signed_in == chain.manager_address()
        if not is_manager:
            return _render(
                language, "manager.html", 403, signed_in=signed_in, is_manager=False, **context
            )
        community = manager.status(chain, session)
        audit = _latest_audit(request).report(chain)
    except (LedgerError, ApiError):
        return _render(
            language,
            "manager.html",
            503,
            signed_in=signed_in,
            is_manager=True,
            node_down=True,
            **context,
        )
    _ = translations(language).gettext
    return _render(
        language,
        "manager.html",
        signed_in=signed_in,
        is_manager=True,
        node_down=False,
        community=community,
        audit=audit,
        audit_settled=sum(1 for period in audit.periods if period.settled),
        problem_family=manager.family,
        families={
            "rules": _("Rules"),
            "registry": _("Members and meters"),
            "calldata": _("Unreadable transaction"),
            "posting": _("Offers"),
            "batch": _("Meter data"),
            "settlement": _("Settlement"),
            "escrow": _("Escrow"),
            "token": _("Token"),
            "other": _("Other"),
        },
        reconciliation=reconciliation.latest(settings.dso_reconcile_dir),
        shown_differences=reconciliation.SHOWN_DIFFERENCES,
        causes={
            "missing signed readings": _(
                "no signed meter data for this quarter-hour: the meter's batch is missing"
            ),
            "meter replaced": _("a meter was replaced that day"),
            "estimated value": _(
                "the day's total agrees: the operator spread an estimate over the quarter-hours"
            ),
            "unexplained": _("unexplained: ask the grid operator"),
        },
        directions={"offtake": _("offtake"), "injection": _("injection")},
        mechanisms={
            "pay-as-clear": _("one clearing price per quarter-hour"),
            "pay-as-bid": _("each buyer pays its bid"),
            "community-price": _("the community's fixed price"),
        },
        f=Formats(language),
        **context,
    )


def _latest_audit(request: Request) -> manager.LatestAudit:
    audit: manager.LatestAudit | None = getattr(request.app.state, "latest_audit", None)
    if audit is None:
        audit = manager.LatestAudit()
        request.app.state.latest_audit = audit
    return audit


class SessionIn(BaseModel):
    """The signed sign-in message: the nonce of POST /auth/challenge and the signature."""

    model_config = ConfigDict(extra="forbid")
    nonce: str
    signature: str


@router.post("/pages/session", status_code=204)
def open_session(
    request: Request, body: SessionIn, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Response:
    """Trade the signed sign-in message for the session cookie (HttpOnly, SameSite=Strict)."""
    token, expires_at = service.token(session, settings, body.nonce, body.signature, clock())
    response = Response(status_code=204)
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(1, expires_at - clock()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


class BandIn(BaseModel):
    """One time band of the plan as typed in the page (Brussels hours, Wh per quarter-hour,
    euros per kWh)."""

    model_config = ConfigDict(extra="forbid")
    from_hour: int = Field(ge=0, le=23)
    to_hour: int = Field(ge=0, le=24)
    side: plan.Side
    energy_wh: int = Field(ge=0, le=2**24 - 1)
    limit_eur_per_kwh: str = Field(max_length=20)


class PlanIn(BaseModel):
    """The standing plan as typed in the page: its time bands."""

    model_config = ConfigDict(extra="forbid")
    bands: list[BandIn] = Field(min_length=1, max_length=plan.MAX_BANDS)


@router.post("/pages/plan")
def plan_to_sign(
    request: Request,
    body: PlanIn,
    session: SessionDep,
    chain: ChainDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> dict[str, Any]:
    """The signed-in household's plan as the next period's Schedule: the EIP-712 typed data
    for its wallet and the /schedules body to send with the signature."""
    household, problem = _signed_in(request, settings.auth_secret, clock())
    if household is None:
        raise AuthenticationError(
            "sign in first" if problem is None else f"session {problem}: sign in again",
            "token-expired" if problem == "expired" else "token-required",
        )
    bands = [
        plan.Band(
            band.from_hour,
            band.to_hour,
            band.side,
            band.energy_wh,
            plan.price_units(band.limit_eur_per_kwh, f"bands[{number}].limit_eur_per_kwh"),
        )
        for number, band in enumerate(body.bands)
    ]
    plan.band_of_hours(bands)  # overlapping bands: refused before the chain is asked
    grid = chain.grid
    now = chain.now(clock())
    period_id = grid.period_at(now) + 1
    versions = [
        row.version
        for row in service.own_schedules(session, household)
        if row.period_id == period_id
    ]
    try:
        schedule = plan.next_schedule(
            bands, household, max(versions, default=0) + 1, grid, chain.rules(period_id), now
        )
    except LedgerError as error:
        raise ValidationFailedError(str(error), "invalid-plan") from error
    domain = chain.domain
    return {
        "typed_data": schedule_typed_data(schedule, domain.chain_id, domain.exchange_address),
        "schedule": schedule_body(schedule),
        "lock_units": schedule.lock_units,
    }


MemberQuery = Annotated[str | None, Query(alias="member", max_length=42)]


@router.get("/pages/statement/{month}.{kind}")
def month_statement_download(
    request: Request,
    month: str,
    kind: str,
    chain: ChainDep,
    settings: SettingsDep,
    clock: ClockDep,
    lang: LangQuery = None,
    member: MemberQuery = None,
) -> Response:
    """The signed-in household's statement of `month` (YYYY-MM) as `html` or `pdf`, in the
    page's language; `member` naming another household is refused (403)."""
    household, problem = _signed_in(request, settings.auth_secret, clock())
    if household is None:
        raise AuthenticationError(
            "sign in first" if problem is None else f"session {problem}: sign in again",
            "token-expired" if problem == "expired" else "token-required",
        )
    if member is not None and member.lower() != household.lower():
        raise ForbiddenError("a household downloads its own statement only", "not-yours")
    if kind not in ("html", "pdf"):
        raise NotFoundError(f"no statement as {kind!r}: html or pdf", "unknown-format")
    language = choose_language(lang, request.headers.get("accept-language"))
    year, month_number = parse_month(month)
    try:
        page = statement.statement_html(
            chain, settings.community_file, household, year, month_number, language
        )
    except LedgerError as error:
        raise _NodeDownError(str(error)) from error
    filename = f"quartier-{year:04d}-{month_number:02d}.{kind}"
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }
    if kind == "pdf":
        return Response(
            statement.statement_pdf(page), media_type="application/pdf", headers=headers
        )
    return HTMLResponse(page, headers=headers)


@router.post("/pages/session/end", status_code=204)
def close_session() -> Response:
    """Sign out: the cookie is removed."""
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


def _settled(request: Request, chain: V2Chain) -> list[Any]:
    periods = settled_periods(request)
    found = [periods.get(chain, period_id) for period_id in periods.settled_ids(chain)]
    return [period for period in found if period is not None]


@router.get("/community", response_class=HTMLResponse)
def community_page(
    request: Request, chain: ChainDep, lang: LangQuery = None, day: DayQuery = None
) -> HTMLResponse:
    """The community's public page: anonymised quarter-hours of a day and its months."""
    language = choose_language(lang, request.headers.get("accept-language"))
    try:
        quarters = open_data.open_quarters(chain.grid, _settled(request, chain))
    except LedgerError:
        return _render(language, "community.html", status=503, node_down=True)
    shown_day = day or (
        date.fromisoformat(quarters[-1].start_utc[:10]) if quarters else days.brussels_day(0)
    )
    start, end = days.day_bounds(shown_day)
    grid = chain.grid
    in_day = [(q, at) for q, at in _with_start(quarters) if start <= at < end]
    return _render(
        language,
        "community.html",
        node_down=False,
        f=Formats(language),
        day=shown_day,
        day_start=start,
        quarters=in_day,
        months=open_data.open_months(quarters),
        min_households=open_data.MIN_HOUSEHOLDS,
        grid=grid,
    )


def _with_start(quarters: list[open_data.OpenQuarter]) -> list[tuple[open_data.OpenQuarter, int]]:
    return [
        (q, int(datetime.fromisoformat(q.start_utc.replace("Z", "+00:00")).timestamp()))
        for q in quarters
    ]


def _open(request: Request, chain: V2Chain) -> list[open_data.OpenQuarter]:
    try:
        return open_data.open_quarters(chain.grid, _settled(request, chain))
    except LedgerError as error:
        raise _NodeDownError(str(error)) from error


class _NodeDownError(ApiError):
    status = 503
    default_slug = "chain-unreachable"
    title = "The chain does not answer"


_LICENCE_HEADERS = {
    "Link": f'<{open_data.LICENCE_URL}>; rel="license"',
    "Access-Control-Allow-Origin": "*",
}


@router.get("/open-data/quarter-hours.csv")
def quarter_hours_csv(request: Request, chain: ChainDep) -> PlainTextResponse:
    """Every settled quarter-hour, anonymised, as CSV (CC BY 4.0)."""
    text = open_data.as_csv(_open(request, chain), open_data.QUARTER_FIELDS)
    return PlainTextResponse(text, media_type="text/csv", headers=_LICENCE_HEADERS)


@router.get("/open-data/quarter-hours.json")
def quarter_hours_json(request: Request, chain: ChainDep) -> JSONResponse:
    """Every settled quarter-hour, anonymised, as JSON (CC BY 4.0)."""
    return JSONResponse(open_data.as_json(_open(request, chain)), headers=_LICENCE_HEADERS)


@router.get("/open-data/months.csv")
def months_csv(request: Request, chain: ChainDep) -> PlainTextResponse:
    """Month indicators as CSV (CC BY 4.0)."""
    months = open_data.open_months(_open(request, chain))
    return PlainTextResponse(
        open_data.as_csv(months, open_data.MONTH_FIELDS),
        media_type="text/csv",
        headers=_LICENCE_HEADERS,
    )


@router.get("/open-data/months.json")
def months_json(request: Request, chain: ChainDep) -> JSONResponse:
    """Month indicators as JSON (CC BY 4.0)."""
    months = open_data.open_months(_open(request, chain))
    return JSONResponse(open_data.as_json(months), headers=_LICENCE_HEADERS)


FAVICON = Path(__file__).resolve().parent / "static" / "favicon.svg"


@vendor_router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The pages' icon where browsers look for it by default (the pages link the SVG)."""
    return FileResponse(
        FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


@vendor_router.get("/assets/vendor/{name}")
def vendored(name: str) -> FileResponse:
    """The npm-installed front-end library (ethers), served from this origin (no CDN)."""
    found = VENDORED.get(name)
    if found is None or not found[0].is_file():
        raise NotFoundError(
            f"no vendored asset {name!r} (run scripts/setup: npm ci installs ethers)",
            "unknown-asset",
        )
    return FileResponse(found[0], media_type=found[1], headers={"Cache-Control": "max-age=3600"})
