"""The Python API: ``from qvl_cli import extract, Extractor``, as the README shows it."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, cli, records
from fake_backend import FakeBackend
from fake_openai_server import FakeOpenAIServer
from pdf_factory import PageSpec, write_pdf
from PIL import Image

from qvl_cli import Envelope, Extractor, extract
from qvl_cli.backends.contract import register_backend
from qvl_cli.errors import QvlError
from qvl_cli.settings import ModelSettings, Settings, SettingsError

EXAMPLE_MODEL_LINE = 'MODEL = "Qwen/Qwen2-VL-2B-Instruct"  # a hub id or a local folder'


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Python API") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```", start)]


def readme_steps() -> list[str]:
    """The example in its steps, each opened by a comment: imports, one call, many documents, images."""
    return re.split(r"\n\n(?=# )", readme_example().strip())


@pytest.mark.slow
def test_the_readme_example_runs_on_the_tiny_model(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each step of the example runs as written (with the tiny model), and each step's own result
    is checked before the next step rebinds ``envelope``."""
    code = readme_example()
    assert EXAMPLE_MODEL_LINE in code
    steps = readme_steps()
    assert len(steps) == 4 and [step.splitlines()[0] for step in steps[1:]] == [
        "# One call: load the model, extract one document, return its envelope.",
        "# Many documents: the model is loaded once, on the first document that needs it.",
        "# Pages you already have as images (a scanner, another PDF library): one image per page.",
    ]
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}

    def run(step: str) -> list[str]:
        step = step.replace(EXAMPLE_MODEL_LINE, f"MODEL = {str(tiny_model_dir)!r}")
        exec(compile(step, "README.md", "exec"), namespace)
        return capsys.readouterr().out.splitlines()

    assert run(steps[0]) == [] and namespace["MODEL"] == str(tiny_model_dir)

    # One call.
    printed = run(steps[1])
    one = namespace["envelope"]
    assert isinstance(one, Envelope) and one.error is None
    assert one.file == "examples/invoice.pdf" and one.schema == "invoice" and one.page_count == 2
    assert one.model is not None and one.model["id"] == str(tiny_model_dir)
    assert one.budget is not None and one.budget["max_new_tokens"] == 256
    assert 0 < one.usage.generated_tokens <= 256
    assert printed == [f"{one.valid} {one.data} {one.errors}"]

    # Many documents: one line each, in input order, from the extractor's own settings.
    printed = run(steps[2])
    extractor = namespace["extractor"]
    last = namespace["envelope"]
    assert extractor.settings.render.max_pixels == 500_000 and extractor.settings.run.cache is False
    assert [line.split(" ")[0] for line in printed] == ["examples/form.png", "examples/chart.png"]
    assert last.file == "examples/chart.png" and last.error is None and last is not one
    assert printed[1] == f"examples/chart.png {last.valid} {last.usage.generated_tokens}"
    assert all(page["size"][0] * page["size"][1] <= 500_000 for page in last.pages)

    # Pages as images.
    assert run(steps[3]) == []
    scan, record = namespace["envelope"], namespace["record"]
    assert scan.file == "scan-0001" and scan.page_count == 1 and scan.error is None
    assert scan.schema == "form" and scan.usage.generated_tokens > 0
    assert record == scan.to_dict() and json.loads(json.dumps(record)) == record


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


