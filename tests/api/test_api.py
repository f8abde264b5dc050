"""The Python API: ``from qvl_cli import extract, Extractor``, as the README shows it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image

from qvl_cli import Envelope, Extractor, extract
from qvl_cli.settings import SettingsError

EXAMPLE_MODEL_LINE = 'MODEL = "Qwen/Qwen2-VL-2B-Instruct"  # a hub id or a local folder'


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


@pytest.mark.slow
def test_the_readme_example_runs_on_the_tiny_model(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = readme_example()
    assert EXAMPLE_MODEL_LINE in code
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {}
    exec(compile(code.replace(EXAMPLE_MODEL_LINE, f"MODEL = {str(tiny_model_dir)!r}"), "README.md", "exec"), namespace)
    envelope, record = namespace["envelope"], namespace["record"]
    assert isinstance(envelope, Envelope) and envelope.error is None
    assert envelope.file == "scan-0001" and envelope.page_count == 1 and envelope.model is not None
    assert envelope.model["id"] == str(tiny_model_dir) and envelope.usage.generated_tokens > 0
    assert record == envelope.to_dict() and json.dumps(record)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    assert printed[1].startswith("examples/form.png ") and printed[2].startswith("examples/chart.png ")


def test_the_api_gives_the_envelope_the_cli_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden record of examples/invoice.pdf (made by ``qvl extract``) from the API."""
    reply = (ROOT / "examples" / "invoice.expected.json").read_text()
    monkeypatch.setenv("QVL_FAKE_REPLIES", json.dumps([reply]))
    monkeypatch.chdir(ROOT)
    envelope = extract("examples/invoice.pdf", schema="invoice", backend="fake", cache=False)
    golden = json.loads((ROOT / "tests" / "runs" / "golden" / "examples.jsonl").read_text().splitlines()[0])
    assert {k: v for k, v in envelope.to_dict().items() if k != "seconds"} == golden


def test_page_images_are_budgeted_and_keyed_by_their_pixels() -> None:
    extractor = Extractor("form", backend="fake", max_pixels=100_000)
    page = Image.new("RGB", (1700, 2200), "white")
    page.paste((0, 0, 0), (100, 100, 900, 140))  # some ink, so the page is not blank
    first = extractor.extract([page, page.convert("L")], name="scan")
    assert first.file == "scan" and first.page_count == 2 and first.error is None
    assert all(p["size"][0] * p["size"][1] <= 100_000 for p in first.pages)
    assert extractor.extract([page, page], name="again").key == first.key  # same pixels, same key
    page.paste((0, 0, 0), (100, 300, 900, 340))
    assert extractor.extract([page, page]).key != first.key


def test_settings_are_keyword_arguments_checked_like_any_layer() -> None:
    with pytest.raises(SettingsError, match=r"^max_pixels: 10 is less than the minimum 784$"):
        Extractor("form", max_pixels=10)
    with pytest.raises(SettingsError, match=r"unknown setting 'max_pixel'"):
        Extractor("form", max_pixel=10)
    assert Extractor("form", model="m", dtype="float32").settings.model.dtype == "float32"


