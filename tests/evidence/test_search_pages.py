"""Searching a document page by page (:mod:`qvl_cli.evidence.search`) gives what one search over
all its pages at once gives: the same occurrences in the same order, so the same evidence."""

from __future__ import annotations

from collections.abc import Iterator

from qvl_cli.evidence.forms import fold, iso_date
from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.matching import (
    PageIndex,
    find_date,
    find_exact,
    find_fuzzy,
    find_number,
    fuzzy_allowed,
    word_breaks,
)
from qvl_cli.evidence.search import LabelSearch, StringSearch, ValueSearch
from qvl_cli.evidence.text import Line, PageText

SCHEMA = {"type": "object", "properties": {"total": {"type": "number"}, "reference": {"type": "string"}}}


def page_of(number: int, *rows: tuple[str, float, float]) -> PageText:
    """A page of lines: (text, x0, y0), each character 0.01 wide and the line 0.02 high."""
    lines = tuple(
        Line(text, tuple((x + 0.01 * i, y, x + 0.01 * (i + 1), y + 0.02) for i in range(len(text))))
        for text, x, y in rows
    )
    return PageText(number, "text", lines)


# 598.57 and the reference are printed on pages 1 and 3; only page 3 prints the label "Total".
# The date is printed in two forms; the reference with an OCR slip on page 1, exactly on page 3.
PAGES = (
    page_of(
        1, ("Carried over 598.57", 0.1, 0.1), ("Ref HARBOURVIEW-LOGISTLCS", 0.1, 0.2), ("Date 14.03.2024", 0.1, 0.3)
    ),
    page_of(2, ("Nothing here but words", 0.1, 0.1)),
    page_of(3, ("Total 598.57", 0.5, 0.8), ("Ref HARBOURVIEW-LOGISTICS", 0.1, 0.2), ("March 14, 2024", 0.1, 0.4)),
)
DATA = {"total": 598.57, "reference": "HARBOURVIEW-LOGISTICS", "date": "2024-03-14"}


def searched_page_by_page(search: ValueSearch | StringSearch | LabelSearch) -> None:
    for page in PAGES:
        search.add(PageIndex(page))


def test_each_kind_of_value_finds_page_by_page_what_one_search_over_all_pages_finds() -> None:
    everything = [PageIndex(page) for page in PAGES]

    number = ValueSearch(598.57)
    searched_page_by_page(number)
    assert [hit.page for hit in number.hits()] == [1, 3]
    assert number.hits() == sorted(find_number(598.57, everything), key=lambda hit: hit.page)

    date = ValueSearch("2024-03-14")
    searched_page_by_page(date)
    day = iso_date("2024-03-14")
    assert day is not None and [hit.page for hit in date.hits()] == [1, 3]
    assert date.hits() == sorted(find_date(day, everything), key=lambda hit: hit.page)

    folded, printed = fold(DATA["reference"])
    text = StringSearch(DATA["reference"])
    searched_page_by_page(text)  # a fuzzy hit on page 1 comes first, the exact one on page 3 wins
    exact = find_exact(folded, everything, word_breaks(printed))
    assert [hit.page for hit in text.near] == [1] and [hit.page for hit in exact] == [3]
    assert text.hits() == exact

    slipped = StringSearch("HARBOURVIEW-LOGISTIXS")  # printed exactly nowhere: fuzzy on every page
    searched_page_by_page(slipped)
    folded_slip, _ = fold("HARBOURVIEW-LOGISTIXS")
    assert fuzzy_allowed(folded_slip) and [hit.page for hit in slipped.hits()] == [1, 3]
    assert slipped.hits() == find_fuzzy(folded_slip, everything)

    labels = LabelSearch({"total": ["total"]})
    searched_page_by_page(labels)
    assert [hit.page for hit in labels.hits("total")] == [3]
    assert labels.hits("total") == find_exact(fold("total")[0], everything, set())


def test_the_label_on_one_page_picks_the_occurrence_beside_it_streamed_or_not() -> None:
    consumed: list[int] = []

    def one_at_a_time() -> Iterator[PageText]:
        for page in PAGES:
            consumed.append(page.page)
            yield page

    streamed = locate(DATA, one_at_a_time(), SCHEMA)
    assert consumed == [1, 2, 3]
    assert streamed == locate(DATA, list(PAGES), SCHEMA)
    total = streamed.evidence["/total"]
    assert total is not None and total["page"] == 3 and total["text"] == "598.57"  # beside "Total", not page 1
    assert streamed.evidence["/reference"] is not None and streamed.missing == ()
