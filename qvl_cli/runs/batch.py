"""Many documents through one model: prefetching, resume, result cache, summary.

Records come out in input order, each written as soon as its document is done. While the model
works on one document, prefetch threads hash the next ones and have them rendered (one thread per
render worker process), and the documents it has answered are grounded behind it (their page
OCR and closer look waited for in a thread of their own: see :mod:`qvl_cli.runs.behind`), so at
most one document per render worker plus those with the model hold pages at any time, and at
most ``max(GROUNDING_BEHIND, batch_size)`` more, without pages, wait for grounding.

With a server backend, ``in_flight`` documents are with the model at once, each in its own
thread: a slow document holds back only its own record, not the requests behind it (a batch
would wait for its slowest request before sending the next ones).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from qvl_cli.errors import EXIT_INVALID, EXIT_VALID, InputError
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.runs.behind import GROUNDING_BEHIND, Behind, DocumentThreads
from qvl_cli.runs.cache import ResultCache, document_key
from qvl_cli.runs.document import Extractor
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.windows import LoadedDocument
from qvl_cli.runs.writers import resume_id
from qvl_cli.wording import plural

HELD_RECORDS = 8  # finished records per document in flight that may wait for an earlier one


class Sink(Protocol):
    def write(self, record: Envelope) -> None: ...


@dataclass(frozen=True)
class Job:
    """What the worker thread prepared for one input."""

    path: Path
    key: str
    sha256: str | None = None
    recorded: bool = False  # already in the output (--resume)
    cached: Envelope | None = None
    document: LoadedDocument | None = None
    failure: Envelope | None = None
    render_seconds: float = 0.0
    protected: bool = False  # password-protected: kept out of the shared result cache


@dataclass
class Summary:
    """Counts for the closing line on stderr."""

    documents: int = 0
    valid: int = 0
    invalid: int = 0
    failed: int = 0
    cached: int = 0
    skipped: int = 0  # already recorded (--resume), counted apart: not done by this run
    pages: int = 0
    started: float = field(default_factory=time.perf_counter)
    exit_codes: list[int] = field(default_factory=list)  # one per document, skipped ones too
    recorded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("valid", "invalid", "failed"), 0))

    def add(self, record: Envelope) -> None:
        self.documents += 1
        self.exit_codes.append(record.exit_code)
        self.valid += record.status == "valid"
        self.invalid += record.status == "invalid"
        self.failed += record.failed
        self.cached += record.cached
        self.pages += len(record.pages)

    def skip(self, exit_code: int) -> None:
        """A document already recorded (``--resume``) with this result's exit code: it counts
        apart, by its recorded status, and its exit code counts as a fresh run's would."""
        self.skipped += 1
        self.exit_codes.append(exit_code)
        status = "valid" if exit_code == EXIT_VALID else "invalid" if exit_code == EXIT_INVALID else "failed"
        self.recorded[status] += 1

    def line(self) -> str:
        """``3 documents: 2 valid, 0 invalid, 1 failed (1 from cache); 2 already recorded: 1 valid,
        0 invalid, 1 failed; 5 pages in 1.2 s (4.17 pages/s)``: this run's documents, those
        ``--resume`` skipped by their recorded status, and the pages this run read."""
        seconds = time.perf_counter() - self.started
        rate = self.pages / seconds if seconds > 0 else 0.0
        cached = f" ({self.cached} from cache)" if self.cached else ""
        recorded = ""
        if self.skipped:
            counts = ", ".join(f"{count} {status}" for status, count in self.recorded.items())
            recorded = f"; {self.skipped} already recorded: {counts}"
        return (
            f"{plural(self.documents, 'document')}: {self.valid} valid, {self.invalid} invalid, {self.failed} failed"
            f"{cached}{recorded}; {plural(self.pages, 'page')} in {seconds:.1f} s ({rate:.2f} pages/s)"
        )


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block is done, then act on them (main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: object) -> None:
        pending.append(signum)

    previous = {int(signum): signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), pending[0])


