"""The pages in a real browser (issue 16): sign-in with an injected wallet, a household's
own day, another household's data never shown, a wrong signer, a refused signature and an
expired session each told in the page's language, the community's page and open data."""

from __future__ import annotations

import json
import re
import time
from datetime import date, datetime
from pathlib import Path

import httpx
from conftest import (
    AUTH_SECRET,
    MANAGER_KEY,
    SEED,
    InjectedWallet,
    NodeRelay,
    Served,
    api_get,
    community_toml,
    open_page,
    own_service,
    screenshot,
    sign_in,
    sign_in_household,
)
from eth_account import Account
from playwright.sync_api import Browser, Page, expect

from api.auth import issue_token
from api.demo.neighbourhood import make_households
from api.pages.days import brussels_day, day_bounds
from api.pages.i18n import BRUSSELS, Formats
from metering.reading import PublicKey, Reading, meter_id_of, sign_reading


def _settlements(served: Served, n: int) -> list[dict[str, int]]:
    """Household n's settlements through the API (HouseholdSettled events on the chain)."""
    found: list[dict[str, int]] = api_get(served, n, "/households/{address}/settlements")
    return found


def _busiest(served: Served) -> int:
    """The household that exchanged the most with its neighbours that day."""
    volumes = []
    for n in range(len(served.addresses)):
        found = _settlements(served, n)
        volumes.append(sum(s["delivered_wh"] + s["received_wh"] for s in found))
    return max(range(len(volumes)), key=volumes.__getitem__)


def test_a_household_signs_in_and_sees_its_own_day(browser: Browser, served: Served) -> None:
    n = _busiest(served)
    settled = _settlements(served, n)
    assert len(settled) == 1
    page = sign_in_household(browser, served, n)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator("#hello")).to_have_text(served.names[n])
    totals = page.locator("#day-totals")
    fr = Formats("fr")
    expect(totals).to_contain_text(f"Vers les voisins{fr.kwh(settled[0]['delivered_wh'])}")
    expect(totals).to_contain_text(f"Venu des voisins{fr.kwh(settled[0]['received_wh'])}")
    change = settled[0]["change_units"]
    expect(totals).to_contain_text(fr.euros(abs(change)))
    # Quarter-hours in Brussels time: the demo traded from 10:00 UTC (11:00 or 12:00 here).
    rows = page.locator("#quarters tbody tr")
    assert rows.count() > 8
    ten_utc = (served.period_id * 96 + 40) * 900
    expect(page.locator("#quarters")).to_contain_text(fr.time(ten_utc))
    _assert_saving(page)
    cookies = page.context.cookies()
    session = next(c for c in cookies if c["name"] == "quartier_session")
    assert session["httpOnly"]
    assert session["sameSite"] == "Strict"
    screenshot(page, "household-day-fr")
    page.goto(f"{served.url}/?lang=nl&day={served.day}")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("#day-title")).to_contain_text(
        "Dag van " + Formats("nl").day(served.period_id * 86_400 + 36_000)
    )
    screenshot(page, "household-day-nl")


def _euro_cents(text: str) -> int:
    """French euros to the cent ("1 234,56 €", with a minus sign below zero) as cents."""
    found = re.fullmatch(r"([-\u2212]?)([\d\u202f\u00a0 ]+),(\d{2})\u00a0€", text.strip())
    assert found, f"not euros with two decimals: {text!r}"
    cents = int(re.sub(r"\D", "", found[2]) + found[3])
    return -cents if found[1] else cents


def _assert_saving(page: Page) -> None:
    """The day's and the month's bills alone and in the community, at the member's contract
    (from the community file): euros to the cent, the saving their difference (each figure
    rounded to the cent on its own), and a household that traded saved something."""
    expect(page.locator("#saved-title")).to_have_text("Économisé par rapport à seul")
    expect(page.locator("#saved-missing")).to_have_count(0)
    rows = {}
    for key in ("day", "month"):
        cells = page.locator(f"#saved-{key} td").all_inner_texts()
        alone, shared, saved = (_euro_cents(cell) for cell in cells)
        assert abs(alone - shared - saved) <= 1, cells
        rows[key] = (alone, shared, saved)
    assert rows["day"][2] > 0
    # The month's one settled period also covers the hour past the Brussels day (the
    # period is a UTC day): more offtake billed, but every trade was in the day's hours.
    assert rows["month"][0] >= rows["day"][0]
    assert rows["month"][2] == rows["day"][2]


