"""What keeps memory flat: a batch renders at most one document per render worker ahead of the
model (plus the batch), and a long document's windows are freed, and their memory given back,
before the next window is rendered."""

from __future__ import annotations

import gc
import json
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
from fake_backend import FakeBackend
from render_helpers import REPLY, extractor, long_pdf, short_pdf

from qvl_cli.backends.contract import Generation, GenerationRequest
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.pool import InlineRenderer, ProcessRenderer
from qvl_cli.pages.windows import LEAST_MIN_PAGE_PIXELS, WindowSettings
from qvl_cli.pages.workers import RenderRequest, RenderResult
from qvl_cli.runs import memory
from qvl_cli.runs import windows as windows_module
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt


class CountingRenderer:
    """A renderer that counts the documents it has rendered (probes, which render nothing, aside)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.parallelism = inner.parallelism
        self.rendered = 0
        self._lock = threading.Lock()

    def run(self, request: RenderRequest) -> RenderResult:
        result = self.inner.run(request)
        if not request.probe:
            with self._lock:
                self.rendered += 1
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class AheadBackend(FakeBackend):
    """A slow model noting, at each document it is given, how many more are rendered and waiting."""

    def __init__(self, renderer: CountingRenderer) -> None:
        super().__init__(replies=[json.dumps(REPLY)] * 50)
        self.renderer = renderer
        self.delay = 1.0  # the model is the slow side: rendering would run far ahead if unbounded
        self.ahead: list[int] = []

    def generate(self, request: GenerationRequest) -> Generation:
        generation = super().generate(request)  # rendering goes on meanwhile
        self.ahead.append(self.renderer.rendered - len(self.ahead) - 1)
        return generation


class Sink:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def write(self, record: Any) -> None:
        self.records.append(record)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_batch_renders_at_most_one_document_per_worker_ahead(tmp_path: Path, workers: int) -> None:
    paths = [short_pdf(tmp_path / f"d{i}.pdf", str(i)) for i in range(8)]
    renderer = CountingRenderer(ProcessRenderer(workers))
    backend = AheadBackend(renderer)
    sink = Sink()
    try:
        BatchRunner(extractor(renderer, "off", backend), {}, sink).run(paths)
    finally:
        renderer.close()
    assert len(sink.records) == 8 and all(record.error is None for record in sink.records)
    assert len(backend.ahead) == 8
    assert max(backend.ahead) == workers  # rendering goes ahead, as far as the bound and no further


class WindowBackend(FakeBackend):
    """Notes each model call in ``events`` and keeps weak references to the pages it was shown."""

    def __init__(self, events: list[Any]) -> None:
        super().__init__(replies=[json.dumps(REPLY)] * 50)
        self.events = events
        self.seen: list[weakref.ref[Any]] = []

    def generate(self, request: GenerationRequest) -> Generation:
        self.events.append("model")
        self.seen.extend(weakref.ref(image) for image in request.images)
        return super().generate(request)


@pytest.mark.parametrize("workers", [0, 2])
def test_each_window_is_released_before_the_next_is_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Memory is given back before every window and before the evidence, at a time when every page
    image the model was shown is already gone."""
    events: list[Any] = []
    backend = WindowBackend(events)

    def release() -> None:
        gc.collect()
        events.append(("release", sum(ref() is not None for ref in backend.seen)))
        memory.release()

    monkeypatch.setattr(windows_module, "release", release)
    renderer = InlineRenderer() if workers == 0 else ProcessRenderer(workers)
    original = renderer.render_pages

    def render_pages(*args: Any, **kwargs: Any) -> RenderResult:
        events.append("render")
        return original(*args, **kwargs)

    monkeypatch.setattr(renderer, "render_pages", render_pages)
    floor = LEAST_MIN_PAGE_PIXELS
    options = ExtractOptions(budget=PixelBudget(max_total_pixels=floor * 4), windows=WindowSettings(floor))
    schema = load_schema("form")
    engine = Extractor(schema, load_prompt(None, schema), options, lambda: backend, renderer)
    try:
        record = engine.extract(long_pdf(tmp_path / "long.pdf", 14)).to_dict()
    finally:
        renderer.close()
    windows = len(record["windows"])
    assert windows > 2 and record.get("error") is None
    assert events == [("release", 0), "render", "model"] * windows + [("release", 0)]


def test_release_collects_garbage_and_trims_the_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(memory.gc, "collect", lambda *args: calls.append("gc") or 0)
    monkeypatch.setattr(memory, "_malloc_trim", lambda: lambda pad: calls.append(("trim", pad)) or 1)
    memory.release()
    assert calls == ["gc", ("trim", 0)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's (Linux)")
def test_malloc_trim_is_found_on_linux() -> None:
    trim = memory._malloc_trim()
    assert trim is not None and trim(0) in (0, 1)
