"""Starting render worker processes, and starting them early.

A worker is a fresh interpreter that imports the rendering libraries (about 0.1 s) before it
takes its setup. ``qvl render`` renders first thing, so :func:`prestart` starts its workers
before the command line is even parsed: their start-up overlaps the qvl process's own (typer,
settings) instead of following it. The pool :func:`adopt` s them as it needs workers; those it
does not need (a configuration file that asks for fewer) are stopped at exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess
    from multiprocessing.connection import Connection

PATH_ENV = "QVL_RENDER_WORKER_PATH"
BOOT = f"import json, os, sys; sys.path[:] = json.loads(os.environ.pop({PATH_ENV!r})); \
from qvl_cli.pages.worker_process import serve_fd; serve_fd(int(sys.argv[1]))"
WORKERS_FLAG, WORKERS_ENV = "--render-workers", "QVL_RENDER_WORKERS"
EARLY_COMMANDS = ("render",)  # commands whose first work is rendering
MAX_DEFAULT_WORKERS = 8

_early: list[Spawned] = []


@dataclass
class Spawned:
    """A worker process just started, and the qvl process's end of its pipe."""

    process: subprocess.Popen[bytes]
    conn: Connection

    def stop(self) -> None:
        self.conn.close()
        self.process.kill()
        self.process.wait()


def spawn() -> Spawned:
    """Start one worker: ``python -c BOOT`` with this interpreter and this ``sys.path``."""
    import json
    import multiprocessing
    import subprocess

    parent, child = multiprocessing.Pipe()
    env = {**os.environ, PATH_ENV: json.dumps(sys.path)}
    quiet = None if os.environ.get("QVL_DEBUG") else subprocess.DEVNULL
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", BOOT, str(child.fileno())],
            pass_fds=[child.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=quiet,
            env=env,
        )
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return Spawned(process, parent)


def prestart(args: Sequence[str]) -> None:
    """Start the workers that the command in ``args`` (``sys.argv[1:]``) will want, if it renders
    first thing: as many as ``--render-workers`` or ``QVL_RENDER_WORKERS`` say, else the default
    for a PDF and one for an image (one page: one worker)."""
    count = early_workers(args, os.environ.get(WORKERS_ENV))
    if count:
        import atexit

        _early.extend(spawn() for _ in range(count))
        atexit.register(stop_early)


def early_workers(args: Sequence[str], env: str | None) -> int:
    """How many workers to start before the command line is parsed (0: none, or not sure)."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in EARLY_COMMANDS or {"-h", "--help"} & set(args):
        return 0
    flag = _flag_value(args)
    given = flag if flag is not None else env
    if given is not None:
        return int(given) if given.isdecimal() else 0  # a bad value is the parser's to report
    return default_workers() if any(arg.lower().endswith(".pdf") for arg in args) else 1


def default_workers() -> int:
    """The cores this process may use, at most ``MAX_DEFAULT_WORKERS``."""
    return max(1, min(usable_cores(), MAX_DEFAULT_WORKERS))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _flag_value(args: Sequence[str]) -> str | None:
    for position, arg in enumerate(args):
        if arg == WORKERS_FLAG:
            return args[position + 1] if position + 1 < len(args) else ""
        if arg.startswith(WORKERS_FLAG + "="):
            return arg.partition("=")[2]
    return None


def adopt() -> Spawned | None:
    """A worker started early, if one is left."""
    return _early.pop(0) if _early else None


def stop_early() -> None:
    """Stop the workers started early that no pool took."""
    while _early:
        _early.pop().stop()
