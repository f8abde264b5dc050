"""Rendering in worker processes: same pixels as in-process, crashes and stuck pages cost one
document, options checked, and no worker outlives qvl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from PIL import Image, ImageDraw
from render_hooks import abort_on, abort_probing, hang_on, log_task

from qvl_cli.backends.contract import Generation, GenerationRequest
from qvl_cli.errors import InputError
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.pool import InlineRenderer, ProcessRenderer, default_workers
from qvl_cli.pages.windows import LEAST_MIN_PAGE_PIXELS, WindowSettings
from qvl_cli.pages.workers import INLINE_PAGES, RenderRequest
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.runs.windows import WindowedDocument
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

ROOT = Path(__file__).resolve().parents[2]
BUDGET = PixelBudget(max_pixels=120_000, max_total_pixels=None)
REPLY = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}


def long_pdf(path: Path, pages: int) -> Path:
    specs = [PageSpec(lines=(f"PAGE {n}", *(f"line {i} of page {n}" for i in range(20)))) for n in range(pages)]
    return write_pdf(path, specs)


def short_pdf(path: Path, label: str) -> Path:
    return write_pdf(path, [PageSpec(lines=(f"FORM {label}", "Name: Maria"))])


def photo(path: Path) -> Path:
    image = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(image).text((40, 40), "Receipt\nTotal 12.50", fill="black")
    image.save(path)
    return path


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


def test_input_errors_in_a_worker_are_the_same_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nthis is not a pdf")
    with ProcessRenderer(1) as pool, pytest.raises(InputError, match="cannot open PDF") as caught:
        pool.render(RenderRequest(str(broken), BUDGET))
    assert caught.value.path == str(broken) and caught.value.kind == "input"


def extractor(renderer, evidence: str = "auto") -> Extractor:
    schema = load_schema("form")
    fake = FakeBackend(replies=[json.dumps(REPLY)] * 20)
    options = ExtractOptions(budget=BUDGET, evidence=evidence)
    return Extractor(schema, load_prompt(None, schema), options, lambda: fake, renderer)


class Records:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def write(self, record) -> None:
        self.records.append(record.to_dict())


def run_batch(renderer, paths: list[Path], evidence: str = "auto") -> list[dict]:
    sink = Records()
    try:
        BatchRunner(extractor(renderer, evidence), {}, sink).run(paths)
    finally:
        renderer.close()
    return sink.records


def test_a_worker_that_crashes_fails_its_document_and_the_batch_goes_on(tmp_path: Path) -> None:
    paths = [short_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(5)]
    paths.insert(2, long_pdf(tmp_path / "bad.pdf", 3))
    records = run_batch(ProcessRenderer(2, hook=partial(abort_on, "bad.pdf")), paths)
    assert [Path(r["file"]).name for r in records] == [p.name for p in paths]
    bad = records[2]
    assert bad["valid"] is False and bad["error"]["type"] == "crash"
    assert "SIGABRT" in bad["error"]["message"] and bad["error"]["message"].startswith(str(paths[2]))
    assert all(r["valid"] and r.get("error") is None for i, r in enumerate(records) if i != 2)


def test_a_crash_while_checking_that_a_file_opens_costs_that_document_only(tmp_path: Path) -> None:
    paths = [short_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(3)]
    records = run_batch(ProcessRenderer(2, hook=partial(abort_probing, "doc1.pdf")), paths, "off")
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "crash", None]


def test_a_stuck_page_times_out_and_the_batch_goes_on(tmp_path: Path) -> None:
    paths = [short_pdf(tmp_path / "a.pdf", "a"), short_pdf(tmp_path / "stuck.pdf", "s"), photo(tmp_path / "c.png")]
    started = time.monotonic()
    # 5 s: a fresh worker's start-up counts against its first task, and takes about 1 s on a busy
    # machine; evidence off, since the photo's OCR (its engine loaded first) takes seconds too
    records = run_batch(ProcessRenderer(2, timeout=5.0, hook=partial(hang_on, "stuck.pdf")), paths, "off")
    assert time.monotonic() - started < 60
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "timeout", None]
    assert "--render-timeout 5 s" in records[1]["error"]["message"]
    assert records[0]["valid"] and records[2]["valid"]


def test_records_are_identical_with_and_without_workers(tmp_path: Path) -> None:
    paths = [long_pdf(tmp_path / "long.pdf", 2 * INLINE_PAGES + 3), photo(tmp_path / "p.png")]
    paths += [short_pdf(tmp_path / f"d{i}.pdf", str(i)) for i in range(3)]

    def comparable(records: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert comparable(run_batch(ProcessRenderer(2), paths)) == comparable(run_batch(InlineRenderer(), paths))


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


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_every_worker(tmp_path: Path, sig: signal.Signals) -> None:
    docs = [long_pdf(tmp_path / f"doc{i}.pdf", 30) for i in range(6)]
    env = {"QVL_BACKEND": "fake", "QVL_FAKE_REPLIES": json.dumps([json.dumps(REPLY)] * 10)}
    process = subprocess.Popen(
        [sys.executable, "-m", "qvl_cli", "extract", *map(str, docs), "-s", "form", "--max-total-pixels", "0",
         "--render-workers", "2", "-o", str(tmp_path / "out.jsonl")],
        env={**os.environ, **env}, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(seen) < 2:  # the two workers
        seen |= descendants(process.pid)
        time.sleep(0.05)
    assert len(seen) >= 2, "the render workers did not start"
    os.killpg(process.pid, sig)  # as a terminal's Ctrl-C does: the whole process group
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in seen):
        time.sleep(0.1)
    assert not [pid for pid in seen if alive(pid)]


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
