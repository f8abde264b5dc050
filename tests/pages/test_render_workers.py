"""Rendering in worker processes: same pixels and records as in-process, pages spread over the
workers, input errors and options checked, OCR done where a page is rendered (crashes, timeouts
and interrupts: test_render_worker_failures.py)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import pytest
from fake_backend import FakeBackend
from render_helpers import BUDGET, REPLY, long_pdf, photo, run_batch, short_pdf
from render_hooks import log_ocr_threads, log_task

from qvl_cli.backends.contract import Generation, GenerationRequest
from qvl_cli.errors import InputError
from qvl_cli.pages import spawn
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.pool import (
    MAX_TICK,
    TAIL_PAGES,
    InlineRenderer,
    ProcessRenderer,
    default_workers,
    slices,
    tick_every,
    usable_cores,
)
from qvl_cli.pages.windows import LEAST_MIN_PAGE_PIXELS, WindowSettings
from qvl_cli.pages.workers import INLINE_PAGES, SLICE_PAGES, RenderRequest
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.windows import WindowedDocument
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

ROOT = Path(__file__).resolve().parents[2]


def pixels(document) -> list[tuple[int, tuple[int, int], tuple[int, int], str, bytes]]:
    return [(p.number, p.source_size, p.size, p.image.mode, p.image.tobytes()) for p in document.pages]


def test_workers_render_the_same_pixels_as_one_process(tmp_path: Path) -> None:
    documents = [long_pdf(tmp_path / "long.pdf", 3 * INLINE_PAGES + 1), photo(tmp_path / "photo.png")]
    with ProcessRenderer(2) as pool:
        for path in documents:
            request = RenderRequest(str(path), BUDGET, page_spec="1-" if path.suffix == ".pdf" else None)
            inline, spread = InlineRenderer().render(request), pool.render(request)
            assert spread.page_count == inline.page_count and spread.plan == inline.plan
            assert pixels(spread) == pixels(inline)
    assert len(pixels(inline)) == 1 and len(pixels(spread)) == 1
    assert [p.number for p in InlineRenderer().render(RenderRequest(str(documents[0]), BUDGET)).pages] == list(
        range(1, 3 * INLINE_PAGES + 2)
    )


def test_a_long_document_is_spread_over_the_workers(tmp_path: Path) -> None:
    path = long_pdf(tmp_path / "long.pdf", 4 * INLINE_PAGES)
    with ProcessRenderer(2) as pool:
        document = pool.render(RenderRequest(str(path), BUDGET))
        workers = {worker.process.pid for worker in pool._workers}
    assert [page.number for page in document.pages] == list(range(1, 4 * INLINE_PAGES + 1))
    assert len(workers) == 2


def test_start_readies_every_worker_before_the_first_document(tmp_path: Path) -> None:
    """``qvl render`` starts its workers at once: a long document's pages find them all ready
    (by default a second worker starts only when a task finds the first busy)."""
    with ProcessRenderer(2) as pool:
        pool.start()
        started = {worker.process.pid for worker in pool._workers}
        document = pool.render(RenderRequest(str(short_pdf(tmp_path / "one.pdf", "A")), BUDGET))
        assert {worker.process.pid for worker in pool._workers} == started  # no worker started on demand
    assert [page.number for page in document.pages] == [1]
    assert len(started) == 2


def test_qvl_render_starts_every_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from qvl_cli.cli import app

    spawned: list[int] = []
    start = ProcessRenderer.start

    def counting(pool: ProcessRenderer) -> None:
        start(pool)
        spawned.append(len(pool._workers))

    monkeypatch.setattr(ProcessRenderer, "start", counting)
    pdf = short_pdf(tmp_path / "one.pdf", "A")
    result = CliRunner().invoke(app, ["render", str(pdf), "--out", str(tmp_path / "out"), "--render-workers", "2"])
    assert result.exit_code == 0, result.output
    assert spawned == [2]


def test_input_errors_in_a_worker_are_the_same_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a pdf")
    with ProcessRenderer(1) as pool, pytest.raises(InputError, match="cannot open PDF") as caught:
        pool.render(RenderRequest(str(broken), BUDGET))
    assert caught.value.path == str(broken) and caught.value.kind == "input"


def test_records_are_identical_with_and_without_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [long_pdf(tmp_path / "long.pdf", 2 * INLINE_PAGES + 3), photo(tmp_path / "p.png")]
    paths += [short_pdf(tmp_path / f"d{i}.pdf", str(i)) for i in range(3)]

    def run(renderer, cache: Path) -> list[dict]:
        monkeypatch.setenv("QVL_CACHE_DIR", str(cache))  # each run OCRs for itself: no shared cache
        records = run_batch(renderer, paths)
        assert len(list((cache / "ocr").rglob("*.json"))) == 1  # the photo, OCRed in this run
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    spread, inline = run(ProcessRenderer(2), tmp_path / "workers"), run(InlineRenderer(), tmp_path / "inline")
    assert spread == inline


class LoggingBackend(FakeBackend):
    """Notes each model call in the render workers' task log, so the order of both shows."""

    def __init__(self, log: Path, replies: list[str]):
        super().__init__(replies=replies)
        self.log = log

    def generate(self, request: GenerationRequest) -> Generation:
        with self.log.open("a", encoding="utf-8") as out:
            out.write(f"model {len(request.images)}\n")
        return super().generate(request)