class BatchRunner:
    """Runs an :class:`Extractor` over many inputs into a sink (see the module docstring)."""

    def __init__(
        self,
        extractor: Extractor,
        identity: dict[str, Any],
        sink: Sink,
        cache: ResultCache | None = None,
        recorded: dict[str, int] | None = None,
        on_record: Callable[[Envelope], None] | None = None,
        batch_size: int = 1,
        on_skip: Callable[[Path], None] | None = None,
        in_flight: int = 1,
    ):
        self.extractor = extractor
        self.identity = identity
        self.sink = sink
        self.cache = cache
        self.recorded = recorded or {}
        self.on_record = on_record
        self.on_skip = on_skip  # a document already recorded (--resume): one fewer to do
        self.batch_size = max(1, batch_size)
        self.in_flight = max(1, in_flight)
        self.summary = Summary()

    def run(self, paths: Iterable[Path]) -> Summary:
        """Process every path; records are written in input order."""
        if self.in_flight > 1:
            return self._run_in_flight(iter(paths))
        inputs = iter(paths)
        waiting: list[Job] = []  # rendered documents gathered for one batched generate call
        ahead = max(1, self.extractor.renderer.parallelism)
        pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="qvl-prefetch")
        pending: deque[Future[Job]] = deque()
        behind: Behind[Job] = Behind(self._write, max(GROUNDING_BEHIND, self.batch_size))
        try:
            for _ in range(self.batch_size + ahead - 1):
                self._submit(pool, inputs, pending)
            while pending:
                job = pending.popleft().result()
                self._submit(pool, inputs, pending)  # render ahead while the model works
                if job.document is None:
                    self._flush(waiting, behind)  # keep input order: earlier documents first
                    behind.add(job, None)
                    continue
                waiting.append(job)
                if len(waiting) >= self.batch_size or not pending:
                    self._flush(waiting, behind)
            self._flush(waiting, behind)
            behind.drain()
        except BaseException:
            behind.salvage()  # what the model answered is not lost
            raise
        finally:
            # On an interrupt, documents still rendering are not waited for: closing the
            # renderer cancels them and their threads end; so does grounding not yet started.
            pool.shutdown(wait=False, cancel_futures=True)
            behind.close()
        return self.summary

    def _run_in_flight(self, inputs: Iterator[Path]) -> Summary:
        """Up to ``in_flight`` documents with the model at once (one thread each), the next ones
        rendering ahead; records still written in input order, each as soon as it is its turn.

        Documents that hold pages (rendering or with the model) stay within ``in_flight`` plus
        one per render worker; finished ones waiting for a slow earlier document keep only their
        record, so the others go on meanwhile (up to ``HELD_RECORDS`` per document in flight).
        """
        ahead = max(1, self.extractor.renderer.parallelism)
        busy_limit = self.in_flight + ahead
        prefetch = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="qvl-prefetch")
        model = DocumentThreads(self.in_flight)
        order: deque[Future[tuple[Job, Envelope | None]]] = deque()  # input order
        exhausted = False
        try:
            while True:
                while not exhausted and len(order) < busy_limit + HELD_RECORDS * self.in_flight:
                    if sum(not future.done() for future in order) >= busy_limit:
                        break
                    path = next(inputs, None)
                    exhausted = path is None
                    if path is not None:
                        order.append(model.submit(self._complete, prefetch.submit(self.prepare, path)))
                if not order:
                    return self.summary
                while order and order[0].done():
                    job, envelope = order.popleft().result()
                    if envelope is None:
                        self._finish(job)
                    else:
                        self._record(job, envelope)
                if order and not order[0].done():
                    wait([future for future in order if not future.done()], return_when=FIRST_COMPLETED)
        finally:
            prefetch.shutdown(wait=False, cancel_futures=True)
            model.shutdown()

    def _complete(self, prepared: Future[Job]) -> tuple[Job, Envelope | None]:
        """A model thread: wait for the document's rendering, then extract it (None when there
        is nothing to extract: recorded, cached or failed). The pages are let go here."""
        job = prepared.result()
        if job.document is None:
            return job, None
        started = time.perf_counter() - job.render_seconds
        envelope = self.extractor.extract_document(job.document, started, job.sha256)
        return replace(job, document=None), envelope

    def _record(self, job: Job, envelope: Envelope) -> None:
        """Cache (when allowed) and write a document's record."""
        record = replace(envelope, key=job.key)
        if self.cache is not None and not envelope.failed and not job.protected:
            self.cache.put(job.key, record)
        self._emit(record)

    def _flush(self, waiting: list[Job], behind: Behind[Job]) -> None:
        """Run the model on the gathered documents and leave their grounding and records to ``behind``."""
        if not waiting:
            return
        now = time.perf_counter()
        items = [(job.document, now - job.render_seconds, job.sha256) for job in waiting if job.document is not None]
        if len(items) == 1:
            results = [self.extractor.answer_document(*items[0])]
        else:
            results = self.extractor.answer_documents(items)
        jobs = [replace(job, document=None) for job in waiting]  # the pages are let go here
        waiting.clear()
        del items
        for job, result in zip(jobs, results, strict=True):
            behind.add(job, result)

    def _write(self, job: Job, envelope: Envelope | None) -> None:
        """Write a document's record (``None``: recorded, cached or failed before the model)."""
        if envelope is None:
            self._finish(job)
        else:
            self._record(job, envelope)

    def _submit(self, pool: ThreadPoolExecutor, inputs: Iterator[Path], pending: deque[Future[Job]]) -> None:
        path = next(inputs, None)
        if path is not None:
            pending.append(pool.submit(self.prepare, path))

    def prepare(self, path: Path) -> Job:
        """Hash, look up and render one input (runs in the worker thread)."""
        started = time.perf_counter()
        try:
            sha256: str | None = file_sha256(path)
        except OSError:
            sha256 = None
        key = document_key(sha256 or f"path:{path}", self.identity)
        if resume_id(str(path), key) in self.recorded:
            return Job(path, key, sha256, recorded=True)
        try:
            # The document must open (password included) before any cached result is handed out;
            # without a cache, rendering it is the check.
            protected = self.cache is not None and self.extractor.probe(path)
            use_cache = self.cache is not None and sha256 is not None and not protected
            if use_cache and self.cache is not None and (hit := self.cache.get(key)) is not None:
                return Job(path, key, sha256, cached=hit)
            document = self.extractor.load(path, sha256=sha256)
        except InputError as exc:
            return Job(path, key, sha256, failure=self.extractor.failure(path, exc, started))
        elapsed = time.perf_counter() - started
        return Job(path, key, sha256, document=document, render_seconds=elapsed, protected=protected)

    def _finish(self, job: Job) -> None:
        if job.recorded:
            self.summary.skip(self.recorded[resume_id(str(job.path), job.key)])
            if self.on_skip is not None:
                self.on_skip(job.path)
            return
        if job.cached is not None:
            self._emit(replace(job.cached, file=str(job.path), cached=True, seconds=0.0))
        elif job.failure is not None:
            self._emit(replace(job.failure, key=job.key))

    def _emit(self, record: Envelope) -> None:
        with interrupts_deferred():  # a record written is a record counted, even on Ctrl-C
            self.sink.write(record)
            self.summary.add(record)
        if self.on_record is not None:
            self.on_record(record)