def test_import_qvl_cli_is_light() -> None:
    code = "import sys, qvl_cli; qvl_cli.__version__; print(sorted(m for m in ('torch', 'PIL', 'transformers', 'jsonschema', 'typer') if m in sys.modules))"  # noqa: E501
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_page_images_get_evidence_from_ocr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages given as images have no text layer: their evidence comes from OCR of the pixels, and
    a value the page does not print is reported, not located."""
    from PIL import ImageDraw, ImageFont

    page = Image.new("RGB", (900, 500), "white")
    draw = ImageDraw.Draw(page)
    draw.text((60, 60), "INVOICE NW-2024-0117", fill="black", font=ImageFont.load_default(size=36))
    draw.text((60, 300), "TOTAL 598.57", fill="black", font=ImageFont.load_default(size=36))
    schema = tmp_path / "bill.json"
    properties = {"invoice_number": {"type": "string"}, "total": {"type": "number"}}
    schema.write_text(json.dumps({"type": "object", "properties": properties}))
    monkeypatch.setenv("QVL_CACHE_DIR", str(tmp_path / "cache"))
    reply = {"invoice_number": "NW-2024-0117", "total": 7919.37}  # the total is not printed
    monkeypatch.setenv("QVL_FAKE_REPLIES", json.dumps([json.dumps(reply)]))
    envelope = Extractor(schema, backend="fake", cache=False).extract([page], name="scan")
    assert envelope.evidence is not None
    found = envelope.evidence["/invoice_number"]
    assert found is not None and found["source"] == "ocr" and found["page"] == 1
    x0, y0, x1, y1 = found["boxes"][0]
    assert 0.05 < x0 < x1 < 0.8 and 0.08 < y0 < y1 < 0.25
    assert envelope.evidence["/total"] is None
    assert "/total 7919.37 does not appear in the document" in envelope.warnings
    assert envelope.valid  # a warning, not an error, unless evidence is required


def _invoice(**values: object) -> str:
    empty: dict[str, object] = {"vendor": {"name": None, "address": None, "tax_id": None}}
    empty |= {"customer": {"name": None, "address": None}, "line_items": []}
    empty |= dict.fromkeys(("invoice_number", "invoice_date", "due_date", "currency", "subtotal", "tax", "total"))
    return json.dumps(empty | values)


def _numbered_page(number: int) -> Image.Image:
    from PIL import ImageDraw, ImageFont

    page = Image.new("RGB", (1240, 1754), "white")
    ImageDraw.Draw(page).text((120, 160), f"INV-{1000 + number}", fill="black", font=ImageFont.load_default(size=72))
    return page


def test_many_page_images_are_read_in_windows_like_a_long_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    floor = 256 * 28 * 28
    cap = 6 * floor
    monkeypatch.setenv("QVL_FAKE_REPLIES", json.dumps([_invoice()] * 40))
    extractor = Extractor("invoice", backend="fake", max_total_pixels=cap, min_page_pixels=floor, evidence="off")
    images = [_numbered_page(n) for n in range(1, 61)]
    envelope = extractor.extract(images, name="pile")
    record = envelope.to_dict()
    assert envelope.page_count == 60 and [p["page"] for p in record["pages"]] == list(range(1, 61))
    assert all(p["size"][0] * p["size"][1] >= floor for p in record["pages"])  # the floor applies
    windows = record["windows"]
    assert len(windows) > 10 and windows[0]["pages"][0] == 1 and windows[-1]["pages"][1] == 60
    assert all(after["pages"][0] == before["pages"][1] for before, after in zip(windows, windows[1:], strict=False))
    assert all(w["visual_tokens"] * 28 * 28 <= cap for w in windows)  # and so does --max-total-pixels
    assert record["prompt"].endswith("+window-v1") and envelope.evidence is None
    assert extractor.extract(images, name="pile").key == envelope.key  # same pixels, same key
    fits = Extractor("invoice", backend="fake", evidence="off").extract(images[:3])
    assert "windows" not in fits.to_dict() and fits.page_count == 3


def test_page_images_read_in_windows_get_evidence_from_ocr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QVL_FAKE_REPLIES", json.dumps([_invoice(), _invoice(invoice_number="INV-1003")]))
    extractor = Extractor("invoice", backend="fake", window_pages=2, window_overlap=0)
    envelope = extractor.extract([_numbered_page(n) for n in range(1, 5)], name="scans")
    assert envelope.origin is not None and envelope.origin["/invoice_number"] == [3, 4]
    assert envelope.evidence is not None
    found = envelope.evidence["/invoice_number"]
    assert found is not None and found["page"] == 3 and found["source"] == "ocr"
    assert envelope.valid and len(envelope.to_dict()["windows"]) == 2