def test_windows_are_rendered_one_at_a_time_spread_over_the_workers(tmp_path: Path) -> None:
    path = long_pdf(tmp_path / "long.pdf", 24)
    floor = LEAST_MIN_PAGE_PIXELS
    options = ExtractOptions(budget=PixelBudget(max_total_pixels=floor * 6), windows=WindowSettings(floor))
    schema = load_schema("form")
    log = tmp_path / "tasks.log"

    def run(renderer) -> dict:
        backend = LoggingBackend(log, [json.dumps(REPLY)] * 20)
        engine = Extractor(schema, load_prompt(None, schema), options, lambda: backend, renderer)
        try:
            document = engine.load(path)
            assert isinstance(document, WindowedDocument) and len(document.windows) > 2
            record = engine.extract_document(document, 0.0).to_dict()
        finally:
            renderer.close()
        return {k: v for k, v in record.items() if k != "seconds"}

    spread = run(ProcessRenderer(2, hook=partial(log_task, str(log))))
    lines = [line.split() for line in log.read_text().splitlines()]
    assert lines[0][1] == "measure"
    windows = [w["pages"] for w in spread["windows"]]
    batch: list[list[str]] = []  # render tasks since the last model call
    calls = 0
    for line in lines[1:]:
        if line[0] != "model":
            batch.append(line)
            continue
        first, last = windows[calls]  # the window rendered since the last call is the one the model read
        assert sorted(int(page) for task in batch for page in task[1:]) == list(range(first, last + 1))
        assert int(line[1]) == last - first + 1
        assert len({task[0] for task in batch}) == 2  # its pages were spread over both workers
        batch, calls = [], calls + 1
    assert calls == len(windows) and not batch
    log.unlink()
    assert spread == run(InlineRenderer())


def qvl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qvl_cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--render-workers", "-1"], "--render-workers: -1 is less than the minimum 0"),
        (["--render-timeout", "-2"], "--render-timeout: -2.0 is less than the minimum 0"),
        (["--render-workers", "two"], "--render-workers: 'two' is not an integer"),
    ],
)
def test_render_options_are_checked(tmp_path: Path, args: list[str], message: str) -> None:
    pdf = short_pdf(tmp_path / "a.pdf", "a")
    for command in (["extract", str(pdf), "-s", "form"], ["render", str(pdf), "--out", str(tmp_path / "out")]):
        result = qvl(*command, *args, env={"QVL_BACKEND": "fake"})
        assert result.returncode == 2
        assert message in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_render_workers_default_to_the_cores_capped() -> None:
    assert 1 <= default_workers() <= min(8, os.cpu_count() or 1)


def test_qvl_render_writes_the_same_images_with_workers(tmp_path: Path) -> None:
    pdf = long_pdf(tmp_path / "doc.pdf", INLINE_PAGES + 2)
    for workers in ("0", "2"):
        result = qvl("render", str(pdf), "--out", str(tmp_path / workers), "--max-pixels", "100000",
                     "--render-workers", workers)  # fmt: skip
        assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "0").iterdir())
    assert names == [f"doc-p{n:03d}.png" for n in range(1, INLINE_PAGES + 3)]
    for name in names:
        assert (tmp_path / "0" / name).read_bytes() == (tmp_path / "2" / name).read_bytes()


def test_workers_never_rerun_the_callers_script(tmp_path: Path) -> None:
    """A script without a ``__main__`` guard, even one read from stdin, can use the workers."""
    pdf = long_pdf(tmp_path / "doc.pdf", INLINE_PAGES + 1)
    script = (
        "from qvl_cli.pages.budgets import PixelBudget\n"
        "from qvl_cli.pages.pool import ProcessRenderer\n"
        "from qvl_cli.pages.workers import RenderRequest\n"
        "print('script ran')\n"
        "with ProcessRenderer(2) as pool:\n"
        f"    print(len(pool.render(RenderRequest({str(pdf)!r}, PixelBudget(max_pixels=50_000))).pages), 'pages')\n"
    )
    result = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["script ran", f"{INLINE_PAGES + 1} pages"]


