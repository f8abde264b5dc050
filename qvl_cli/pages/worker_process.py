"""One render worker process, both ends: the loop it runs, and the handle the pool keeps of it.

A worker is a fresh interpreter (nothing of the qvl process is inherited or re-run). It imports
the rendering libraries and only then says it is ready: the per-page timeout never counts
start-up. Messages to the qvl process: an empty one when a page is done (the timeout counts from
the last; at most one every ``WorkerSetup.tick_every`` seconds, which the deadline allows for),
``READY``, ``SETUP`` (building the OCR engine, when a page first needs it: start-up again until
the next ``READY``), and a task's pickled result.
"""

from __future__ import annotations

import math
import pickle
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from qvl_cli.errors import InputError, RenderCrashError, RenderTimeoutError
from qvl_cli.pages.heap import keep_freed_pages
from qvl_cli.pages.spawn import Spawned, spawn
from qvl_cli.pages.workers import FailedTask, PageTask, Progress, TaskResult, run_task

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

TICK, READY, SETUP = b"", b"ready", b"setup"
START_SECONDS = 120.0  # a worker's start-up (imports, OCR engine) is bounded apart, by this much
Job = TypeVar("Job")


@dataclass(frozen=True)
class WorkerSetup:
    """The first message a worker gets."""

    hook: Callable[[PageTask], None] | None = None  # run before each task (tests: crash or stall)
    on_start: Callable[[], None] | None = None  # run before READY (tests: a slow start-up)
    ocr_threads: int = 1  # CPU threads of the OCR engine: the worker's share of the cores
    tick_every: float = 0.0  # seconds at least between two page-done messages (inf: none at all)


class WorkerProcess(Generic[Job]):
    """The qvl process's handle on one worker: its pipe, the job it is on, and until when it may
    stay silent (``deadline``: start-up bounded by ``START_SECONDS``, each page by ``timeout``)."""

    def __init__(self, setup: WorkerSetup, timeout: float = math.inf, spawned: Spawned | None = None) -> None:
        self.timeout = timeout
        self.slack = setup.tick_every if math.isfinite(setup.tick_every) else 0.0  # a page-done message held back
        self.start_limit = max(START_SECONDS, timeout)
        started = spawned or spawn()
        self.process = started.process
        self.conn: Connection = started.conn
        self.job: Job | None = None
        self.ready = False  # started (and set up for its task); until then the start-up limit applies
        self._since = time.monotonic()  # since when the worker is silent
        try:
            self.conn.send(setup)
        except OSError:  # it died already: the pool notices when it hands it a task
            pass

    @property
    def deadline(self) -> float:
        if self.job is None:
            return math.inf
        return self._since + (self.timeout + self.slack if self.ready else self.start_limit)

    def give(self, job: Job, task: PageTask) -> bool:
        """Hand the worker a task; False when it is gone (e.g. the OOM killer took it while idle)."""
        try:
            self.conn.send(task)
        except OSError:
            return False
        self.job = job
        if self.ready:
            self._since = time.monotonic()
        return True

    def receive(self) -> TaskResult | None:
        """The task's result when it is back (its images built), else ``None``; raises
        ``EOFError``/``OSError`` when the worker is gone."""
        while self.conn.poll():
            message = self.conn.recv_bytes()
            if message in (TICK, READY, SETUP):
                self.ready = message != SETUP
                self._since = time.monotonic()
                continue
            result: TaskResult = pickle.loads(message)
            del message  # one slice's bytes at a time: images are built as slices arrive
            self.job = None
            return result.unpacked()
        return None

    def overdue(self) -> bool:
        return time.monotonic() >= self.deadline

    def failure(self, path: str, *, timed_out: bool) -> InputError:
        """The error of the document this worker was on when it died or overran (after :meth:`stop`)."""
        if not timed_out:
            return _crash_error(path, self.process.returncode)
        if not self.ready:
            return RenderTimeoutError(
                f"the page renderer did not start within {self.start_limit:g} s",
                path=path,
                hint="the machine may be overloaded: use fewer --render-workers",
            )
        return RenderTimeoutError(
            f"a page took longer than --render-timeout {self.timeout:g} s to render; the renderer was stopped",
            path=path,
            hint="raise --render-timeout, or leave this document out",
        )

    def stop(self) -> None:
        """End the worker: an idle one leaves when its pipe closes, a busy one is killed."""
        if self.job is not None:
            self.process.kill()
        if not self.conn.closed:
            self.conn.close()
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _crash_error(path: str, exitcode: int | None) -> RenderCrashError:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"was killed by signal {-exitcode}"
    else:
        how = f"exited with code {exitcode}"
    hint = "the file may be damaged, or the machine ran out of memory; the other documents go on"
    return RenderCrashError(f"the page renderer {how} while rendering this document", path=path, hint=hint)


def serve_fd(fd: int) -> None:
    """A worker process's entry point: its end of the pipe is file descriptor ``fd``."""
    from multiprocessing.connection import Connection

    serve(Connection(fd))


def serve(conn: Connection) -> None:
    """A worker's loop: set up, say READY, then take a task, send an empty message after each
    page, send the result. Ctrl-C is the parent's to handle (it stops the workers), so SIGINT is
    ignored; the worker leaves when the parent closes its pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_freed_pages()
    try:
        _import_renderers()  # before the setup: a worker started early imports while qvl starts
        setup: WorkerSetup = conn.recv()
        tick = _ticker(conn, setup.tick_every)
        from qvl_cli.evidence.ocr import configure_engine

        configure_engine(setup.ocr_threads, lambda: conn.send_bytes(SETUP), lambda: conn.send_bytes(READY))
        if setup.on_start is not None:
            setup.on_start()
        conn.send_bytes(READY)
        while True:
            task: PageTask = conn.recv()
            if setup.hook is not None:
                setup.hook(task)
            conn.send(_run_guarded(task, tick))
    except (EOFError, OSError):
        return


def _ticker(conn: Connection, every: float) -> Progress:
    """Send a page-done message, unless one went less than ``every`` seconds ago: a message a
    page would wake the qvl process hundreds of times a second for nothing. None at all when
    ``every`` is infinite (no timeout to keep)."""
    if math.isinf(every):
        return _no_tick
    last = -math.inf

    def tick() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every:
            conn.send_bytes(TICK)
            last = now

    return tick


def _no_tick() -> None:
    return None


def _import_renderers() -> None:
    """What every task needs, imported before READY (building the OCR engine, when a page first
    needs it, is announced: ``SETUP`` ... ``READY``, so that it is bounded as start-up)."""
    import pypdfium2  # noqa: F401
    from PIL import Image  # noqa: F401

    import qvl_cli.evidence.ocr  # noqa: F401
    import qvl_cli.evidence.pages  # noqa: F401


def _run_guarded(task: PageTask, tick: Progress) -> TaskResult:
    try:
        return run_task(task, tick).packed()
    except Exception as exc:  # an unexpected library error costs this document only
        failure = FailedTask(InputError, f"cannot render: {type(exc).__name__}: {exc}", task.request.path, None)
        return TaskResult(failure=failure)
