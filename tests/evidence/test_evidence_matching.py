"""Evidence matching on OCR lines: values inside a line get their own box, lines the detector
joined across columns are split, values over lines break only between words, numbers are
never found inside other numbers, and form fields cite the place beside their key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf

from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.ocr import split_line
from qvl_cli.evidence.pages import TextOptions, read_text
from qvl_cli.evidence.text import Line, PageText
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.rasterize import render_document


def page_of(*rows: tuple[str, float, float], source: str = "ocr") -> PageText:
    """A page of lines: (text, x0, y0), each character 0.01 wide and the line 0.02 high."""
    lines = tuple(
        Line(text, tuple((x + 0.01 * i, y, x + 0.01 * (i + 1), y + 0.02) for i in range(len(text))))
        for text, x, y in rows
    )
    return PageText(1, source, lines)


def glyphs(text: str, starts: list[int], width: int = 6) -> list[list[object]]:
    """What the OCR engine reports per character: a quad (pixels) and the character."""
    quads = [[[x, 10], [x + width, 10], [x + width, 30], [x, 30]] for x in starts]
    return [quads, list(text)]


def test_a_detected_line_keeps_each_characters_box_and_splits_at_a_column_gap() -> None:
    text = "Rosen & Katz (212) 403"
    starts = [10 + 8 * i for i in range(13)] + [300 + 8 * i for i in range(9)]  # a wide gap after "Katz "
    lines = split_line(text, (0.01, 0.01, 0.4, 0.03), glyphs(text, starts), (1000, 1000))
    assert [line.text for line in lines] == ["Rosen & Katz", "(212) 403"]
    assert lines[0].chars[0] == (0.01, 0.01, 0.016, 0.03) and lines[1].box[0] == 0.3
    proportional = split_line("Total 9.50", (0.1, 0.2, 0.3, 0.22), [], (1000, 1000))
    assert [line.text for line in proportional] == ["Total 9.50"]
    assert proportional[0].box == pytest.approx((0.1, 0.2, 0.3, 0.22))


def test_a_value_inside_a_line_gets_the_box_of_its_characters() -> None:
    page = page_of(("PAGES (including cover):.2HARD COPY", 0.1, 0.5))
    found = locate({"pages": "2"}, [page]).evidence["/pages"]
    assert found is not None and found["text"] == "2"  # OCR glued it to the next word
    assert found["boxes"] == [[0.35, 0.5, 0.36, 0.52]]


def test_values_over_lines_break_between_words_only() -> None:
    page = page_of(("NO OF STORES 8", 0.5, 0.1), ("7 ITEMS", 0.05, 0.13), ("New York", 0.1, 0.3), ("10103", 0.2, 0.33))
    located = locate({"stores": "87", "city": "New York 10103"}, [page])
    assert located.evidence["/stores"] is None  # "8" ending one line and "7" starting the next
    city = located.evidence["/city"]
    assert city is not None and city["text"] == "New York\n10103"


def test_pieces_of_one_row_are_read_left_to_right() -> None:
    page = page_of(("Center", 0.31, 0.141), ("SHIP TO", 0.05, 0.10), ("Lorillard Research", 0.05, 0.14))
    found = locate({"ship_to": "Lorillard Research Center"}, [page]).evidence["/ship_to"]
    assert found is not None and found["text"] == "Lorillard Research\nCenter"


def test_numbers_and_dates_are_not_found_inside_longer_numbers() -> None:
    page = page_of(("151/15 196/13", 0.1, 0.1), ("Invoice No: 2018041810090010447", 0.1, 0.2), ("Ref 4.5", 0.1, 0.3))
    located = locate({"stores": "15", "date": "2018-04-18", "ref": "4", "whole": "151/15"}, [page])
    assert located.evidence["/stores"] is None and located.evidence["/date"] is None
    assert located.evidence["/ref"] is None and located.evidence["/whole"] is not None


def test_dates_written_as_strings_survive_ocr_noise_but_not_a_changed_digit() -> None:
    page = page_of(("DATE: Fcbruary25,1998", 0.1, 0.1), ("Apri1 19, 1988", 0.1, 0.2), ("8/7/87", 0.1, 0.3))
    located = locate(
        {
            "a": "February 25, 1998",
            "b": "April 19, 1988",
            "c": "8/ 7/ 87",
            "d": "April 19, 1983",
            "e": "February 26, 1998",
        },
        [page],
    )
    assert [located.evidence[f"/{k}"] is not None for k in "abcde"] == [True, True, True, False, False]


def test_identical_form_fields_cite_their_places_in_the_order_they_are_listed() -> None:
    page = page_of(
        ("#REPS:", 0.6, 0.33),
        ("13", 0.7, 0.33),
        ("REPS:", 0.6, 0.35),
        ("12", 0.7, 0.35),
        ("#REPS:", 0.6, 0.37),
        ("13", 0.7, 0.37),
    )
    fields = [{"key": "# REPS:", "value": "13"}, {"key": "# REPS:", "value": "12"}, {"key": "# REPS:", "value": "13"}]
    evidence = locate({"fields": fields}, [page]).evidence
    assert [evidence[f"/fields/{i}/value"]["boxes"][0][1] for i in range(3)] == [0.33, 0.35, 0.37]  # type: ignore[index]


def test_a_key_printed_alone_is_preferred_to_the_word_inside_running_text() -> None:
    page = page_of(
        ("PRODUCT", 0.13, 0.114),
        ("Triumph", 0.25, 0.114),
        ("25 respondents will presently be Triumph", 0.17, 0.528),
        ("smokers on product negatives", 0.6, 0.545),
    )
    evidence = locate({"fields": [{"key": "PRODUCT", "value": "Triumph"}]}, [page]).evidence
    assert evidence["/fields/0/key"]["boxes"][0][1] == 0.114  # type: ignore[index]
    assert evidence["/fields/0/value"]["boxes"][0][1] == 0.114  # type: ignore[index]


def test_characters_another_value_cites_are_left_to_it() -> None:
    page = page_of(
        ("CITY", 0.045, 0.244),
        ("New York", 0.136, 0.238),
        ("STATE", 0.043, 0.258),
        ("New York", 0.134, 0.257),
        ("10103", 0.23, 0.256),
    )
    fields = [{"key": "CITY", "value": "New York"}, {"key": "STATE", "value": "New York 10103"}]
    evidence = locate({"fields": fields}, [page]).evidence
    assert evidence["/fields/1/value"]["text"] == "New York\n10103"  # type: ignore[index]
    assert evidence["/fields/0/value"]["boxes"][0][1] == 0.238  # type: ignore[index]


def test_a_date_with_a_month_name_may_run_into_the_time() -> None:
    page = page_of(("22Jun201818:07", 0.4, 0.27), ("Jun 22, 201918:07", 0.4, 0.3))
    located = locate({"date": "2018-06-22", "other": "2019-06-22", "fake": "2018-06-21"}, [page])
    assert located.evidence["/date"]["text"] == "22Jun2018"  # type: ignore[index]
    assert located.evidence["/other"]["text"] == "Jun 22, 2019"  # type: ignore[index]
    assert located.evidence["/fake"] is None


def test_equal_values_of_one_object_follow_the_datas_order_across_the_row() -> None:
    page = page_of(("1", 0.59, 0.38), ("85,00", 0.67, 0.38), ("85,00", 0.80, 0.38), ("Delivery", 0.07, 0.38))
    item = {"description": "Delivery", "quantity": 1, "unit_price": 85.0, "amount": 85.0}
    evidence = locate({"line_items": [item]}, [page]).evidence
    assert evidence["/line_items/0/unit_price"]["boxes"][0][0] == 0.67  # type: ignore[index]
    assert evidence["/line_items/0/amount"]["boxes"][0][0] == 0.80  # type: ignore[index]


@pytest.mark.parametrize(
    ("printed", "value"),
    [("Received IAN12 1999", "JAN 1 2 1999"), ("PO B0X 4417", "BOX 4417"), ("Ref. 12l8-A", "1218-A")],
)
def test_a_short_code_is_found_when_ocr_read_a_lookalike_glyph(printed: str, value: str) -> None:
    found = locate({"value": value}, [page_of((printed, 0.1, 0.5))]).evidence["/value"]
    assert found is not None and 0.75 <= found["score"] < 1.0


@pytest.mark.parametrize(
    ("printed", "value"),
    [
        ("Received IAN13 1999", "JAN 1 2 1999"),  # a digit read as another digit is another value
        ("Received IAN12 l999", "JAN 1 2 1999"),  # two lookalikes in nine characters
        ("PO BOX 4417", "BOX 4411"),
        ("Ref. A1", "Al"),  # too short to read anything into
        ("SECTION 1218-AB", "1218-A"),  # inside a longer code
        ("Code S1OO", "5100"),  # three lookalikes in four characters
    ],
)
def test_lookalikes_never_change_a_digit_or_stretch_a_short_value(printed: str, value: str) -> None:
    assert locate({"value": value}, [page_of((printed, 0.1, 0.5))]).evidence["/value"] is None


@pytest.mark.parametrize("invisible", [False, True])
def test_a_text_layer_is_matched_as_it_is_without_lookalikes(tmp_path: Path, invisible: bool) -> None:
    """A text layer's characters are the document's own (a searchable scan's too): `S100` is not
    `5100` there, though the same line read by OCR would be looked at with lookalikes."""
    lines = ("Code 5100", "Ref A123", "Date received IAN12 1999")
    pdf = write_pdf(tmp_path / "doc.pdf", [PageSpec(lines=lines, invisible=invisible)])
    document = render_document(pdf, PixelBudget())
    (page,) = read_text(str(pdf), True, [(0, document.pages[0].image)], TextOptions("text"))
    located = locate({"code": "S100", "ref": "4123", "date": "JAN 1 2 1999", "printed": "5100"}, [page])
    assert [located.evidence[f"/{key}"] for key in ("code", "ref", "date")] == [None, None, None]
    assert located.evidence["/printed"] is not None and located.evidence["/printed"]["source"] == "text"