def test_ocr_runs_in_the_render_worker_and_gives_the_same_evidence(tmp_path: Path, monkeypatch) -> None:
    """examples/invoice.pdf is a scan: its page is OCRed by the worker that renders it, the
    results land in the OCR cache, and the evidence is what in-process rendering gives."""
    from qvl_cli.evidence import ocr

    answer = json.loads((ROOT / "examples/invoice.expected.json").read_text()) | {"total": 7919.37}
    schema = load_schema("invoice")

    def extract(renderer, cache: Path) -> dict:
        monkeypatch.setenv("QVL_CACHE_DIR", str(cache))
        fake = FakeBackend(replies=[json.dumps(answer)])
        engine = Extractor(schema, load_prompt(None, schema), ExtractOptions(), lambda: fake, renderer)
        try:
            return engine.extract(ROOT / "examples/invoice.pdf").to_dict()
        finally:
            renderer.close()

    monkeypatch.setattr(ocr, "_ENGINE", None)
    spread = extract(ProcessRenderer(1), tmp_path / "workers")
    assert ocr._ENGINE is None  # this process never built the OCR engine: the worker did the OCR
    assert list((tmp_path / "workers" / "ocr").rglob("*.json"))  # and filled the cache
    inline = extract(InlineRenderer(), tmp_path / "inline")
    assert ocr._ENGINE is not None  # in-process rendering OCRs here
    assert spread["evidence"]["/invoice_number"]["source"] == "ocr"
    assert spread["evidence"]["/total"] is None
    assert spread["evidence"] == inline["evidence"] and spread["warnings"] == inline["warnings"]


@pytest.mark.parametrize("workers", [1, 2])
def test_each_worker_ocrs_on_its_share_of_the_cores(tmp_path: Path, workers: int) -> None:
    """Workers' OCR engines together use the cores once (onnxruntime would give each all)."""
    log = tmp_path / "threads.log"
    scans = [photo(tmp_path / f"scan{i}.png") for i in range(6)]  # tasks after an engine is built
    records = run_batch(ProcessRenderer(workers, hook=partial(log_ocr_threads, str(log))), scans)
    assert all(record["evidence"] is not None for record in records)
    threads = {int(line) for line in log.read_text().split()}
    assert threads == {max(1, usable_cores() // workers)}


def test_the_last_round_of_a_long_document_comes_in_small_slices() -> None:
    """300 pages on 2 workers: slices of 8 pages, the last 2 x 8 in slices of 2 (workers finish
    together); every page once, in order. One worker, or a document of one round, is not cut finer."""
    todo = tuple((index, (595, 842), (840, 1176)) for index in range(300))
    parts = slices(2, todo)
    assert [page for part in parts for page in part] == list(todo)
    assert [len(part) for part in parts[-8:]] == [TAIL_PAGES] * 8
    assert {len(part) for part in parts[:-9]} == {SLICE_PAGES}
    assert {len(part) for part in slices(1, todo)[:-1]} == {SLICE_PAGES}
    assert [len(part) for part in slices(2, todo[:20])] == [8, 8, 4]


@pytest.mark.parametrize(("timeout", "every"), [(math.inf, math.inf), (120.0, MAX_TICK), (2.0, 0.1)])
def test_workers_say_a_page_is_done_only_as_often_as_the_timeout_needs(timeout: float, every: float) -> None:
    assert tick_every(timeout) == every
    with ProcessRenderer(1, timeout if math.isfinite(timeout) else None) as pool:
        assert pool._setup.tick_every == every


def test_page_done_messages_are_held_back_within_their_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten pages done within 0.25 s send one message; a page done after it, another."""
    from qvl_cli.pages import worker_process

    sent: list[bytes] = []
    now = [100.0]
    monkeypatch.setattr(worker_process.time, "monotonic", lambda: now[0])
    tick = worker_process._ticker(SimpleNamespace(send_bytes=sent.append), MAX_TICK)  # type: ignore[arg-type]
    for _ in range(10):
        tick()
        now[0] += 0.02
    assert sent == [worker_process.TICK]
    now[0] += 0.1
    tick()
    assert sent == [worker_process.TICK] * 2


def test_a_held_back_message_never_makes_a_page_time_out_early(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timeout 10 s, messages at most every 0.25 s. Page 1 is done at 0 (message sent), page 2 at
    0.04 (held back), page 3 then takes 10 s less a hair: not overdue, as if the message for page
    2 had been sent; it is once the slack is spent too."""
    from qvl_cli.pages import worker_process

    now = [0.0]
    monkeypatch.setattr(worker_process.time, "monotonic", lambda: now[0])
    inbox: list[bytes] = []
    conn = SimpleNamespace(send=lambda _: None, poll=lambda: bool(inbox), recv_bytes=lambda: inbox.pop(0))
    setup = worker_process.WorkerSetup(tick_every=tick_every(10.0))
    worker = worker_process.WorkerProcess(setup, 10.0, spawn.Spawned(None, conn))  # type: ignore[arg-type]
    inbox.append(worker_process.READY)
    assert worker.give("job", None) and worker.receive() is None  # type: ignore[arg-type]
    tick = worker_process._ticker(SimpleNamespace(send_bytes=inbox.append), setup.tick_every)  # type: ignore[arg-type]
    tick()  # page 1 done at 0
    assert worker.receive() is None and inbox == []
    now[0] = 0.04
    tick()  # page 2 done: held back
    assert worker.receive() is None and inbox == []
    now[0] = 0.04 + 10.0 - 0.001
    assert not worker.overdue()
    now[0] = 10.0 + MAX_TICK + 0.001
    assert worker.overdue()
