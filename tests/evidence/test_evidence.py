"""Evidence: printed forms of values, matching over lines, anchoring, text layers (rotated,
encrypted), OCR of scans and EXIF-rotated images, ``qvl locate``, ``--require-evidence`` and
``grounded`` rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf
from typer.testing import CliRunner

from qvl_cli.cli import app
from qvl_cli.evidence.forms import date_spans, number_spans
from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.matching import ocr_edits
from qvl_cli.evidence.pages import TextOptions, read_text
from qvl_cli.evidence.text import Line, PageText
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.rasterize import render_document

ROOT = Path(__file__).resolve().parents[2]


def page_of(*rows: tuple[str, float, float], page: int = 1, source: str = "ocr") -> PageText:
    """A page of lines: (text, x0, y0), each character 0.01 wide and the line 0.02 high."""
    lines = tuple(
        Line(text, tuple((x + 0.01 * i, y, x + 0.01 * (i + 1), y + 0.02) for i in range(len(text))))
        for text, x, y in rows
    )
    return PageText(page, source, lines)


def printed(text: str, spans: object) -> list[str]:
    return [text[a:b] for a, b in dict.fromkeys(spans)]  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("line", "value", "expected"),
    [
        ("Total 1,234.50", 1234.5, "1,234.50"),
        ("Totaal 1.234,50 EUR", 1234.5, "1.234,50"),
        ("Amount $ 8.20", 8.2, "8.20"),
        ("TOTAL RM31.60", 31.6, "31.60"),
        ("Rs. 1939", 1939, "1939"),
        ("1939.00 INR", 1939, "1939.00"),
        ("Betrag 1 234,50", 1234.5, "1 234,50"),
        ("CHF 1'234.50", 1234.5, "1'234.50"),
        ("Refund (12.00)", -12.0, "12.00"),
    ],
)
def test_numbers_are_found_in_any_printed_form(line: str, value: float, expected: str) -> None:
    assert expected in printed(line, number_spans(line, value))


@pytest.mark.parametrize(
    ("line", "value"),
    [("Total 19.00", 9.0), ("Date 25.12.2018", 25.12), ("Total 1,234.56", 1234.5), ("Phone 0123456789", 12345)],
)
def test_numbers_are_not_found_inside_other_numbers(line: str, value: float) -> None:
    assert list(number_spans(line, value)) == []


@pytest.mark.parametrize(
    ("line", "iso", "expected"),
    [
        ("Date: 28/11/2022", "2022-11-28", "28/11/2022"),
        ("03/20/2023", "2023-03-20", "03/20/2023"),
        ("Issued Jan 1, 2022", "2022-01-01", "Jan 1, 2022"),
        ("Orderdatum: 29 maart 2014", "2014-03-29", "29 maart 2014"),
        ("Datum: 14. März 2024", "2024-03-14", "14. März 2024"),
        ("le 1er janvier 2020", "2020-01-01", "1er janvier 2020"),
        ("August 3 , 2014", "2014-08-03", "August 3 , 2014"),
        ("03-Aug-2014", "2014-08-03", "03-Aug-2014"),
        ("2014-05-07", "2014-05-07", "2014-05-07"),
        ("14.03.24", "2024-03-14", "14.03.24"),
        ("25/12/20188:13:39PM", "2018-12-25", "25/12/2018"),  # OCR dropped the space before the time
        ("17-03-1814:49", "2018-03-17", "17-03-18"),
        ("Rabu,10-05-2017", "2017-05-10", "10-05-2017"),
    ],
)
def test_iso_dates_are_found_in_any_printed_form(line: str, iso: str, expected: str) -> None:
    assert expected in printed(line, date_spans(line, dt.date.fromisoformat(iso)))


@pytest.mark.parametrize(("line", "iso"), [("28/11/2022", "2022-11-27"), ("Jan 1, 2022", "2022-02-01")])
def test_other_dates_are_not_found(line: str, iso: str) -> None:
    assert list(date_spans(line, dt.date.fromisoformat(iso))) == []


def test_strings_match_after_case_and_whitespace_folding() -> None:
    page = page_of(("Vendor:  ACME   Trading  GmbH", 0.1, 0.1), source="text")
    found = locate({"vendor": "acme trading gmbh"}, [page]).evidence["/vendor"]
    assert found is not None and found["text"] == "ACME   Trading  GmbH" and found["source"] == "text"
    assert found["boxes"] == [[0.19, 0.1, 0.39, 0.12]]


def test_a_value_over_three_lines_has_three_boxes() -> None:
    page = page_of(
        ("Ship to:", 0.1, 0.10),
        ("Hafenstrasse 12", 0.1, 0.13),
        ("Invoice no. 4711", 0.6, 0.13),  # a second column between the address lines
        ("20457 Hamburg", 0.1, 0.16),
        ("Germany", 0.1, 0.19),
    )
    found = locate({"address": "Hafenstrasse 12, 20457 Hamburg, Germany"}, [page]).evidence["/address"]
    assert found is not None and found["text"] == "Hafenstrasse 12\n20457 Hamburg\nGermany"
    assert [box[1] for box in found["boxes"]] == [0.13, 0.16, 0.19]


def test_ocr_noise_is_tolerated_but_a_changed_digit_is_not() -> None:
    page = page_of(("KAWASAN PERINDUSTRlAN BALAK0NG", 0.1, 0.1), ("L0T 1851-A JALAN KPB 6", 0.1, 0.13))
    located = locate(
        {"street": "KAWASAN PERINDUSTRIAN BALAKONG", "lot": "LOT 1851-A JALAN KPB 6", "fake": "LOT 1857-A JALAN KPB 6"},
        [page],
    )
    assert located.evidence["/street"] is not None and located.evidence["/street"]["score"] < 1
    assert located.evidence["/lot"] is not None
    assert located.evidence["/fake"] is None
    assert located.warnings == ('/fake "LOT 1857-A JALAN KPB 6" does not appear in the document',)


def test_ocr_edits_never_change_digits() -> None:
    assert ocr_edits("lot1851", "l0t1851") == 1  # O read as 0
    assert ocr_edits("no53", "nos3") == 1  # 5 read as S
    assert ocr_edits("no53", "no58") == float("inf")
    assert ocr_edits("no53", "no5") == float("inf")


def test_identifiers_and_short_strings_need_an_exact_match() -> None:
    page = page_of(("Invoice number: 42183017", 0.1, 0.1), ("Ref AB12", 0.1, 0.2))
    located = locate({"a": "42183017", "b": "42183071", "c": "AB13", "d": 4218301}, [page])
    assert located.evidence["/a"] is not None
    assert located.evidence["/b"] is None and located.evidence["/c"] is None and located.evidence["/d"] is None


def test_a_repeated_value_cites_the_place_next_to_its_label() -> None:
    page = page_of(("Subtotal 9.00", 0.1, 0.5), ("Cash 9.00", 0.1, 0.6), ("Total 9.00", 0.1, 0.7))
    found = locate({"total": 9.0}, [page]).evidence["/total"]
    assert found is not None and found["boxes"][0][1] == 0.7


def test_array_items_are_found_near_their_siblings() -> None:
    page = page_of(
        ("Paper A4", 0.1, 0.30),
        ("5.39", 0.6, 0.30),
        ("Archive box", 0.1, 0.40),
        ("5.39", 0.6, 0.40),
    )
    data = {"items": [{"description": "Paper A4", "amount": 5.39}, {"description": "Archive box", "amount": 5.39}]}
    evidence = locate(data, [page]).evidence
    assert evidence["/items/0/amount"]["boxes"][0][1] == 0.30  # type: ignore[index]
    assert evidence["/items/1/amount"]["boxes"][0][1] == 0.40  # type: ignore[index]


def test_form_values_are_found_near_their_key() -> None:
    page = page_of(("Quantity:", 0.1, 0.2), ("3", 0.3, 0.2), ("Boxes:", 0.1, 0.5), ("3", 0.3, 0.5))
    data = {"fields": [{"key": "Boxes:", "value": "3"}, {"key": "Quantity:", "value": "3"}]}
    evidence = locate(data, [page]).evidence
    assert evidence["/fields/0/value"]["boxes"][0][1] == 0.5  # type: ignore[index]
    assert evidence["/fields/1/value"]["boxes"][0][1] == 0.2  # type: ignore[index]


def test_normalized_printed_text_is_searched_first() -> None:
    page = page_of(("Date: 03/04/2024", 0.1, 0.1), ("Due 2024-04-03", 0.1, 0.3))
    normalized = {"/date": {"raw": "03/04/2024", "value": "2024-04-03"}}
    found = locate({"date": "2024-04-03"}, [page], normalized=normalized).evidence["/date"]
    assert found is not None and found["text"] == "03/04/2024"


def test_booleans_and_empty_strings_are_not_reported() -> None:
    located = locate({"paid": True, "note": "", "missing": None}, [page_of(("x", 0, 0))])
    assert located.evidence == {"/paid": None, "/note": None}
    assert located.missing == ()


def _text_of(pdf: Path, password: str | None = None, mode: str = "auto") -> tuple[PageText, ...]:
    document = render_document(pdf, PixelBudget(), password=password)
    pages = [(page.number - 1, page.image) for page in document.pages]
    return read_text(str(pdf), True, pages, TextOptions(mode), password)


def test_text_layer_boxes_are_fractions_of_the_page(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "a.pdf", [PageSpec(lines=("Invoice number INV-2024-0042", "Total 1,234.50 EUR"))])
    (page,) = _text_of(pdf)
    assert page.source == "text" and [line.text for line in page.lines][:2] == [
        "Invoice number INV-2024-0042",
        "Total 1,234.50 EUR",
    ]
    found = locate({"total": 1234.5}, [page]).evidence["/total"]
    assert found is not None and found["text"] == "1,234.50" and found["source"] == "text"
    x0, y0, x1, y1 = found["boxes"][0]
    # 14 pt Helvetica, baseline 64 pt below the top of a 612 x 792 pt page, second line 16 pt lower.
    assert 36 / 612 < x0 < x1 < 200 / 612
    assert (48 + 16 - 14) / 792 < y0 < y1 < (48 + 16 + 4) / 792


@pytest.mark.parametrize("rotate", [90, 180, 270])
def test_boxes_follow_the_page_as_rendered_after_rotate(tmp_path: Path, rotate: int) -> None:
    lines = ("Invoice number INV-2024-0042", "Total 1,234.50 EUR")
    upright = _text_of(write_pdf(tmp_path / "0.pdf", [PageSpec(lines=lines)]))
    turned = _text_of(write_pdf(tmp_path / "r.pdf", [PageSpec(lines=lines, rotate=rotate)]))
    box = locate({"n": "INV-2024-0042"}, upright).evidence["/n"]["boxes"][0]  # type: ignore[index]
    rotated = locate({"n": "INV-2024-0042"}, turned).evidence["/n"]["boxes"][0]  # type: ignore[index]
    x0, y0, x1, y1 = box
    expected = {  # /Rotate turns the page clockwise
        90: (1 - y1, x0, 1 - y0, x1),
        180: (1 - x1, 1 - y1, 1 - x0, 1 - y0),
        270: (y0, 1 - x1, y1, 1 - x0),
    }[rotate]
    assert rotated == pytest.approx(expected, abs=2e-4)


@pytest.mark.corpus
def test_encrypted_pdf_text_layer_with_its_password(corpus: Path) -> None:
    locked = corpus / "pypdf/docs/encryption/r6-both-passwords.pdf"
    (page,) = _text_of(locked, password="foo")
    found = locate({"password": "asdfzxcv"}, [page]).evidence["/password"]
    assert page.source == "text" and found is not None and found["text"] == "asdfzxcv"


def test_text_mode_never_runs_ocr_and_off_reads_nothing(tmp_path: Path) -> None:
    from PIL import Image

    scan = tmp_path / "scan.png"
    Image.new("RGB", (400, 300), "white").save(scan)
    document = render_document(scan, PixelBudget())
    pages = [(0, document.pages[0].image)]
    assert read_text(str(scan), False, pages, TextOptions("text")) == (PageText(1, "none"),)
    assert read_text(str(scan), False, pages, TextOptions("off")) == ()


def _draw_text_image(size: tuple[int, int], words: list[tuple[str, tuple[int, int]]]):  # type: ignore[no-untyped-def]
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=36)
    for text, position in words:
        draw.text(position, text, fill="black", font=font)
    return image


def test_a_page_without_text_layer_is_read_with_ocr_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qvl_cli.evidence import ocr

    image = _draw_text_image((900, 500), [("INVOICE 2024-0117", (60, 60)), ("TOTAL 598.57", (60, 300))])
    pdf = tmp_path / "scan.pdf"
    image.save(pdf, resolution=100)
    document = render_document(pdf, PixelBudget())
    pages = [(0, document.pages[0].image)]
    options = TextOptions("auto", str(tmp_path / "ocr"))
    real, calls = ocr.engine(), []
    monkeypatch.setattr(
        ocr, "engine", lambda: lambda pixels, **options: calls.append(pixels.shape) or real(pixels, **options)
    )
    (page,) = read_text(str(pdf), True, pages, options, sha256="abc")
    assert len(calls) == 1
    assert page.source == "ocr"
    found = locate({"total": 598.57}, [page]).evidence["/total"]
    assert found is not None and found["source"] == "ocr"
    x0, y0, x1, y1 = found["boxes"][0]
    assert 0.1 < x0 < x1 < 0.6 and 0.55 < y0 < y1 < 0.75
    (cached,) = (tmp_path / "ocr").rglob("*.json")
    assert json.loads(cached.read_text()) == page.to_dict()
    assert read_text(str(pdf), True, pages, options, sha256="abc") == (page,)
    assert len(calls) == 1  # the second run read the cache, not the engine
    read_text(str(pdf), True, pages, options, sha256="other content")
    read_text(str(pdf), True, [(0, pages[0][1].resize((450, 250)))], options, sha256="abc")
    assert len(calls) == 3  # another document, or the page at another size, is read again


def test_exif_rotated_image_boxes_match_the_upright_page(tmp_path: Path) -> None:
    """An image stored sideways with EXIF orientation 6 is read upright: boxes are on the page
    as rendered, not as stored."""
    from PIL import Image

    upright = _draw_text_image((600, 900), [("TOTAL 77.20", (60, 700))])
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    stored.save(path, exif=exif, quality=95)
    document = render_document(path, PixelBudget())
    assert document.pages[0].image.width < document.pages[0].image.height
    (page,) = read_text(str(path), False, [(0, document.pages[0].image)], TextOptions("auto"))
    found = locate({"total": 77.2}, [page]).evidence["/total"]
    assert found is not None
    x0, y0, x1, y1 = found["boxes"][0]
    assert 0.05 < x0 < x1 < 0.6 and 700 / 900 - 0.03 < y0 < y1 < 750 / 900 + 0.03


# --- qvl locate, qvl extract, check rules ------------------------------------------------------


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), input=stdin, env=env, catch_exceptions=False)


@pytest.fixture
def text_pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "inv.pdf", [PageSpec(lines=("Invoice number INV-7", "Total 1,234.50 EUR"))])


def test_locate_refreshes_records_from_stdin_keeping_every_other_key(text_pdf: Path) -> None:
    record = {
        "file": str(text_pdf),
        "id": 7,
        "data": {"invoice_number": "INV-7", "total": 7919.37},
        "warnings": ["an old note", "/total 1.0 does not appear in the document"],
        "evidence": {"stale": None},
        "extra": [1, 2],
    }
    result = run("locate", "-", stdin=json.dumps(record) + "\n")
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert list(line) == list(record)
    assert line["id"] == 7 and line["extra"] == [1, 2] and line["data"] == record["data"]
    assert line["evidence"]["/invoice_number"]["text"] == "INV-7"
    assert line["evidence"]["/total"] is None
    assert line["warnings"] == ["an old note", "/total 7919.37 does not appear in the document"]


def test_locate_on_a_previous_run_and_a_missing_file(text_pdf: Path, tmp_path: Path) -> None:
    answer = {"title": "Invoice number INV-7", "fields": [], "checkboxes": [], "signatures": []}
    replies = json.dumps([json.dumps(answer)])
    run_file = tmp_path / "run.jsonl"
    extracted = run("extract", str(text_pdf), "-s", "form", "--evidence", "off", "-o", str(run_file),
                    env={"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": replies})  # fmt: skip
    assert extracted.exit_code == 0, extracted.output
    previous = json.loads(run_file.read_text())
    assert previous["evidence"] is None
    gone = {"file": str(tmp_path / "gone.pdf"), "data": {"a": "b"}}
    with run_file.open("a") as handle:
        handle.write(json.dumps(gone) + "\n")
    out = tmp_path / "located.jsonl"
    result = run("locate", str(run_file), "-o", str(out))
    assert result.exit_code == 2
    assert "gone.pdf: no such file" in result.stderr
    first, second = (json.loads(x) for x in out.read_text().splitlines())
    assert list(first) == list(previous) and first["evidence"]["/title"]["page"] == 1
    assert second == gone


def test_extract_with_known_answers_locates_real_values_and_flags_an_invented_one(tmp_path: Path) -> None:
    """examples/invoice.pdf is a scan (no text layer): OCR finds the values where they are printed."""
    answer = json.loads((ROOT / "examples/invoice.expected.json").read_text())
    answer["total"] = 7919.37
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps([json.dumps(answer)])}
    result = run("extract", str(ROOT / "examples/invoice.pdf"), "-s", "invoice", env=env)
    envelope = json.loads(result.stdout)
    evidence = envelope["evidence"]
    assert evidence["/invoice_number"]["page"] == 1 and evidence["/invoice_number"]["source"] == "ocr"
    x0, y0, x1, y1 = evidence["/invoice_number"]["boxes"][0]
    assert x0 > 0.5 and y1 < 0.2  # top right, where the invoice prints it
    assert evidence["/line_items/1/amount"]["boxes"][0][1] > evidence["/line_items/0/amount"]["boxes"][0][1]
    assert evidence["/total"] is None
    assert "/total 7919.37 does not appear in the document" in envelope["warnings"]
    assert envelope["valid"] is True and result.exit_code == 0

    strict = run("extract", str(ROOT / "examples/invoice.pdf"), "-s", "invoice", "--require-evidence", env=env)
    envelope = json.loads(strict.stdout)
    assert strict.exit_code == 1 and envelope["valid"] is False
    assert {"path": "/total", "message": "does not appear in the document (--require-evidence)"} in envelope["errors"]


def test_grounded_rule_fails_a_check_on_an_invented_value(tmp_path: Path) -> None:
    from qvl_cli.gate.config import Rule
    from qvl_cli.gate.rules import ERROR, evaluate
    from qvl_cli.runs.records import Envelope

    record = {
        "file": "a.pdf",
        "data": {"total": 7919.37, "number": "A-1", "paid": True},
        "errors": [],
        "evidence": {"/total": None, "/number": {"page": 1}, "/paid": None},
        "warnings": ["/total 7919.37 does not appear in the document"],
    }
    envelope = Envelope.from_dict(record)
    findings = evaluate(envelope, Rule(("*.pdf",), "invoice", grounded=True))
    assert [(f.pointer, f.severity) for f in findings] == [("/total", ERROR)]
    assert findings[0].message == "7919.37 does not appear in the document"
    relaxed = evaluate(envelope, Rule(("*.pdf",), "invoice"))
    assert [f.severity for f in relaxed] == ["warning"]
    bare = Envelope.from_dict(record | {"evidence": None})
    assert evaluate(bare, Rule(("*.pdf",), "x", grounded=True))[0].severity == ERROR


def test_grounded_is_a_boolean_rule_key(tmp_path: Path) -> None:
    from qvl_cli.gate.config import ConfigError, load_config

    config = tmp_path / ".qvl.toml"
    config.write_text('[[rules]]\nfiles = ["*.pdf"]\nschema = "invoice"\ngrounded = true\n')
    assert load_config(config).rules[0].grounded is True
    config.write_text('[[rules]]\nfiles = ["*.pdf"]\nschema = "invoice"\ngrounded = "yes"\n')
    with pytest.raises(ConfigError, match=r"rules\[0\]\.grounded: must be bool, got str"):
        load_config(config)


def test_evidence_option_is_checked() -> None:
    result = run("extract", "x.pdf", "-s", "invoice", "--evidence", "sometimes")
    assert result.exit_code == 2 and "--evidence: 'sometimes' is not one of auto, text, ocr, off" in result.output
    both = run("extract", "x.pdf", "-s", "invoice", "--evidence", "off", "--require-evidence")
    message = "--require-evidence: needs evidence auto, text or ocr, not off (--evidence)"
    assert both.exit_code == 2 and message in both.output


# Every value is a constant: whatever the random weights prefer, constrained decoding writes exactly these.
CONSTANT_SCHEMA = {
    "type": "object",
    "properties": {
        "invoice_number": {"const": "INV-7"},
        "total": {"const": 1234.5},
        "order": {"const": "PO-404"},
        "paid": {"const": True},
    },
    "required": ["invoice_number", "total", "order", "paid"],
    "additionalProperties": False,
}


def _box_of(page: PageText, text: str) -> list[float]:
    """The box of ``text`` on the page, from its characters' boxes in the text layer (no matching)."""
    for line in page.lines:
        if text in line.text:
            start = line.text.index(text)
            chars = line.chars[start : start + len(text)]
            box = (
                min(c[0] for c in chars),
                min(c[1] for c in chars),
                max(c[2] for c in chars),
                max(c[3] for c in chars),
            )
            return [round(value, 4) for value in box]
    raise AssertionError(f"{text!r} is not on the page")