def test_a_phone_sized_screen_shows_the_day(browser: Browser, served: Served) -> None:
    page = sign_in_household(
        browser, served, 0, "en", viewport={"width": 390, "height": 844}, device_scale_factor=1
    )
    expect(page.locator("#day-title")).to_contain_text(
        "Day of " + Formats("en").day(served.period_id * 86_400 + 36_000)
    )
    # Nothing wider than the screen but the tables' own scrolling regions.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    screenshot(page, "household-day-en-phone")


def test_another_households_data_is_never_shown(browser: Browser, served: Served) -> None:
    page = sign_in_household(browser, served, 1)
    html = page.content()
    for m, (address, name) in enumerate(zip(served.addresses, served.names, strict=True)):
        assert address.lower() not in html.lower()  # no address at all, own included
        if m != 1:
            assert name not in html
    # The other households' own API data stays closed to this session's cookie.
    answer = page.request.get(f"{served.url}/households/{served.addresses[0]}/settlements")
    assert answer.status in (401, 403)


def test_a_signature_for_another_address_is_refused_in_dutch(
    browser: Browser, served: Served
) -> None:
    wallet = InjectedWallet(served.addresses[0], served.keys[1])  # claims 0, signs as 1
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=nl")
    page.locator("#signin").click()
    message = page.locator("#message")
    expect(message).to_have_text(
        "De handtekening komt niet van het adres dat uw portemonnee gaf: u bent niet aangemeld.",
        timeout=60_000,
    )
    assert not [c for c in page.context.cookies() if c["name"] == "quartier_session"]
    expect(page.locator("#hello")).to_have_count(0)
    screenshot(page, "signin-wrong-signer-nl")


def test_a_refused_signature_says_so(browser: Browser, served: Served) -> None:
    page = open_page(
        browser,
        InjectedWallet(served.addresses[0], served.keys[0], refuse=True),
        extra_http_headers={"Accept-Language": "de-DE,de;q=0.9"},
    )
    page.goto(f"{served.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")  # none of ours: French
    page.locator("#signin").click()
    expect(page.locator("#message")).to_have_text(
        "Vous avez refusé la signature : vous n'êtes pas connecté.", timeout=60_000
    )


