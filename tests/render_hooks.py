"""Hooks the tests install in render workers (picklable: module-level, arguments bound by partial)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from qvl_cli.pages.workers import PageTask


def abort_on(name: str, task: PageTask) -> None:
    """Crash the worker (SIGABRT, as a native crash would) on the file called ``name``."""
    if Path(task.request.path).name == name:
        os.abort()


def hang_on(name: str, task: PageTask) -> None:
    """Make the worker stuck on the file called ``name``."""
    if Path(task.request.path).name == name:
        time.sleep(600)