@pytest.mark.slow
def test_extract_on_the_tiny_model_has_the_exact_evidence(tiny_model_dir: Path, text_pdf: Path, tmp_path: Path) -> None:
    """Real generation on the tiny model, then grounding: each value found has its page, box,
    printed text, source and score; a value printed nowhere is null and one warning; a boolean
    is a judgement (null, no warning)."""
    schema = tmp_path / "constants.json"
    schema.write_text(json.dumps(CONSTANT_SCHEMA))
    result = run("extract", str(text_pdf), "-s", str(schema), "--model", str(tiny_model_dir),
                 "--max-new-tokens", "120", "--max-pixels", "100000")  # fmt: skip
    envelope = json.loads(result.stdout)
    assert envelope["data"] == {"invoice_number": "INV-7", "total": 1234.5, "order": "PO-404", "paid": True}
    (page,) = _text_of(text_pdf)
    assert envelope["evidence"] == {
        "/invoice_number": {
            "page": 1,
            "boxes": [_box_of(page, "INV-7")],
            "text": "INV-7",
            "source": "text",
            "score": 1.0,
        },
        "/total": {"page": 1, "boxes": [_box_of(page, "1,234.50")], "text": "1,234.50", "source": "text", "score": 1.0},
        "/order": None,
        "/paid": None,
    }
    assert envelope["warnings"] == ['/order "PO-404" does not appear in the document']
    assert envelope["valid"] is True and result.exit_code == 0


def test_which_text_pages_are_also_read_with_ocr() -> None:
    from qvl_cli.evidence.pages import needs_ocr_too

    words = page_of(("Invoice 2024-0117 for services rendered in May", 0.1, 0.1), source="text")
    stamp = page_of(("Page 1", 0.1, 0.1), source="text")
    assert not needs_ocr_too(words, 0.0)  # a plain digital page
    assert not needs_ocr_too(stamp, 0.01)  # little text, a small logo: still digital
    assert needs_ocr_too(words, 0.08)  # a pasted picture may print values of its own
    assert needs_ocr_too(stamp, 1.0)  # a scan with a few words stamped on it
    assert not needs_ocr_too(words, 1.0)  # a searchable scan: its text layer is its OCR
