"""The pages' languages and formats (issue 16): the choice of language, complete catalogues,
kWh, euros to the cent with halves away from zero, Brussels time."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api.pages.i18n import LANGUAGES, LOCALES, TEMPLATES, Formats, choose_language, environment


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        ("nl", "en-GB,en;q=0.9", "nl"),  # ?lang= wins
        ("de", "en-GB,en;q=0.9", "en"),  # not ours: the browser's choice
        (None, "nl-BE,nl;q=0.9,fr;q=0.8", "nl"),
        (None, "de-DE,de;q=0.9,en;q=0.5", "en"),  # first of ours by preference
        (None, "en;q=0.2,nl;q=0.8", "nl"),  # q-values, not order
        (None, "de-DE", "fr"),  # none of ours: French
        (None, None, "fr"),
        (None, "fr-BE;q=oops,nl;q=0.1", "nl"),  # a malformed q counts as 0
    ],
)
def test_the_language_is_the_query_else_the_browsers_else_french(
    query: str | None, header: str | None, expected: str
) -> None:
    assert choose_language(query, header) == expected


def _template_messages() -> set[str | tuple[str, ...]]:
    method_map = [("**.html", "jinja2")]
    options = {"**.html": {"extensions": "jinja2.ext.i18n"}}
    found = extract_from_dir(str(TEMPLATES), method_map, options)
    return {message for _file, _line, message, _comments, _context in found}


def _placeholders(texts: str | tuple[str, ...] | list[str]) -> set[str]:
    forms = [texts] if isinstance(texts, str) else list(texts)
    return {name for form in forms for name in re.findall(r"%\(\w+\)s", form)}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_of_the_templates_is_in_each_catalogue(language: str) -> None:
    wanted = _template_messages()
    assert len(wanted) > 40
    assert any(isinstance(m, tuple) for m in wanted)  # plurals (ngettext) are checked too
    path = Path(LOCALES) / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalog = read_po(source)
    translated = {m.id if isinstance(m.id, str) else tuple(m.id): m.string for m in catalog if m.id}
    missing = {
        m
        for m in wanted
        if not translated.get(m) or (isinstance(m, tuple) and not all(translated[m]))
    }
    assert not missing
    for message in wanted:  # placeholders survive translation, in every plural form
        forms = translated[message]
        for form in [forms] if isinstance(forms, str) else forms:
            assert _placeholders(form) <= _placeholders(message)
            assert _placeholders(message) - _placeholders(form) <= {"%(num)s"}
    if language != "en":  # really translated, not copied
        same = [m for m in wanted if translated[m] == m and len(m) > 12]
        assert not same


def test_a_page_renders_in_each_language_with_its_lang_attribute() -> None:
    for language, word in (("fr", "Mon ménage"), ("nl", "Mijn gezin"), ("en", "My household")):
        html = (
            environment(language)
            .get_template("household.html")
            .render(lang=language, household=None, day=None, session_problem="expired")
        )
        assert f'<html lang="{language}">' in html
        assert word in html


def test_amounts_and_times_for_people() -> None:
    fr, nl, en = Formats("fr"), Formats("nl"), Formats("en")
    assert fr.kwh(2341) == "2,341\u00a0kWh"
    assert en.kwh(1_234_567) == "1,234.567\u00a0kWh"
    # Halves away from zero, as the statements: 0.065 EUR is 0.07 EUR, not 0.06.
    assert fr.euros(65_000) == "0,07\u00a0€"
    assert en.euros(65_000) == "€0.07"
    assert nl.euros(1_234_565_000).replace("\u00a0", " ") == "€ 1.234,57"
    assert fr.euros_milli(193_834_800) == "0,19\u00a0€"
    assert en.price(82_800) == "0.083\u00a0€/kWh"
    # 2026-06-21 10:00 UTC is noon in Brussels (summer time); 2026-01-15 10:00 UTC is 11:00.
    assert fr.time(1_782_036_000) == "12:00"
    assert fr.time(1_768_471_200) == "11:00"
    assert fr.day(1_782_036_000) == "21 juin 2026"
    assert nl.month(2026, 6) == "juni 2026"
