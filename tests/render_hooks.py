"""Hooks the tests install in render workers (picklable: module-level, arguments bound by partial),
and :func:`main`, which runs ``qvl`` with one of them in its render workers."""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from qvl_cli.pages.workers import PageTask


def abort_on(name: str, task: PageTask) -> None:
    """Crash the worker (SIGABRT, as a native crash would) on the file called ``name``."""
    if Path(task.request.path).name == name:
        _abort()


def kill_on(name: str, task: PageTask) -> None:
    """Kill the worker with SIGKILL (as the out-of-memory killer does) on the file called ``name``."""
    if Path(task.request.path).name == name:
        os.kill(os.getpid(), signal.SIGKILL)


def abort_probing(name: str, task: PageTask) -> None:
    """Crash the worker when it checks whether the file called ``name`` opens (before rendering)."""
    if Path(task.request.path).name == name and task.request.probe:
        _abort()


def _abort() -> None:
    """SIGABRT, as a native crash would, without leaving a core file behind."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.abort()


def hang_on(name: str, task: PageTask) -> None:
    """Make the worker stuck on the file called ``name`` (``<file>.stuck`` appears when it is)."""
    if Path(task.request.path).name == name:
        Path(f"{task.request.path}.stuck").touch()
        time.sleep(600)


def pause(seconds: float) -> None:
    """A slow start-up (as a busy machine's imports): installed as the worker's ``on_start``."""
    time.sleep(seconds)


def slow_pages(seconds: float, task: PageTask) -> None:
    """Every page the worker renders from now on takes ``seconds`` longer."""
    from qvl_cli.pages import workers

    if getattr(workers.open_pages, "slowed", False):
        return
    opened = workers.open_pages

    @contextmanager
    def open_slow_pages(*args: Any, **kwargs: Any) -> Iterator[Any]:
        with opened(*args, **kwargs) as pages:
            yield _SlowPages(pages, seconds)

    open_slow_pages.slowed = True
    workers.open_pages = open_slow_pages


class _SlowPages:
    def __init__(self, pages: Any, seconds: float) -> None:
        self._pages, self._seconds = pages, seconds

    def render(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(self._seconds)
        return self._pages.render(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pages, name)


def hang_in_ocr(task: PageTask) -> None:
    """OCR never finishes in this worker (rendering and text layers still work)."""
    from qvl_cli.evidence import ocr

    def stuck(*args: Any, **kwargs: Any) -> Any:
        time.sleep(600)

    ocr.engine = lambda: stuck


def slow_ocr_engine(seconds: float) -> None:
    """Building the OCR engine takes ``seconds`` longer (installed as the worker's ``on_start``)."""
    from qvl_cli.evidence import ocr

    build = ocr.build_engine

    def slow_build() -> Any:
        time.sleep(seconds)
        return build()

    ocr.build_engine = slow_build


def log_ocr_engine(log: str, task: PageTask) -> None:
    """Append the file's name, ``probe``, ``render`` or ``ocr`` (a scan's OCR, a task of its own),
    and whether this worker's OCR engine is built yet (``absent``, ``built``) to ``log``."""
    from qvl_cli.evidence import ocr

    kind = "probe" if task.request.probe else "render" if task.request.keep_pixels else "ocr"
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{Path(task.request.path).name} {kind} {'absent' if ocr._ENGINE is None else 'built'}\n")


def log_ocr_threads(log: str, task: PageTask) -> None:
    """Append the CPU threads of this worker's OCR engine, once built, to ``log``."""
    from qvl_cli.evidence import ocr

    if ocr._ENGINE is not None:
        options = ocr._ENGINE.text_det.infer.session.get_session_options()
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{options.intra_op_num_threads}\n")


def log_task(log: str, task: PageTask) -> None:
    """Append the worker's pid and the pages it is about to render (``measure`` first) to ``log``."""
    pages = "measure" if task.pages is None else " ".join(str(index + 1) for index, _, _ in task.pages)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{os.getpid()} {pages}\n")


HOOKED_QVL = "import render_hooks; render_hooks.main()"


def main() -> None:
    """``python -c HOOKED_QVL HOOK FILE-NAME QVL-ARGUMENTS...``: ``qvl`` itself, in this process,
    with ``partial(HOOK, FILE-NAME)`` run in its render workers before each task."""
    hook = partial(globals()[sys.argv[1]], sys.argv[2])
    del sys.argv[1:3]
    from qvl_cli.pages import pool

    class HookedRenderer(pool.ProcessRenderer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, hook=hook, **kwargs)

    pool.ProcessRenderer = HookedRenderer
    from qvl_cli.cli import main as qvl

    qvl()


def stall_ocr(name: str, task: PageTask) -> None:
    """Make OCR stuck in the worker on the file called ``name`` (its pages still render)."""
    if Path(task.request.path).name == name:
        from qvl_cli.evidence import ocr

        ocr.ocr_lines = _stuck  # type: ignore[assignment]


def crash_in_ocr(name: str, task: PageTask) -> None:
    """Crash the worker (SIGABRT) when it reads the file called ``name`` with OCR."""
    if Path(task.request.path).name == name:
        from qvl_cli.evidence import ocr

        ocr.ocr_lines = _crash  # type: ignore[assignment]


def _stuck(image: object) -> tuple[()]:
    time.sleep(600)
    return ()


def _crash(image: object) -> tuple[()]:
    _abort()
    return ()


def crash_in_closer_look(name: str, task: PageTask) -> None:
    """Crash the worker (SIGABRT) when it draws regions of the file called ``name`` again."""
    if Path(task.request.path).name == name and task.request.closer is not None:
        _abort()


def hold_closer_look(name: str, go: str, log: str, task: PageTask) -> None:
    """Hold the closer look at the file called ``name`` until the file ``go`` exists (at most
    30 s), then append ``released`` or ``timed out`` to ``log``."""
    if Path(task.request.path).name != name or task.request.closer is None:
        return
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with open(log, "a", encoding="utf-8") as out:
        out.write("released\n" if Path(go).exists() else "timed out\n")


def hang_in_closer_look(name: str, task: PageTask) -> None:
    """Make the worker stuck when it draws regions of the file called ``name`` again."""
    if Path(task.request.path).name == name and task.request.closer is not None:
        time.sleep(600)
