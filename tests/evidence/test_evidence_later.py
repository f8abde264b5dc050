"""A scan's OCR runs in a render worker beside the model: the document reaches the model as soon as
its pages are drawn, and grounding waits for the OCR only when it needs it. The evidence is the
same as with in-process rendering (the closer look included); a crash or a stuck OCR is that
document's error record, and the batch goes on."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from PIL import Image, ImageDraw, ImageFont
from render_hooks import crash_in_closer_look, crash_in_ocr, hang_in_closer_look, stall_ocr

from qvl_cli.evidence import reread
from qvl_cli.evidence.later import page_text
from qvl_cli.evidence.locate import locate
from qvl_cli.evidence.pages import PENDING
from qvl_cli.pages.pool import InlineRenderer, ProcessRenderer, Renderer
from qvl_cli.pages.rasterize import RenderedDocument
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

FORM = {
    "title": "APPLICATION FORM",
    "fields": [{"key": "Fax Number", "value": "555-0199"}, {"key": "Date", "value": "555-0198"}],
    "checkboxes": [],
    "signatures": [],
}
TEXT = {"title": "Order 12", "fields": [{"key": "Total", "value": "5.00"}], "checkboxes": [], "signatures": []}


def form_scan(path: Path, title: str = "APPLICATION FORM") -> Path:
    """A scanned form whose fax number is printed too small for the page's OCR to read it (a
    closer look beside its key reads it)."""
    image = Image.new("RGB", (1600, 1100), "white")
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=30), ImageFont.load_default(size=9)
    draw.text((100, 100), title, fill="black", font=big)
    draw.text((100, 300), "Fax Number", fill="black", font=big)
    draw.text((110, 345), "555-0199", fill="black", font=small)
    draw.text((100, 600), "Date", fill="black", font=big)
    image.save(path)
    return path


def extractor(replies: list[dict], renderer: Renderer, **options) -> Extractor:  # type: ignore[no-untyped-def]
    schema = load_schema("form")
    fake = FakeBackend(replies=[json.dumps(reply) for reply in replies])
    return Extractor(schema, load_prompt(None, schema), ExtractOptions(**options), lambda: fake, renderer)


def batch(  # type: ignore[no-untyped-def]
    paths: list[Path], replies: list[dict], renderer: Renderer, calls: list | None = None, **options
) -> list[Envelope]:
    """The records of a batch run; ``calls`` gets the model's calls."""
    records: list[Envelope] = []
    sink = type("Sink", (), {"write": lambda self, record: records.append(record)})()
    engine = extractor(replies, renderer)
    try:
        BatchRunner(engine, {}, sink, **options).run(paths)
    finally:
        renderer.close()
    if calls is not None:
        calls.extend(engine.backend.calls)  # type: ignore[attr-defined]
    return records


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    text = write_pdf(tmp_path / "order.pdf", [PageSpec(lines=("Order 12", "Total 5.00"))])
    return [form_scan(tmp_path / "form.png"), text, form_scan(tmp_path / "form2.png", "MEMBERSHIP FORM")]


def test_a_scan_reaches_the_model_before_its_ocr_is_read(inputs: list[Path]) -> None:
    with ProcessRenderer(2) as renderer:
        document = extractor([], renderer).load(inputs[0])
        assert isinstance(document, RenderedDocument)
        assert document.text is not None and [page.source for page in document.text] == [PENDING]
        text = page_text(document)  # the worker's OCR, waited for
    assert text is not None and [page.source for page in text] == ["ocr"]
    assert "Date" in [line.text for line in text[0].lines]
    with InlineRenderer() as inline:  # --render-workers 0: read with the pages, as before
        document = extractor([], inline).load(inputs[0])
    assert isinstance(document, RenderedDocument) and document.text_later is None and document.text == text
    # The page's OCR does not hold the small fax number: only a closer look can find it.
    assert locate(FORM, list(text)).evidence["/fields/0/value"] is None


