"""Counts in the pages take the catalogue's plural forms (issue 16): "1 période réglée sur 1",
not "1 périodes réglées sur 1", in French, Dutch and English."""

from __future__ import annotations

import pytest

from api.pages.i18n import TEMPLATES, environment

VERDICT = (
    '{{ ngettext("%(num)s period settled out of %(total)s",'
    ' "%(num)s periods settled out of %(total)s", settled, total=total) }}'
    ' | {{ ngettext("The audit found %(num)s problem:", "The audit found %(num)s problems:",'
    " problems) }}"
)


@pytest.mark.parametrize(
    ("language", "one", "many"),
    [
        (
            "fr",
            "1 période réglée sur 1 | L'audit a trouvé 1 problème :",
            "3 périodes réglées sur 5 | L'audit a trouvé 2 problèmes :",
        ),
        (
            "nl",
            "1 periode afgerekend van 1 | De audit vond 1 probleem:",
            "3 periodes afgerekend van 5 | De audit vond 2 problemen:",
        ),
        (
            "en",
            "1 period settled out of 1 | The audit found 1 problem:",
            "3 periods settled out of 5 | The audit found 2 problems:",
        ),
    ],
)
def test_a_count_of_one_is_singular_and_more_is_plural(language: str, one: str, many: str) -> None:
    template = environment(language).from_string(VERDICT)
    assert template.render(settled=1, total=1, problems=1).replace("&#39;", "'") == one
    assert template.render(settled=3, total=5, problems=2).replace("&#39;", "'") == many


def test_the_managers_verdict_reads_as_one_sentence_in_french() -> None:
    source = (TEMPLATES / "manager.html").read_text(encoding="utf-8")
    start = source.index('id="audit-verdict">') + len('id="audit-verdict">')
    verdict = environment("fr").from_string(source[start : source.index("</p>", start)])
    text = verdict.render(
        audit={"schedule_signatures": 1, "batch_signatures": 12, "periods": [object()]},
        audit_settled=1,
    ).replace("&#39;", "'")
    assert text == (
        "L'audit a rejoué tout le registre et n'a trouvé aucun problème : 1 signature d'offre"
        " et 12 signatures de compteurs vérifiées, 1 période réglée sur 1."
    )
