"""Render documents in worker processes, so a native crash or a stuck page costs one document.

PDFium is not thread-safe, so parallel rendering uses processes. :class:`ProcessRenderer` keeps
up to N workers (:mod:`qvl_cli.pages.worker_process`, started when first needed) and a
dispatcher thread that hands them :class:`~qvl_cli.pages.workers.PageTask` s:
a window the model waits for first, then earlier documents before later ones, the pages of a
long document spread over all workers. A worker that
dies fails its document with :class:`RenderCrashError` and is replaced; a page that takes
longer than the timeout (counted from the worker's start-up's end, reset after each page, up to
``MAX_TICK`` late) gets its worker killed and fails with :class:`RenderTimeoutError`.
:class:`InlineRenderer` runs the same tasks in the calling thread (``--render-workers 0``).
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Self

from qvl_cli.errors import InputError
from qvl_cli.pages.rasterize import RenderedDocument
from qvl_cli.pages.spawn import adopt, default_workers, usable_cores
from qvl_cli.pages.worker_process import WorkerProcess, WorkerSetup
from qvl_cli.pages.workers import (
    SLICE_PAGES,
    PageSlot,
    PageTask,
    RenderRequest,
    RenderResult,
    TaskResult,
    collect,
    planned,
    run_task,
    split,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qvl_cli.pages.budgets import PagePlan
    from qvl_cli.pages.rasterize import DocumentPages

TAIL_PAGES = 2  # pages per slice in the last round of a document's slices
MAX_TICK = 0.25  # seconds: the most a page's timeout can run over (see tick_every)
Hook = Callable[[PageTask], None]


def tick_every(timeout: float) -> float:
    """How often a worker says it finished a page: often enough that the timeout stays within
    ``MAX_TICK`` seconds or 5 % of itself; never when there is no timeout."""
    return min(MAX_TICK, timeout / 20) if math.isfinite(timeout) else math.inf


def slices(parallelism: int, todo: tuple[PageSlot, ...]) -> list[tuple[PageSlot, ...]]:
    """Pages to render cut so that each of ``parallelism`` workers gets some (at most
    ``SLICE_PAGES`` a slice), the last round of a long document's slices cut into ``TAIL_PAGES``
    each, so that the workers finish together."""
    size = max(1, min(SLICE_PAGES, math.ceil(len(todo) / parallelism)))
    last_round = size * parallelism
    if parallelism == 1 or len(todo) < 2 * last_round:
        return split(todo, size)
    return split(todo[:-last_round], size) + split(todo[-last_round:], TAIL_PAGES)


class Renderer(Protocol):
    """Turns render requests into documents; ``parallelism``: documents worth rendering at once."""

    parallelism: int

    def run(self, request: RenderRequest) -> RenderResult: ...

    def render(self, request: RenderRequest) -> RenderedDocument: ...

    def render_pages(
        self,
        request: RenderRequest,
        measured: DocumentPages,
        positions: Sequence[int],
        sizes: Sequence[tuple[int, int]],
        plan: PagePlan | None = None,
    ) -> RenderResult: ...

    def start(self) -> None: ...

    def close(self) -> None: ...


def open_renderer(workers: int | None, timeout: float | None = None) -> Renderer:
    """``workers`` processes (started on first use; ``None``: :func:`default_workers`), or this
    process when ``workers`` is 0."""
    if workers is None:
        workers = default_workers()
    if workers > 0:
        return ProcessRenderer(workers, timeout)
    from qvl_cli.pages.heap import keep_freed_pages

    keep_freed_pages()
    return InlineRenderer()


class _Rendering:
    """What every renderer does the same way: a whole document from :meth:`run`, and closing
    itself at the end of a ``with`` block."""

    def run(self, request: RenderRequest) -> RenderResult:
        raise NotImplementedError

    def start(self) -> None:
        """Get ready for work now rather than on first use (nothing to do in-process)."""
        return None

    def close(self) -> None:
        return None

    def render(self, request: RenderRequest) -> RenderedDocument:
        return self.run(request).document()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InlineRenderer(_Rendering):
    """Renders in the calling thread (one document at a time: PDFium is not thread-safe)."""

    parallelism = 1

    def run(self, request: RenderRequest) -> RenderResult:
        first = self._run(PageTask(request))
        rest = [self._run(PageTask(request, first.todo))] if first.todo else []
        return collect(first, rest, request)

    def render_pages(
        self,
        request: RenderRequest,
        measured: DocumentPages,
        positions: Sequence[int],
        sizes: Sequence[tuple[int, int]],
        plan: PagePlan | None = None,
    ) -> RenderResult:
        """Some pages of a measured document (one window of it), at these sizes."""
        first = planned(measured, positions, sizes, plan)
        return collect(first, [self._run(PageTask(request, first.todo))] if first.todo else [], request)

    @staticmethod
    def _run(task: PageTask) -> TaskResult:
        result = run_task(task)  # takes the PDFium lock while it renders
        if result.failure is not None:
            raise result.failure.error()
        return result


@dataclass(eq=False)
class _Document:
    rank: tuple[int, int]  # (0 for a window the model waits for, else 1; input order): lowest first
    request: RenderRequest
    future: Future[RenderResult]
    first: TaskResult | None = None
    parts: list[TaskResult] = field(default_factory=list)
    waiting: int = 0  # slices handed out or queued, not yet back


_Worker = WorkerProcess[tuple[_Document, PageTask]]  # on a slice of a document


class ProcessRenderer(_Rendering):
    """A pool of rendering processes fed by a dispatcher thread (see the module docstring)."""

    def __init__(
        self,
        workers: int,
        timeout: float | None = None,
        *,
        hook: Hook | None = None,
        on_start: Callable[[], None] | None = None,
    ):
        import multiprocessing

        if workers < 1:
            raise ValueError("a process pool needs at least one worker")
        self.parallelism = workers
        self._timeout = timeout or math.inf
        # hook: run in the worker before each task, on_start: before it is ready (tests use them)
        threads = max(1, usable_cores() // workers)  # each worker's OCR on its share of the cores
        self._setup = WorkerSetup(hook, on_start, ocr_threads=threads, tick_every=tick_every(self._timeout))
        self._lock = threading.Lock()
        self._queue: list[tuple[tuple[int, int], int, _Document, PageTask]] = []
        self._order = itertools.count()
        self._documents = itertools.count()
        self._workers: list[_Worker] = []
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._thread: threading.Thread | None = None
        self._closed = False

    def run(self, request: RenderRequest) -> RenderResult:
        return self.submit(request).result()

    def render_pages(
        self,
        request: RenderRequest,
        measured: DocumentPages,
        positions: Sequence[int],
        sizes: Sequence[tuple[int, int]],
        plan: PagePlan | None = None,
    ) -> RenderResult:
        """Some pages of a measured document (one window of it) at these sizes, spread over the
        workers ahead of the documents rendered in advance: the model is waiting for them."""
        return self.submit(request, planned(measured, positions, sizes, plan), urgent=True).result()

    def submit(
        self, request: RenderRequest, first: TaskResult | None = None, *, urgent: bool = False
    ) -> Future[RenderResult]:
        """Render ``request`` (measuring it first), or only ``first.todo`` when it is measured."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the renderer is closed")
            document = _Document((0 if urgent else 1, next(self._documents)), request, Future(), first)
            if first is None:
                self._push(document, PageTask(request))
            elif not first.todo:
                document.future.set_result(collect(first, [], request))
            for part in slices(self.parallelism, first.todo) if first is not None else ():
                self._push(document, PageTask(request, part))
            if self._thread is None:
                self._thread = threading.Thread(target=self._dispatch, name="qvl-render-dispatch", daemon=True)
                self._thread.start()
            self._wake()  # under the lock: one writer at a time on the wake-up pipe
        return document.future

    def start(self) -> None:
        """Start every worker now, so that all of them are ready when the first document's pages
        are (by default a worker starts when a task finds none idle: the second would start
        only after the first had measured the document)."""
        with self._lock:
            while not self._closed and len(self._workers) < self.parallelism:
                self._workers.append(WorkerProcess(self._setup, self._timeout, adopt()))

    def close(self) -> None:
        """Stop the workers (killing busy ones) and cancel documents not yet rendered."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake()
        if self._thread is not None:
            self._thread.join()
        for worker in self._workers:  # all at once: no worker holds anything to save (files are
            worker.process.kill()  # written whole within a task), and a clean exit costs ~0.2 s
        for worker in self._workers:
            worker.stop()
        unfinished = [entry[2] for entry in self._queue] + [w.job[0] for w in self._workers if w.job]
        for document in unfinished:
            document.future.cancel()
        self._workers.clear()
        self._queue.clear()
        self._wake_r.close()
        self._wake_w.close()

    def _push(self, document: _Document, task: PageTask) -> None:
        heapq.heappush(self._queue, (document.rank, next(self._order), document, task))
        document.waiting += 1

    def _wake(self) -> None:
        try:
            self._wake_w.send_bytes(b"")
        except OSError:  # closed: nothing to wake
            pass

    def _dispatch(self) -> None:
        from multiprocessing.connection import wait

        while True:
            with self._lock:
                if self._closed:
                    return
                self._assign()
                busy = [worker for worker in self._workers if worker.job is not None]
            deadline = min((worker.deadline for worker in busy), default=math.inf)
            waiting = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
            handles: list[Any] = [self._wake_r, *(w.conn for w in busy)]  # a dead worker's pipe reads EOF
            ready = set(wait(handles, waiting))
            if self._wake_r in ready:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            with self._lock:
                if self._closed:
                    return
                for worker in busy:
                    self._check(worker)

    def _assign(self) -> None:
        """Hand queued tasks to idle workers, starting workers up to the pool's size."""
        while self._queue:
            worker = next((w for w in self._workers if w.job is None), None)
            if worker is None:
                if len(self._workers) >= self.parallelism:
                    return
                worker = WorkerProcess(self._setup, self._timeout, adopt())
                self._workers.append(worker)
            _, _, document, task = heapq.heappop(self._queue)
            if document.future.done():  # failed or cancelled: its other slices are moot
                continue
            if not worker.give((document, task), task):  # the idle worker died: replace it, keep the task
                heapq.heappush(self._queue, (document.rank, next(self._order), document, task))
                self._discard(worker)

    def _check(self, worker: _Worker) -> None:
        """Read what the worker sent; notice when it died or overran its page's time."""
        job = worker.job
        try:
            result = worker.receive()
        except (EOFError, OSError):  # the pipe broke: the worker is gone
            self._lost(worker, timed_out=False)
            return
        except Exception as exc:  # a result that cannot be read fails its document, not the pool
            message = f"cannot read the rendered pages: {type(exc).__name__}: {exc}"
            self._lost(worker, error=InputError(message, path=job[0].request.path if job else None))
            return
        if result is not None and job is not None:
            self._done(job, result)
        elif worker.overdue():
            self._lost(worker, timed_out=True)

    def _done(self, job: tuple[_Document, PageTask], result: TaskResult) -> None:
        document, task = job
        document.waiting -= 1
        if document.future.done():
            return
        if result.failure is not None:
            document.future.set_exception(result.failure.error())
            return
        if task.pages is None:
            document.first = result
            for part in slices(self.parallelism, result.todo):
                self._push(document, PageTask(document.request, part))
        else:
            document.parts.append(result)
        if document.waiting == 0 and document.first is not None:
            try:
                document.future.set_result(collect(document.first, document.parts, document.request))
            except Exception as exc:  # a malformed result must not stop the dispatcher
                document.future.set_exception(exc)

    def _lost(self, worker: _Worker, *, timed_out: bool = False, error: InputError | None = None) -> None:
        """The worker died, is stuck, or sent what cannot be read (``error``): fail its document
        and let a new worker take its place."""
        job = worker.job
        self._discard(worker)  # kills a busy worker
        if job is not None and not job[0].future.done():
            job[0].future.set_exception(error or worker.failure(job[0].request.path, timed_out=timed_out))

    def _discard(self, worker: _Worker) -> None:
        worker.stop()
        self._workers.remove(worker)