def test_no_wallet_says_so_in_the_browsers_language(browser: Browser, served: Served) -> None:
    page = open_page(browser, None, extra_http_headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    page.goto(f"{served.url}/")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.locator("#signin").click()
    expect(page.locator("#message")).to_contain_text("Geen portemonnee gevonden")
    screenshot(page, "signin-no-wallet-nl")


def test_an_expired_session_says_so_in_english(browser: Browser, served: Served) -> None:
    page = open_page(browser, InjectedWallet(served.addresses[0], served.keys[0]))
    expired = issue_token(AUTH_SECRET.encode(), served.addresses[0], int(time.time()) - 5)
    page.context.add_cookies(
        [{"name": "quartier_session", "value": expired, "url": served.url + "/"}]
    )
    page.goto(f"{served.url}/?lang=en&day={served.day}")
    expect(page.locator("#session-problem")).to_have_text(
        "Your session has expired: sign in again."
    )
    expect(page.locator("#hello")).to_have_count(0)
    expect(page.locator("#signin")).to_be_visible()
    screenshot(page, "session-expired-en")


def test_the_community_page_and_its_open_data_name_no_household(
    browser: Browser, served: Served
) -> None:
    page = open_page(browser, None)
    page.goto(f"{served.url}/community?lang=fr&day={served.day}")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    start, end = day_bounds(date.fromisoformat(served.day))
    in_day = [k for k in range(96) if start <= (served.period_id * 96 + k) * 900 < end]
    expect(page.locator("#community-quarters tbody tr")).to_have_count(len(in_day))
    screenshot(page, "community-fr")
    texts = [page.content()]
    for path in ("quarter-hours.csv", "quarter-hours.json", "months.csv", "months.json"):
        answer = httpx.get(f"{served.url}/open-data/{path}", timeout=60)
        assert answer.status_code == 200
        assert "license" in answer.headers["link"]
        texts.append(answer.text)
    assert texts[1].startswith(
        "start_utc,production_wh,consumption_wh,shared_wh,clearing_price_per_kwh\n"
    )
    assert len(texts[1].splitlines()) == 97
    assert '"licence":"CC-BY-4.0"' in texts[2].replace(" ", "")
    for text in texts:
        for address, name in zip(served.addresses, served.names, strict=True):
            assert address.lower() not in text.lower()
            assert name not in text
        assert not re.search(r"0x[0-9a-fA-F]{40}", text)


def _own_schedules(served: Served, n: int) -> list[dict[str, object]]:
    found: list[dict[str, object]] = api_get(served, n, "/households/{address}/schedules")
    return found


def _band(page: Page, number: int, **fields: str) -> None:
    """Fill band `number` (1-based) of the plan's table: selects by value, inputs by text."""
    row = page.locator("#plan-bands tbody tr").nth(number - 1)
    for name, value in fields.items():
        field = row.locator(f'[name="{name}"]')
        if name in ("from_hour", "to_hour", "side"):
            field.select_option(value)
        else:
            field.fill(value)


def test_a_household_signs_its_plan_band_by_band_in_the_page(
    browser: Browser, served: Served
) -> None:
    wallet = InjectedWallet(served.addresses[2], served.keys[2])
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=fr&day={served.day}")
    page.locator("#signin").click()
    expect(page.locator("#plan")).to_be_visible(timeout=60_000)
    # The Walloon bi-hourly bands are offered; each is priced on its own.
    bands = page.locator("#plan-bands tbody tr")
    expect(bands).to_have_count(4)
    expect(page.locator("#plan-bands thead")).to_contain_text("Prix limite (€ par kWh)")
    _band(page, 1, from_hour="22", to_hour="7", side="buy", energy_wh="120",
          limit_eur_per_kwh="0,28")  # fmt: skip
    _band(page, 2, side="none")
    _band(page, 3, from_hour="11", to_hour="17", side="sell", energy_wh="250",
          limit_eur_per_kwh="0,09")  # fmt: skip
    _band(page, 4, from_hour="17", to_hour="22", side="buy", energy_wh="90",
          limit_eur_per_kwh="0,335")  # fmt: skip
    screenshot(page, "household-plan-bands-fr")
    page.locator("#plan-submit").click()
    expect(page.locator("#plan-message")).to_have_text(
        "Votre plan signé a été accepté : il sera inscrit avant la clôture de ses quarts d'heure.",
        timeout=60_000,
    )
    screenshot(page, "household-plan-signed-fr")
    # What the wallet signed is what the service stored, entry for entry, hour by hour.
    (typed,) = wallet.typed_signed
    assert typed["primaryType"] == "Schedule"
    assert typed["message"]["household"].lower() == served.addresses[2].lower()
    (stored,) = _own_schedules(served, 2)
    assert stored["period_id"] == int(typed["message"]["periodId"])
    assert stored["status"] == "pending"
    entries = stored["entries"]
    assert isinstance(entries, list)
    first = int(typed["message"]["firstIntervalId"])
    expected = {
        **{h: ("buy", 120, 280_000) for h in (22, 23, 0, 1, 2, 3, 4, 5, 6)},
        **{h: ("none", 0, 0) for h in range(7, 11)},
        **{h: ("sell", 250, 90_000) for h in range(11, 17)},
        **{h: ("buy", 90, 335_000) for h in range(17, 22)},
    }
    for offset, entry in enumerate(entries):
        hour = datetime.fromtimestamp((first + offset) * 900, BRUSSELS).hour
        assert (entry["side"], entry["energy_wh"], entry["price_per_kwh"]) == expected[hour]


def test_the_plan_form_opens_with_the_households_own_signed_plan(
    browser: Browser, served: Served
) -> None:
    n = 8  # no other test signs a plan for it
    wallet = InjectedWallet(served.addresses[n], served.keys[n])
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=en&day={served.day}")
    page.locator("#signin").click()
    expect(page.locator("#plan")).to_be_visible(timeout=60_000)
    _band(page, 1, from_hour="23", to_hour="6", energy_wh="180", limit_eur_per_kwh="0.27")
    _band(page, 2, from_hour="6", to_hour="11")
    _band(page, 3, side="sell", energy_wh="420", limit_eur_per_kwh="0.07")
    _band(page, 4, to_hour="23")
    page.locator("#plan-submit").click()
    expect(page.locator("#plan-message")).to_have_text(
        "Your signed plan was accepted: it will be posted before its quarter-hours close.",
        timeout=60_000,
    )
    # Reloaded, the form shows the plan just signed (from the stored schedule), not the
    # defaults: in hour order, the night band past midnight last.
    page.reload()
    expect(page.locator("#plan")).to_be_visible(timeout=60_000)
    rows = page.locator("#plan-bands tbody tr")
    expect(rows).to_have_count(4)
    expect(page.locator("#plan-unshown")).to_have_count(0)
    shown = [
        tuple(
            rows.nth(i).locator(f'[name="{name}"]').input_value()
            for name in ("from_hour", "to_hour", "side", "energy_wh", "limit_eur_per_kwh")
        )
        for i in range(4)
    ]
    assert shown == [
        ("6", "11", "buy", "150", "0.30"),
        ("11", "17", "sell", "420", "0.07"),
        ("17", "23", "buy", "100", "0.32"),
        ("23", "6", "buy", "180", "0.27"),
    ]
    screenshot(page, "household-plan-reloaded-en")


def test_overlapping_bands_are_told_and_nothing_is_signed(browser: Browser, served: Served) -> None:
    wallet = InjectedWallet(served.addresses[6], served.keys[6])
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=en&day={served.day}")
    page.locator("#signin").click()
    expect(page.locator("#plan")).to_be_visible(timeout=60_000)
    _band(page, 2, from_hour="6", to_hour="11")  # 06:00 is in the night band already
    page.locator("#plan-submit").click()
    expect(page.locator("#plan-message")).to_have_text(
        "Two of your bands cover the same hour: change their hours.", timeout=60_000
    )
    assert wallet.typed_signed == []
    assert _own_schedules(served, 6) == []


def test_a_plan_the_wallet_refuses_is_not_sent(browser: Browser, served: Served) -> None:
    wallet = InjectedWallet(served.addresses[3], served.keys[3])
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=en&day={served.day}")
    page.locator("#signin").click()
    expect(page.locator("#plan")).to_be_visible(timeout=60_000)
    wallet.refuse = True
    page.locator("#plan-submit").click()
    expect(page.locator("#plan-message")).to_have_text(
        "You refused to sign: your plan was not sent.", timeout=60_000
    )
    assert _own_schedules(served, 3) == []


def test_the_managers_page_shows_members_periods_and_the_audit(
    browser: Browser, served: Served
) -> None:
    manager = Account.from_key(MANAGER_KEY)
    page = open_page(browser, InjectedWallet(manager.address, MANAGER_KEY))
    page.goto(f"{served.url}/manager?lang=fr")
    page.locator("#signin").click()
    expect(page.locator("#manager-title")).to_be_visible(timeout=120_000)
    expect(page.locator("#audit-verdict")).to_contain_text(
        "n'a trouvé aucun problème", timeout=120_000
    )
    rows = page.locator("#members tbody tr")
    expect(rows).to_have_count(len(served.addresses))
    for name in served.names:
        expect(page.locator("#members")).to_contain_text(name)
    expect(page.locator("#periods")).to_contain_text("réglée")
    expect(page.locator("#rules")).to_contain_text("un prix d'équilibre par quart d'heure")
    screenshot(page, "manager-fr")


def test_a_household_is_not_the_manager(browser: Browser, served: Served) -> None:
    page = open_page(browser, InjectedWallet(served.addresses[0], served.keys[0]))
    page.goto(f"{served.url}/manager?lang=nl")
    page.locator("#signin").click()
    expect(page.locator("#not-manager")).to_contain_text(
        "Deze pagina is voor de beheerder", timeout=60_000
    )
    expect(page.locator("#members")).to_have_count(0)


def test_today_shows_the_meters_live_readings_and_an_empty_day_says_so(
    browser: Browser, served: Served
) -> None:
    household = make_households(len(served.addresses), SEED)[0]
    meter = household.meter_key
    public = PublicKey.from_cryptography(meter.public_key())
    # Quarter-hours two hours before the earlier of now and the demo's settled period: past
    # (the intake refuses a reading before its interval ends) and never settled, whatever the
    # hour the test runs at. Run before the demo's 10:00, the real clock's "now" lies inside the
    # settled period, and there the page rightly shows the settled quarter-hours instead.
    now_interval = min(int(time.time()) // 900, served.period_id * 86_400 // 900) - 8
    registers = [(10_000, 5_000), (10_150, 5_000), (10_420, 5_030), (10_500, 5_090)]
    exchange = json.loads(served.deployment_file.read_text())["contracts"]["QuartierExchange"]
    for seq, (import_total, export_total) in enumerate(registers, start=1):
        reading = Reading(
            meter_id_of(public), now_interval - 5 + seq, import_total, export_total, seq
        )
        body = sign_reading(meter, reading, 31337, exchange).to_json()
        answer = httpx.post(f"{served.url}/readings", json=body, timeout=60)
        assert answer.status_code in (200, 201, 202), answer.text
    last = now_interval - 1  # its energy: 80 Wh imported, 60 Wh exported
    en = Formats("en")
    day = brussels_day(last * 900).isoformat()
    page = sign_in_household(browser, served, 0, "en")
    page.goto(f"{served.url}/?lang=en&day={day}")
    expect(page.locator("#live-note")).to_be_visible()
    row = page.locator("#quarters tbody tr", has_text=en.time(last * 900))
    expect(row).to_contain_text(en.kwh(80))
    expect(row).to_contain_text(en.kwh(60))
    screenshot(page, "household-today-live-en")
    page.goto(f"{served.url}/?lang=en&day=2026-01-05")
    expect(page.locator("#empty-day")).to_have_text(
        "Nothing settled for this day yet: figures appear once the day is settled."
    )


def _escrow_free(served: Served, n: int) -> int:
    free: int = api_get(served, n, "/households/{address}/escrow")["free_units"]
    return free


def test_a_household_withdraws_and_deposits_from_its_wallet(
    browser: Browser, served: Served
) -> None:
    n = 4
    wallet = InjectedWallet(served.addresses[n], served.keys[n], rpc_url=served.rpc_url)
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=fr&day={served.day}")
    page.locator("#signin").click()
    expect(page.locator("#escrow")).to_be_visible(timeout=60_000)
    before = _escrow_free(served, n)
    fr = Formats("fr")
    page.fill("#amount", "5,25")
    page.locator("#withdraw").click()
    expect(page.locator("#escrow-free")).to_have_text(fr.euros(before - 5_250_000), timeout=90_000)
    assert _escrow_free(served, n) == before - 5_250_000
    page.fill("#amount", "5,25")
    page.locator("#deposit").click()
    expect(page.locator("#escrow-free")).to_have_text(fr.euros(before), timeout=90_000)
    assert _escrow_free(served, n) == before
    screenshot(page, "household-escrow-fr")
    # More than the escrow holds: the ledger refuses, the page says so, nothing moves.
    page.fill("#amount", "100000")
    page.locator("#withdraw").click()
    expect(page.locator("#escrow-message")).to_have_text(
        "Le registre a refusé la transaction : vérifiez le montant et votre solde.",
        timeout=90_000,
    )
    assert _escrow_free(served, n) == before


def test_a_signed_plan_the_service_refuses_says_so(browser: Browser, served: Served) -> None:
    n = 5
    wallet = InjectedWallet(served.addresses[n], served.keys[n])
    page = open_page(browser, wallet)
    page.goto(f"{served.url}/?lang=nl&day={served.day}")
    page.locator("#signin").click()
    expect(page.locator("#plan")).to_be_visible(timeout=60_000)
    _band(page, 1, energy_wh="16000000")  # its lock is far above the household's escrow
    page.locator("#plan-submit").click()
    message = page.locator("#plan-message")
    expect(message).to_contain_text(
        "De dienst heeft uw ondertekend plan niet aanvaard:", timeout=60_000
    )
    assert len(wallet.typed_signed) == 1  # it was signed, and the refusal is told
    assert _own_schedules(served, n) == []
    screenshot(page, "household-plan-refused-nl")


def test_a_household_downloads_its_own_statement_only(browser: Browser, served: Served) -> None:
    n = _busiest(served)
    page = sign_in_household(browser, served, n)
    month = served.day[:7]
    link = page.locator("#statement-html")
    assert link.get_attribute("href") == f"/pages/statement/{month}.html?lang=fr"
    with page.expect_download() as started:
        link.click()
    assert started.value.suggested_filename == f"quartier-{month}.html"
    html = Path(started.value.path()).read_text(encoding="utf-8")
    assert served.names[n] in html
    assert '<html lang="fr"' in html
    pdf = page.request.get(f"{served.url}/pages/statement/{month}.pdf?lang=nl")
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF")
    other = served.addresses[(n + 1) % len(served.addresses)]
    refused = page.request.get(f"{served.url}/pages/statement/{month}.html?member={other}")
    assert refused.status == 403
    assert refused.json()["type"].endswith("not-yours")
    assert served.names[(n + 1) % len(served.names)] not in refused.text()
    anonymous = open_page(browser, None)
    answer = anonymous.request.get(f"{served.url}/pages/statement/{month}.html")
    assert answer.status == 401


def test_a_sign_in_message_signed_too_late_says_so(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    # Its own service, whose sign-in messages live one second; the person takes two to sign.
    with own_service(served, tmp_path, served.rpc_url, QUARTIER_CHALLENGE_SECONDS="1") as url:
        wallet = InjectedWallet(served.addresses[0], served.keys[0], sign_delay_seconds=2.5)
        page = open_page(browser, wallet)
        page.goto(f"{url}/?lang=nl")
        page.locator("#signin").click()
        expect(page.locator("#message")).to_have_text(
            "Het aanmeldbericht is verlopen: probeer opnieuw.", timeout=120_000
        )
        expect(page.locator("#hello")).to_have_count(0)
        assert not [c for c in page.context.cookies() if c["name"] == "quartier_session"]
        screenshot(page, "signin-message-expired-nl")
        # Nothing is lost: signing in promptly afterwards works.
        wallet.sign_delay_seconds = 0
        page.locator("#signin").click()
        expect(page.locator("#hello")).to_be_visible(timeout=60_000)


def test_the_node_down_says_so_and_the_session_is_kept(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    # Its own service, on a relay to the node that is closed once it has started (the
    # service refuses to start without a node); the shared service is left alone.
    relay = NodeRelay(served.rpc_url)
    settings = {"QUARTIER_CHAIN_DEADLINE_SECONDS": "3", "QUARTIER_RPC_TIMEOUT_SECONDS": "2"}
    try:
        with own_service(served, tmp_path, relay.url, **settings) as url:
            relay.stop()
            page = open_page(browser, InjectedWallet(served.addresses[0], served.keys[0]))
            token = issue_token(AUTH_SECRET.encode(), served.addresses[0], int(time.time()) + 600)
            page.context.add_cookies(
                [{"name": "quartier_session", "value": token, "url": url + "/"}]
            )
            response = page.goto(f"{url}/?lang=fr&day={served.day}")
            assert response is not None
            assert response.status == 503
            # Playwright's expect waits for the page's document: a bare get_attribute right
            # after goto read None now and then, though the answer was the French page.
            expect(page.locator("html")).to_have_attribute("lang", "fr")
            expect(page.locator("#node-down")).to_have_text(
                "Le registre de la communauté ne répond pas pour l'instant : vos chiffres "
                "reviendront dès qu'il répondra."
            )
            expect(page.locator("#signin")).to_have_count(0)
            screenshot(page, "household-node-down-fr")
            # Nothing is lost: the session stays, and the same cookie opens the day where the
            # chain answers (cookies do not depend on the port).
            assert [c for c in page.context.cookies() if c["name"] == "quartier_session"]
            page.goto(f"{served.url}/?lang=fr&day={served.day}")
            expect(page.locator("#hello")).to_be_visible(timeout=60_000)
    finally:
        relay.stop()


def test_every_asset_of_the_pages_is_served_and_the_favicon_too(
    browser: Browser, served: Served
) -> None:
    page = open_page(browser, None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    for path in ("/?lang=fr", "/community?lang=nl", "/manager?lang=en"):
        page.goto(served.url + path)
        page.wait_for_load_state("networkidle")
    assert failed == []
    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert icon == "/assets/favicon.svg"
    for url in (served.url + icon, served.url + "/favicon.ico"):
        answer = page.request.get(url)
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("image/svg+xml")
        assert answer.body().startswith(b"<svg")


def _period_starts(served: Served, start: int, end: int) -> list[int]:
    """Starts of the settled period's quarter-hours in [start, end)."""
    first = served.period_id * 96
    return [k * 900 for k in range(first, first + 96) if start <= k * 900 < end]


def test_own_pv_is_shown_where_a_production_meter_measured_it(
    browser: Browser, served: Served
) -> None:
    with_pv = next(n for n, ean in enumerate(served.eans) if ean in served.production)
    without = next(n for n, ean in enumerate(served.eans) if ean not in served.production)
    fr = Formats("fr")
    day = date.fromisoformat(served.day)
    rows = served.production[served.eans[with_pv]]
    page = sign_in_household(browser, served, with_pv)
    expected_day = sum(rows[s] for s in _period_starts(served, *day_bounds(day)))
    assert expected_day > 0
    expect(page.locator("#day-totals .own-pv")).to_have_text(fr.kwh(expected_day))
    month_start = day_bounds(day.replace(day=1))[0]
    expected_month = sum(rows[s] for s in _period_starts(served, month_start, 2**40))
    expect(page.locator("#month-totals .own-pv")).to_have_text(fr.kwh(expected_month))
    expect(page.locator("#quarters thead")).to_contain_text("Mes panneaux")
    ten_utc = (served.period_id * 96 + 40) * 900
    row = page.locator("#quarters tbody tr", has_text=fr.time(ten_utc)).first
    expect(row.locator("td").first).to_have_text(fr.kwh(rows[ten_utc]))
    expect(page.locator("#pv-not-measured")).to_have_count(0)
    screenshot(page, "household-own-pv-fr")
    # No production meter: said so, never a made-up figure.
    page = sign_in_household(browser, served, without, "nl")
    expect(page.locator("#day-totals .own-pv")).to_have_text("niet gemeten")
    expect(page.locator("#month-totals .own-pv")).to_have_text("niet gemeten")
    expect(page.locator("#pv-not-measured")).to_contain_text("Eigen zonnepanelen: niet gemeten.")
    expect(page.locator("#quarters thead")).not_to_contain_text("Eigen zonnepanelen")
    screenshot(page, "household-pv-not-measured-nl")


def test_a_member_without_a_contract_is_told_in_the_page(
    browser: Browser, served: Served, tmp_path: Path
) -> None:
    n = 7
    community = tmp_path / "community.toml"
    community.write_text(community_toml(without_contract=(n,)), encoding="utf-8")
    with own_service(served, tmp_path, served.rpc_url, QUARTIER_COMMUNITY=str(community)) as url:
        page = sign_in(
            browser, url, served.addresses[n], served.keys[n], f"/?lang=fr&day={served.day}"
        )
        expect(page.locator("#saved-missing")).to_have_text(
            "Le fichier de la communauté n'indique aucun contrat de fourniture pour vous : "
            "votre économie ne peut pas être calculée. Demandez au gestionnaire de votre "
            "communauté de l'ajouter."
        )
        expect(page.locator("#saved")).to_have_count(0)
        expect(page.locator("#day-totals")).to_be_visible()  # the rest of the day is there
        screenshot(page, "household-no-contract-fr")
