"""In a batch, a document is grounded behind the model: its page OCR and its closer look are
waited for while the model reads the next document. Real generation on the tiny model (a schema
of constants makes its answers known), real PDFs and images through pypdfium2 and Pillow, real
OCR in the render workers: the records are those of the synchronous path, in input order; the
model is only called from the thread running the batch; a crashing or stuck closer look leaves
its value not found and the batch goes on."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pdf_factory import PageSpec, write_pdf
from PIL import Image, ImageDraw, ImageFont
from render_hooks import crash_in_closer_look, hang_in_closer_look, hold_closer_look

from qvl_cli.backends.contract import Backend, GenerationRequest, ModelInfo, Outcome
from qvl_cli.pages.pool import InlineRenderer, ProcessRenderer, Renderer
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt
from qvl_cli.settings import ModelSettings

pytestmark = pytest.mark.slow

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"const": "APPLICATION FORM"},
        "fax": {
            "type": "object",
            "properties": {"key": {"const": "Fax Number"}, "value": {"const": "555-0199"}},
            "required": ["key", "value"],
            "additionalProperties": False,
        },
        "total": {"const": 5.0},
    },
    "required": ["title", "fax", "total"],
    "additionalProperties": False,
}
NOT_SEEN = ("seconds", "key")  # how long it took, and the batch's cache key


def form_scan() -> Image.Image:
    """A scanned form whose fax number is printed too small for the page's OCR to read it (a
    closer look beside its label reads it)."""
    image = Image.new("RGB", (1600, 1100), "white")
    draw = ImageDraw.Draw(image)
    big, small = ImageFont.load_default(size=30), ImageFont.load_default(size=9)
    draw.text((100, 100), "APPLICATION FORM", fill="black", font=big)
    draw.text((100, 300), "Fax Number", fill="black", font=big)
    draw.text((110, 345), "555-0199", fill="black", font=small)
    draw.text((100, 600), "Date", fill="black", font=big)
    return image


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    """A scanned image, a PDF with a text layer and a scanned PDF (an image, no text layer)."""
    form_scan().save(tmp_path / "form.png")
    text = write_pdf(tmp_path / "order.pdf", [PageSpec(lines=("Order 12", "Total 5.00"))])
    form_scan().save(tmp_path / "scan.pdf", resolution=200.0)  # drawn at qvl's 200 dpi: the same pixels
    return [tmp_path / "form.png", text, tmp_path / "scan.pdf"]


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> Backend:
    from qvl_cli.backends.transformers import TransformersBackend

    return TransformersBackend(ModelSettings(model=str(tiny_model_dir), device="cpu"))


class Recorded:
    """The tiny model, noting each call (and its thread) in ``events``; the ``touch_at``-th call
    creates the file ``go`` before it generates."""

    def __init__(self, model: Backend, events: list[str], go: Path | None = None, touch_at: int = 2) -> None:
        self.model, self.events, self.go, self.touch_at = model, events, go, touch_at
        self.threads: set[threading.Thread] = set()

    @property
    def info(self) -> ModelInfo:
        return self.model.info

    def generate(self, request: GenerationRequest) -> Any:
        self._note()
        return self.model.generate(request)

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Outcome]:
        self._note()
        return self.model.generate_batch(requests)

    def _note(self) -> None:
        self.threads.add(threading.current_thread())
        self.events.append(f"generate {sum(event.startswith('generate') for event in self.events) + 1}")
        if self.go is not None and self.events[-1] == f"generate {self.touch_at}":
            self.go.touch()


def extractor(backend: Backend, renderer: Renderer, tmp_path: Path) -> Extractor:
    path = tmp_path / "constants.json"
    path.write_text(json.dumps(SCHEMA))
    schema = load_schema(str(path))
    return Extractor(schema, load_prompt(None, schema), ExtractOptions(max_new_tokens=120), lambda: backend, renderer)


def batch(engine: Extractor, paths: list[Path], events: list[str] | None = None, **options: Any) -> list[Envelope]:
    """The records of a batch run, each noted in ``events`` as it is written."""
    records: list[Envelope] = []

    def write(record: Envelope) -> None:
        records.append(record)
        if events is not None:
            events.append(f"record {Path(record.file).name}")

    sink = type("Sink", (), {"write": lambda self, record: write(record)})()
    try:
        BatchRunner(engine, {}, sink, **options).run(paths)
    finally:
        engine.renderer.close()
    return records


def one_by_one(engine: Extractor, paths: list[Path]) -> list[Envelope]:
    """The synchronous path: each document loaded, answered and grounded before the next."""
    try:
        return [engine.extract_document(engine.load(path), time.perf_counter()) for path in paths]
    finally:
        engine.renderer.close()


def digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


def seen(record: Envelope) -> dict[str, Any]:
    return {key: value for key, value in record.to_dict().items() if key not in NOT_SEEN}


@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize("workers", [2, 0])
def test_grounding_behind_the_model_gives_the_records_of_the_synchronous_path(
    model: Backend, inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int, workers: int
) -> None:
    def renderer() -> Renderer:
        return ProcessRenderer(workers) if workers else InlineRenderer()

    monkeypatch.setenv("QVL_CACHE_DIR", str(tmp_path / "batch"))  # each run reads every page and region itself
    events: list[str] = []
    recorded = Recorded(model, events)
    records = batch(extractor(recorded, renderer(), tmp_path), inputs, batch_size=batch_size)
    monkeypatch.setenv("QVL_CACHE_DIR", str(tmp_path / "alone"))
    alone = one_by_one(extractor(model, renderer(), tmp_path), inputs)
    assert [Path(record.file).name for record in records] == ["form.png", "order.pdf", "scan.pdf"]
    assert [seen(record) for record in records] == [seen(record) for record in alone]
    assert recorded.threads == {threading.current_thread()}  # the model only ever ran on the batch's thread
    form, order, scan = (record.evidence for record in records)
    assert form is not None and order is not None and scan is not None
    for evidence in (form, scan):  # the scans: read with OCR, the fax number found by the closer look
        assert evidence["/title"] is not None and evidence["/title"]["source"] == "ocr"
        assert evidence["/fax/value"] is not None and digits(evidence["/fax/value"]["text"]) == "5550199"
        assert evidence["/total"] is None
    assert order["/total"] is not None and order["/total"]["source"] == "text" and order["/title"] is None
    assert '/fax/value "555-0199" does not appear in the document' in records[1].warnings


@pytest.mark.parametrize("batch_size", [1, 2])
def test_the_next_document_is_generated_while_the_previous_one_is_grounded(
    model: Backend, inputs: list[Path], tmp_path: Path, batch_size: int
) -> None:
    """The closer look at the first scan is held until the model starts on a later document
    (run one by one, it would wait 30 s in vain and write its record first)."""
    go, log = tmp_path / "go", tmp_path / "closer.log"
    events: list[str] = []
    paths = [inputs[0], inputs[1]] if batch_size == 1 else inputs  # the second model call
    renderer = ProcessRenderer(2, hook=partial(hold_closer_look, "form.png", str(go), str(log)))
    records = batch(extractor(Recorded(model, events, go), renderer, tmp_path), paths, events, batch_size=batch_size)
    assert log.read_text() == "released\n"  # the closer look was still waiting when the model started again
    names = [Path(path).name for path in paths]
    assert events == ["generate 1", "generate 2"] + [f"record {name}" for name in names]
    assert [Path(record.file).name for record in records] == names
    form = records[0].evidence
    assert form is not None and form["/fax/value"] is not None and digits(form["/fax/value"]["text"]) == "5550199"


@pytest.mark.parametrize("batch_size", [1, 2])
@pytest.mark.parametrize(("hook", "kind"), [(crash_in_closer_look, "crash"), (hang_in_closer_look, "timeout")])
def test_a_crashing_or_stuck_closer_look_in_a_batch_keeps_every_record(  # type: ignore[no-untyped-def]
    model: Backend,
    inputs: list[Path],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    hook,
    kind: str,
    batch_size: int,
) -> None:
    # 10 s: room for a busy machine (a worker's start-up is not counted)
    renderer = ProcessRenderer(2, timeout=10.0, hook=partial(hook, "form.png"))
    records = batch(extractor(model, renderer, tmp_path), inputs, batch_size=batch_size)
    assert [Path(record.file).name for record in records] == ["form.png", "order.pdf", "scan.pdf"]
    assert [record.error for record in records] == [None, None, None]
    form, order, scan = (record.evidence for record in records)
    assert form is not None and form["/title"] is not None and form["/fax/value"] is None
    assert '/fax/value "555-0199" does not appear in the document' in records[0].warnings
    assert "page 1 not read again" in caplog.text and kind in caplog.text.lower()
    assert order is not None and order["/total"] is not None
    assert scan is not None and scan["/fax/value"] is not None  # the next scan's closer look still works
