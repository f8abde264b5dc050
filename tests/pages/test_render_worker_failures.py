"""Render workers that crash, stall or start slowly: each costs one document (an error record),
never the batch; the per-page timeout counts neither a worker's start-up nor its OCR engine's;
and an interrupted qvl leaves no worker behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from conftest import fake, records
from pdf_factory import PageSpec, write_pdf
from render_helpers import BUDGET, REPLY, alive, descendants, long_pdf, photo, run_batch, short_pdf
from render_hooks import (
    HOOKED_QVL,
    abort_on,
    abort_probing,
    hang_in_ocr,
    hang_on,
    kill_on,
    log_ocr_engine,
    pause,
    slow_ocr_engine,
    slow_pages,
)

from qvl_cli.pages.pool import ProcessRenderer
from qvl_cli.pages.workers import RenderRequest


@pytest.mark.parametrize(("hook", "signal_name"), [(abort_on, "SIGABRT"), (kill_on, "SIGKILL")])
def test_a_worker_that_crashes_fails_its_document_and_the_batch_goes_on(
    tmp_path: Path, hook: object, signal_name: str
) -> None:
    """SIGABRT as a native crash, SIGKILL as the out-of-memory killer."""
    paths = [short_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(5)]
    paths.insert(2, long_pdf(tmp_path / "bad.pdf", 3))
    records = run_batch(ProcessRenderer(2, hook=partial(hook, "bad.pdf")), paths)
    assert [Path(r["file"]).name for r in records] == [p.name for p in paths]
    bad = records[2]
    assert bad["valid"] is False and bad["error"]["type"] == "crash"
    assert signal_name in bad["error"]["message"] and bad["error"]["message"].startswith(str(paths[2]))
    assert all(r["valid"] and r.get("error") is None for i, r in enumerate(records) if i != 2)


def test_a_crash_while_checking_that_a_file_opens_costs_that_document_only(tmp_path: Path) -> None:
    paths = [short_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(3)]
    renderer = ProcessRenderer(2, hook=partial(abort_probing, "doc1.pdf"))
    records = run_batch(renderer, paths, "off", cache=tmp_path / "cache")  # a cache: documents are probed
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "crash", None]


def test_without_a_cache_documents_are_not_probed_and_a_locked_one_still_says_so(tmp_path: Path) -> None:
    """The probe guards cached results; without a cache, rendering is the check (one task fewer)."""
    log = tmp_path / "tasks.log"
    paths = [short_pdf(tmp_path / "a.pdf", "a"), write_pdf(tmp_path / "locked.pdf", [PageSpec()], password="pw")]
    records = run_batch(ProcessRenderer(1, hook=partial(log_ocr_engine, str(log))), paths, "off")
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "encrypted"]
    kinds = [line.split()[1] for line in log.read_text().splitlines()]
    assert "probe" not in kinds and kinds.count("render") == 2, kinds


def test_qvl_extract_reports_a_crashed_worker_in_one_line_and_goes_on(tmp_path: Path) -> None:
    paths = [short_pdf(tmp_path / "a.pdf", "a"), short_pdf(tmp_path / "bad.pdf", "b"), photo(tmp_path / "c.png")]
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", HOOKED_QVL, "kill_on", "bad.pdf", "extract", *map(str, paths), "-s", "form",
         "--render-workers", "2", "--evidence", "off", "-o", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, **fake(*[REPLY] * 3)},
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("qvl: error:")]
    message = "the page renderer was killed by SIGKILL while rendering this document"
    hint = "the file may be damaged, or the machine ran out of memory; the other documents go on"
    assert errors == [f"qvl: error: {paths[1]}: {message} ({hint})"]
    assert "Traceback" not in result.stderr and "1 failed" in result.stderr
    written = records(out.read_text())
    assert [Path(r["file"]).name for r in written] == ["a.pdf", "bad.pdf", "c.png"]
    assert [(r.get("error") or {}).get("type") for r in written] == [None, "crash", None]
    assert written[0]["valid"] and written[2]["valid"]


def test_a_stuck_page_times_out_and_the_batch_goes_on(tmp_path: Path) -> None:
    paths = [short_pdf(tmp_path / "a.pdf", "a"), short_pdf(tmp_path / "stuck.pdf", "s"), photo(tmp_path / "c.png")]
    started = time.monotonic()
    records = run_batch(ProcessRenderer(2, timeout=3.0, hook=partial(hang_on, "stuck.pdf")), paths, "off")
    assert time.monotonic() - started < 60
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "timeout", None]
    assert "--render-timeout 3 s" in records[1]["error"]["message"]
    assert records[0]["valid"] and records[2]["valid"]


def test_a_slow_start_up_does_not_count_against_a_page(tmp_path: Path) -> None:
    """Every worker (the first, and the one that replaces the stuck one) takes twice the page
    timeout to start: no page times out for it, and the stuck page still does."""
    paths = [short_pdf(tmp_path / "a.pdf", "a"), short_pdf(tmp_path / "stuck.pdf", "s"), photo(tmp_path / "c.png")]
    pool = ProcessRenderer(1, timeout=4.0, hook=partial(hang_on, "stuck.pdf"), on_start=partial(pause, 8.0))
    records = run_batch(pool, paths, "off")
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "timeout", None]
    assert "--render-timeout 4 s" in records[1]["error"]["message"]


def test_a_start_up_that_never_ends_is_bounded_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qvl_cli.pages import worker_process

    monkeypatch.setattr(worker_process, "START_SECONDS", 2.0)
    with ProcessRenderer(1, timeout=1.0, on_start=partial(pause, 600.0)) as pool:
        [record] = run_batch(pool, [short_pdf(tmp_path / "a.pdf", "a")], "off")
    assert record["error"]["type"] == "timeout"
    assert "the page renderer did not start within 2 s" in record["error"]["message"]


def test_the_timeout_counts_from_the_last_page(tmp_path: Path) -> None:
    """Each of the 5 pages takes half the 5 s timeout (one task renders them all, 12.5 s): the
    document is rendered, not timed out."""
    path = long_pdf(tmp_path / "doc.pdf", 5)
    with ProcessRenderer(1, timeout=5.0, hook=partial(slow_pages, 2.5)) as pool:
        document = pool.render(RenderRequest(str(path), BUDGET))
    assert [page.number for page in document.pages] == [1, 2, 3, 4, 5]


def test_a_page_whose_ocr_hangs_times_out(tmp_path: Path) -> None:
    """The page is rendered, then its OCR never ends: a timeout record; the next document (a text
    layer: no OCR) is read by the worker that replaces it."""
    paths = [photo(tmp_path / "scan.png"), short_pdf(tmp_path / "b.pdf", "b")]
    records = run_batch(ProcessRenderer(1, timeout=3.0, hook=hang_in_ocr), paths, "auto")
    assert [(r.get("error") or {}).get("type") for r in records] == ["timeout", None]
    assert records[1]["valid"]


def test_the_ocr_engine_is_built_when_a_page_needs_it_outside_the_page_timeout(tmp_path: Path) -> None:
    """Building the OCR engine takes longer than the page timeout here: the worker builds it only
    for the first page without a text layer (a text PDF never costs it), and the page does not
    time out."""
    log = tmp_path / "engine.log"
    paths = [short_pdf(tmp_path / "text.pdf", "t"), photo(tmp_path / "scan.png"), photo(tmp_path / "scan2.png")]
    hooks = {"hook": partial(log_ocr_engine, str(log)), "on_start": partial(slow_ocr_engine, 6.0)}
    records = run_batch(ProcessRenderer(1, timeout=4.0, **hooks), paths, "auto", cache=tmp_path / "cache")
    assert [record.get("error") for record in records] == [None, None, None]
    # Before each task (a probe, the render, a scan's OCR after it), the engine's state. Which
    # document's task runs first is the scheduler's choice; what matters does not depend on it.
    entries = [tuple(line.split()) for line in log.read_text().splitlines()]
    tasks = [(name, kind) for name, kind, _ in entries]
    for name in ("text.pdf", "scan.png", "scan2.png"):  # each document probed, then rendered, once
        assert tasks.count((name, "probe")) == tasks.count((name, "render")) == 1, tasks
        assert tasks.index((name, "probe")) < tasks.index((name, "render")), tasks
    assert ("text.pdf", "ocr") not in tasks and tasks.count(("scan.png", "ocr")) == 1, tasks
    assert tasks.index(("scan.png", "render")) < tasks.index(("scan.png", "ocr")), tasks
    assert tasks.count(("scan2.png", "ocr")) <= 1, tasks  # the same image: from the cache once it is there
    # one worker: no probe or render built the engine; the first OCR task did, and it stayed built
    first_ocr = next(position for position, (_, kind) in enumerate(tasks) if kind == "ocr")
    states = [state for _, _, state in entries]
    assert states == ["absent"] * (first_ocr + 1) + ["built"] * (len(states) - first_ocr - 1), entries


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc (Linux)")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_every_worker(tmp_path: Path, sig: signal.Signals) -> None:
    """The signal goes to qvl alone (workers ignore Ctrl-C, and SIGTERM does not reach them):
    qvl itself must stop its workers, the one stuck on a page included."""
    docs = [short_pdf(tmp_path / "stuck.pdf", "s"), *(long_pdf(tmp_path / f"doc{i}.pdf", 12) for i in range(3))]
    process = subprocess.Popen(
        [sys.executable, "-c", HOOKED_QVL, "hang_on", "stuck.pdf", "extract", *map(str, docs), "-s", "form",
         "--render-workers", "2", "--max-total-pixels", "0", "-o", str(tmp_path / "out.jsonl")],
        env={**os.environ, **fake(*[REPLY] * 4)}, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not Path(f"{docs[0]}.stuck").exists():
            time.sleep(0.05)
        assert Path(f"{docs[0]}.stuck").exists(), "the worker never got stuck"
        workers = descendants(process.pid)
        assert len(workers) == 2
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert stderr.splitlines()[0] == "qvl: interrupted after 0 of 4 documents", stderr
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]


def test_a_result_that_cannot_be_read_fails_its_document_and_the_pool_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a worker's result raises (here: once, on the second document): that document gets
    an error record, its worker is replaced, and the other documents are rendered."""
    from qvl_cli.pages.worker_process import WorkerProcess

    paths = [short_pdf(tmp_path / f"doc{i}.pdf", str(i)) for i in range(3)]
    receive, failed = WorkerProcess.receive, []

    def receive_once_wrong(worker: WorkerProcess[Any]) -> Any:
        job = worker.job
        if not failed and job is not None and job[0].request.path.endswith("doc1.pdf"):
            failed.append(True)
            raise ValueError("unreadable")
        return receive(worker)

    monkeypatch.setattr(WorkerProcess, "receive", receive_once_wrong)
    done: list[list[dict[str, Any]]] = []
    batch = threading.Thread(target=lambda: done.append(run_batch(ProcessRenderer(1), paths, "off")), daemon=True)
    batch.start()
    batch.join(120)  # a dispatcher that died would leave the batch waiting forever
    [records] = done
    assert [(r.get("error") or {}).get("type") for r in records] == [None, "input", None]
    assert "cannot read the rendered pages: ValueError: unreadable" in records[1]["error"]["message"]