def test_validating_imports_no_grammar_builder() -> None:
    """What a command that validates imports is what qvl installs: jsonschema without
    rfc3987-syntax, which builds a grammar when imported (1.4 s). A leftover of an older
    install: ``pip uninstall rfc3987-syntax``."""
    code = (
        "import sys\nfrom qvl_cli.cli import main\n"
        "sys.argv = ['qvl', 'validate', 'examples/records.jsonl', '--schema', 'invoice']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    print(exit.code)\n"
        "print(sorted(m for m in ('jsonschema', 'rfc3987_syntax', 'lark') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    *_, code_line, imported = result.stdout.splitlines()
    assert code_line in ("0", "1") and imported == "['jsonschema']", result.stdout + result.stderr  # it validated


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


FORM = {"title": "Loan", "fields": [], "checkboxes": [], "signatures": []}


def test_the_api_reads_no_environment_variable_and_no_configuration_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same settings in the environment and a .qvl.toml change what ``qvl extract`` does in
    that folder, and not what the API does."""
    pdf = write_pdf(tmp_path / "two.pdf", [PageSpec(lines=("Loan application", "Name: Maria"))] * 2)
    (tmp_path / ".qvl.toml").write_text("max_new_tokens = 77\nreasks = 0\nmin_confidence = 0.99\n")
    monkeypatch.chdir(tmp_path)
    environment = {
        "QVL_MODEL": "model-from-env",
        "QVL_MAX_PIXELS": "200000",
        "QVL_EVIDENCE": "off",
        "QVL_MAX_PAGES": "5",
        "QVL_PDF_PASSWORD": "unused",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QVL_FAKE_REPLIES", json.dumps([json.dumps(FORM)]))

    assert Extractor("form").settings == Settings()
    envelope = extract(pdf, schema="form", backend="fake", cache=False)
    assert envelope.error is None and envelope.page_count == 2
    assert envelope.model is not None and envelope.model["id"] == "Qwen/Qwen2-VL-2B-Instruct"
    assert envelope.budget is not None and envelope.budget["max_pixels"] == 1003520
    assert envelope.budget["max_new_tokens"] != 77 and envelope.evidence is not None

    result = cli("extract", str(pdf), "-s", "form", "--backend", "fake", "--no-cache")  # the CLI reads both
    assert result.exit_code == 0, result.output
    (record,) = records(result.stdout)
    assert record["model"]["id"] == "model-from-env" and record["budget"]["max_pixels"] == 200000
    assert record["budget"]["max_new_tokens"] == 77 and record["evidence"] is None


def test_a_document_that_cannot_be_read_gives_an_error_envelope_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QVL_FAKE_REPLIES", json.dumps([json.dumps(FORM)]))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnot really a PDF\n")
    locked = write_pdf(tmp_path / "locked.pdf", [PageSpec(lines=("Loan",))], password="pw")
    good = write_pdf(tmp_path / "good.pdf", [PageSpec(lines=("Loan",))])
    with Extractor("form", backend="fake", cache=False) as extractor:
        envelopes = extractor.extract_many([broken, locked, tmp_path / "missing.png", good])
    assert [envelope.file for envelope in envelopes] == [
        str(broken),
        str(locked),
        str(tmp_path / "missing.png"),
        str(good),
    ]
    assert [envelope.status for envelope in envelopes] == ["input", "encrypted", "input", "valid"]
    assert envelopes[1].error is not None and envelopes[1].to_dict()["error"] == {
        "type": "encrypted",
        "message": f"{locked}: PDF is encrypted (pass --password or set QVL_PDF_PASSWORD)",
    }
    assert all(envelope.data is None and not envelope.valid for envelope in envelopes[:3])
    one = extract(locked, schema="form", backend="fake", password="wrong")
    assert one.status == "encrypted" and one.to_dict()["error"]["message"].endswith("wrong password for encrypted PDF")
    assert extract(locked, schema="form", backend="fake", password="pw").error is None


def test_every_qvl_error_is_a_qvl_error_with_an_exit_code() -> None:
    with pytest.raises(QvlError) as raised:
        Extractor("form", max_pixels=10)
    assert isinstance(raised.value, SettingsError) and raised.value.exit_code == 2
    assert str(raised.value) == "max_pixels: 10 is less than the minimum 784"
    with pytest.raises(QvlError, match="unknown schema"):
        Extractor("no-such-schema")


def test_the_model_is_loaded_once_on_the_first_document_that_needs_it(tmp_path: Path) -> None:
    created: list[FakeBackend] = []

    def counting(settings: ModelSettings) -> FakeBackend:
        created.append(FakeBackend(settings, replies=[json.dumps(FORM)] * 3))
        return created[-1]

    register_backend("counting", counting)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    pages = [write_pdf(tmp_path / f"{n}.pdf", [PageSpec(lines=(f"Loan {n}",))]) for n in range(3)]
    with Extractor("form", backend="counting", cache=False) as extractor:
        assert extractor.extract_many([broken])[0].status == "input" and created == []  # nothing needed it yet
        assert [envelope.status for envelope in extractor.extract_many(pages)] == ["valid"] * 3
    assert len(created) == 1 and len(created[0].calls) == 3


def test_the_openai_backend_through_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server answers; budgets apply to the images sent; the key is the one given (the API does
    not read OPENAI_API_KEY)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    pdf = write_pdf(tmp_path / "loan.pdf", [PageSpec(lines=("Loan application",))])
    with FakeOpenAIServer() as server:
        server.script.extend([("ok", json.dumps(FORM)), ("ok", json.dumps(FORM))])
        options = {"backend": "openai", "base_url": server.url, "max_pixels": 100_000, "cache": False}
        with Extractor("form", api_key="sk-given", **options) as extractor:
            with_key = extractor.extract(pdf)
        with Extractor("form", **options) as extractor:
            without_key = extractor.extract(pdf)
    for envelope in (with_key, without_key):
        assert envelope.valid and envelope.data == FORM and envelope.error is None
        assert envelope.model is not None and envelope.model["backend"] == "openai"
        assert envelope.confidence is not None and set(envelope.confidence) == {f"/{key}" for key in FORM}
    assert [headers["authorization"] for headers in server.headers] == ["Bearer sk-given", "Bearer not-needed"]
    url = server.requests[0]["messages"][0]["content"][0]["image_url"]["url"]
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
        assert image.width * image.height <= 100_000 and list(image.size) == with_key.pages[0]["size"]


def test_concurrency_keeps_documents_in_flight_through_the_api(tmp_path: Path) -> None:
    """``concurrency`` documents at the server at once: the first request to arrive is answered
    only after three more came, which needs the documents behind it sent meanwhile."""
    pdfs = [write_pdf(tmp_path / f"f{i}.pdf", [PageSpec(lines=(f"Form {i}",))]) for i in range(5)]
    with FakeOpenAIServer() as server:
        server.script.extend([("wait", 3, json.dumps(FORM)), *[("ok", json.dumps(FORM))] * 4])
        options = {"backend": "openai", "base_url": server.url, "concurrency": 2, "cache": False}
        with Extractor("form", evidence="off", **options) as extractor:
            envelopes = extractor.extract_many(pdfs)
    assert server.released == [True]
    assert [Path(envelope.file).name for envelope in envelopes] == [pdf.name for pdf in pdfs]
    assert all(envelope.valid for envelope in envelopes)