@pytest.mark.parametrize("batch_size", [1, 2])
def test_evidence_with_workers_is_the_evidence_read_in_process(
    inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    """The pages' OCR and the closer look run in the workers, and give what they give in-process."""
    real, here = reread.read_region, []
    monkeypatch.setattr(reread, "read_region", lambda *args: here.append(1) or real(*args))
    replies = [FORM, TEXT, FORM | {"title": "MEMBERSHIP FORM"}]
    runs, regions = {}, {}
    for name, renderer in (("workers", ProcessRenderer(2)), ("in-process", InlineRenderer())):
        monkeypatch.setenv("QVL_CACHE_DIR", str(tmp_path / name))  # each run reads every page itself
        runs[name] = batch(inputs, replies, renderer, batch_size=batch_size)
        regions[name] = len(here)
    assert regions["workers"] == 0 and regions["in-process"] > 0  # no region read in this process
    for records in runs.values():
        assert [Path(record.file).name for record in records] == ["form.png", "order.pdf", "form2.png"]
        assert all(record.error is None and record.evidence is not None for record in records)
    assert [r.evidence for r in runs["workers"]] == [r.evidence for r in runs["in-process"]]
    assert [r.warnings for r in runs["workers"]] == [r.warnings for r in runs["in-process"]]
    form = runs["workers"][0].evidence
    assert form is not None and form["/fields/0/value"] is not None  # found by the closer look
    assert form["/fields/0/value"]["text"] == "555-0199" and form["/fields/1/value"] is None
    total = runs["workers"][1].evidence
    assert total is not None and total["/fields/0/value"] is not None and total["/fields/0/value"]["source"] == "text"


@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize(("hook", "kind"), [(stall_ocr, "timeout"), (crash_in_ocr, "crash")])
def test_a_stuck_or_crashing_ocr_is_that_documents_error_record(  # type: ignore[no-untyped-def]
    inputs: list[Path], hook, kind: str, batch_size: int
) -> None:
    # 10 s: room for a busy machine (a worker's start-up is not counted)
    renderer = ProcessRenderer(2, timeout=10.0, hook=partial(hook, "form.png"))
    calls: list = []
    records = batch(inputs[:2], [FORM, TEXT], renderer, calls, batch_size=batch_size)
    assert len(calls) == 2  # the scan went to the model; its OCR, a task of its own, failed after
    assert [Path(record.file).name for record in records] == ["form.png", "order.pdf"]
    failed, fine = records
    assert failed.error is not None and failed.error.type == kind and not failed.valid
    assert failed.error.message.startswith(str(inputs[0]))
    assert fine.error is None and fine.evidence is not None and fine.evidence["/title"] is not None


def test_a_crashing_closer_look_leaves_the_value_not_found_and_keeps_the_record(
    inputs: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    renderer = ProcessRenderer(2, hook=partial(crash_in_closer_look, "form.png"))
    records = batch(inputs, [FORM, TEXT, FORM | {"title": "MEMBERSHIP FORM"}], renderer)
    assert [record.error for record in records] == [None, None, None]
    form, _, other = (record.evidence for record in records)
    assert form is not None and form["/fields/0/key"] is not None and form["/fields/0/value"] is None
    assert '/fields/0/value "555-0199" does not appear in the document' in records[0].warnings
    assert "page 1 not read again" in caplog.text and "crash" in caplog.text.lower()
    assert other is not None and other["/fields/0/value"] is not None  # the next scan's closer look still works


def test_a_closer_look_past_the_render_timeout_leaves_the_value_not_found_and_keeps_the_record(
    inputs: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """The closer look is bounded by ``--render-timeout`` as a page is: a stuck one is stopped, its
    value stays not found with its warning, and the record and the batch go on."""
    # 10 s: room for a busy machine to render and OCR the pages themselves (also bounded by it)
    renderer = ProcessRenderer(2, timeout=10.0, hook=partial(hang_in_closer_look, "form.png"))
    records = batch(inputs, [FORM, TEXT, FORM | {"title": "MEMBERSHIP FORM"}], renderer)
    assert [record.error for record in records] == [None, None, None]
    form, _, other = (record.evidence for record in records)
    assert form is not None and form["/fields/0/key"] is not None and form["/fields/0/value"] is None
    assert '/fields/0/value "555-0199" does not appear in the document' in records[0].warnings
    assert "page 1 not read again" in caplog.text and "10 s" in caplog.text
    assert other is not None and other["/fields/0/value"] is not None  # the next scan's closer look still works
