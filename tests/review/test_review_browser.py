"""The review report in a real headless Chromium: hooks, highlighting, box placement, safety."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from review_helpers import PRINTED, invoice_record, open_report, write_report
from typer.testing import CliRunner

from qvl_cli.cli import app

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "</script><img src=x onerror=alert(1)>"


def leaf_pointers(value: Any, pointer: str = "") -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in leaf_pointers(item, f"{pointer}/{key}")]
    if isinstance(value, list) and value:
        return [leaf for i, item in enumerate(value) for leaf in leaf_pointers(item, f"{pointer}/{i}")]
    return [pointer]


def test_report_is_quiet_offline_and_has_every_hook(chromium: Any, tmp_path: Path, invoice_pdf: Path) -> None:
    record = invoice_record(invoice_pdf)
    bare = invoice_record(invoice_pdf, evidence=False, file=str(invoice_pdf), pages=[])
    opened = open_report(chromium, write_report(tmp_path, [record, bare]))
    page = opened.page
    errors = [line for line in opened.console if line.startswith("error")]
    assert errors == [] and opened.requests == [] and opened.dialogs == []
    for index in (1, 2):
        doc = page.locator(f"#doc-{index}")
        rows = doc.locator("[data-pointer]").evaluate_all("rows => rows.map(r => r.getAttribute('data-pointer'))")
        assert sorted(rows) == sorted(leaf_pointers(record["data"]))
        assert doc.locator("img[data-page='1']").count() == 1 and doc.locator("img[data-page='2']").count() == 1
    first_boxes = page.locator("#doc-1 [data-evidence]").evaluate_all("b => b.map(x => x.dataset.evidence)")
    assert sorted(first_boxes) == sorted(PRINTED)
    assert page.locator("#doc-2 [data-evidence]").count() == 0  # no evidence: fields without boxes
    opened.page.close()


@pytest.mark.parametrize("pointer", ["/invoice_number", "/line_items/1/amount", "/total"])
def test_clicking_a_field_highlights_its_box_over_the_right_region(
    chromium: Any, tmp_path: Path, invoice_pdf: Path, pointer: str
) -> None:
    record = invoice_record(invoice_pdf)
    opened = open_report(chromium, write_report(tmp_path, [record]))
    page = opened.page
    box = page.locator(f'[data-evidence="{pointer}"]')
    assert "selected" not in (box.get_attribute("class") or "")
    page.locator(f'[data-pointer="{pointer}"]').click()
    assert "selected" in (box.get_attribute("class") or "")
    style = box.evaluate("b => { const s = getComputedStyle(b); return [s.outlineStyle, s.outlineColor]; }")
    assert style[0] == "solid" and style[1] == "rgb(9, 105, 218)"
    evidence = record["evidence"][pointer]
    image = page.locator(f"#doc-1 img[data-page='{evidence['page']}']").bounding_box()
    placed = box.bounding_box()
    x0, y0, x1, y1 = evidence["boxes"][0]
    expected = (
        image["x"] + x0 * image["width"],
        image["y"] + y0 * image["height"],
        (x1 - x0) * image["width"],
        (y1 - y0) * image["height"],
    )
    actual = (placed["x"], placed["y"], placed["width"], placed["height"])
    assert actual == pytest.approx(expected, abs=1.0)
    # The box is in view after the click (it was scrolled to).
    assert 0 <= placed["y"] and placed["y"] + placed["height"] <= page.viewport_size["height"]
    opened.page.close()


def test_clicking_a_box_selects_its_field_and_keys_step_through(
    chromium: Any, tmp_path: Path, invoice_pdf: Path
) -> None:
    record = invoice_record(invoice_pdf)
    invalid = invoice_record(invoice_pdf, valid=False, errors=[{"path": "/total", "message": "total is wrong"}])
    opened = open_report(chromium, write_report(tmp_path, [record, invalid]))
    page = opened.page
    page.locator('#doc-1 [data-pointer="/invoice_number"]').hover()
    assert "hover" in (page.locator('#doc-1 [data-evidence="/invoice_number"]').get_attribute("class") or "")
    page.locator('#doc-1 [data-evidence="/total"]').click()
    row = page.locator('#doc-1 [data-pointer="/total"]')
    assert "selected" in (row.get_attribute("class") or "")
    page.keyboard.press("j")  # the next field after /total is the first field of the next document
    assert page.locator("#doc-2 .field.selected").get_attribute("data-pointer") == "/vendor/name"
    page.keyboard.press("k")
    assert "selected" in (row.get_attribute("class") or "")
    page.keyboard.press("n")
    assert "current" in (page.locator("#doc-2").get_attribute("class") or "")
    page.keyboard.press("p")
    assert "current" in (page.locator("#doc-1").get_attribute("class") or "")
    page.locator("[data-filter-button='invalid']").click()
    assert page.locator("#doc-1").is_hidden() and page.locator("#doc-2").is_visible()
    assert "total is wrong" in page.locator('#doc-2 [data-pointer="/total"]').inner_text()
    opened.page.close()


def test_document_text_cannot_inject_markup_or_script(chromium: Any, tmp_path: Path, invoice_pdf: Path) -> None:
    record = invoice_record(invoice_pdf)
    record["data"]["vendor"]["name"] = HOSTILE
    record["data"][HOSTILE] = HOSTILE
    record["warnings"] = [HOSTILE]
    record["errors"] = [{"path": "/vendor/name", "message": HOSTILE}]
    record["evidence"]["/vendor/name"]["text"] = HOSTILE
    failed = {"file": HOSTILE, "valid": False, "data": None, "error": {"type": HOSTILE, "message": HOSTILE}}
    report = write_report(tmp_path, [record, failed])
    opened = open_report(chromium, report)
    page = opened.page
    assert opened.dialogs == [] and [line for line in opened.console if line.startswith("error")] == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script").count() == 1  # only the report's own
    name = page.locator('[data-pointer="/vendor/name"]')
    assert HOSTILE in name.inner_text()
    key = "/" + HOSTILE.replace("/", "~1")
    assert page.locator("[data-pointer]").evaluate_all("r => r.map(x => x.dataset.pointer)").count(key) == 1
    assert HOSTILE in page.locator("#doc-2").inner_text()
    opened.page.close()


def test_screenshot_of_the_examples_is_not_blank(
    chromium: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image, ImageStat

    monkeypatch.chdir(ROOT)  # the sample records name their files relative to the repository
    report = tmp_path / "review.html"
    result = CliRunner().invoke(app, ["review", "examples/records.jsonl", "-o", str(report)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    opened = open_report(chromium, report)
    assert [line for line in opened.console if line.startswith("error")] == [] and opened.requests == []
    opened.page.locator('[data-pointer="/invoice_date"]').click()
    opened.page.evaluate("window.scrollTo(0, 0)")
    shot = tmp_path / "review.png"
    opened.page.screenshot(path=str(shot))
    image = Image.open(shot).convert("L")
    assert image.size == (1400, 900)
    assert ImageStat.Stat(image).stddev[0] > 20  # text, pages and boxes, not an empty canvas
    # The pages really are drawn: the image area of the first page is not uniform.
    page_box = opened.page.locator("#doc-1 img[data-page='1']").bounding_box()
    crop = image.crop((int(page_box["x"]), 150, int(page_box["x"] + page_box["width"]), 880))
    assert ImageStat.Stat(crop).stddev[0] > 20
    opened.page.close()
