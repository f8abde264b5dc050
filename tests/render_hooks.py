"""Hooks the tests install in render workers (picklable: module-level, arguments bound by partial)."""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from qvl_cli.pages.workers import PageTask


def abort_on(name: str, task: PageTask) -> None:
    """Crash the worker (SIGABRT, as a native crash would) on the file called ``name``."""
    if Path(task.request.path).name == name:
        _abort()


def abort_probing(name: str, task: PageTask) -> None:
    """Crash the worker when it checks whether the file called ``name`` opens (before rendering)."""
    if Path(task.request.path).name == name and task.request.probe:
        _abort()


def _abort() -> None:
    """SIGABRT, as a native crash would, without leaving a core file behind."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.abort()


def hang_on(name: str, task: PageTask) -> None:
    """Make the worker stuck on the file called ``name``."""
    if Path(task.request.path).name == name:
        time.sleep(600)


def log_task(log: str, task: PageTask) -> None:
    """Append the worker's pid and the pages it is about to render (``measure`` first) to ``log``."""
    pages = "measure" if task.pages is None else " ".join(str(index + 1) for index, _, _ in task.pages)
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"{os.getpid()} {pages}\n")


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
