"""Starting render worker processes, and starting them early.

A worker is a fresh interpreter that imports the rendering libraries (about 0.1 s) before it
takes its setup. ``qvl render`` renders first thing, so :func:`prestart` starts its workers
before the command line module is even imported (:mod:`qvl_cli.launch`): their start-up
overlaps the qvl process's own (typer, settings) instead of following it. The pool
:func:`adopt` s them as it needs workers; any it does not take are stopped at exit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess
    from multiprocessing.connection import Connection

PATH_ENV = "QVL_RENDER_WORKER_PATH"
BOOT = f"import json, os, sys; sys.path[:] = json.loads(os.environ.pop({PATH_ENV!r})); \
from qvl_cli.pages.worker_process import serve_fd; serve_fd(int(sys.argv[1]))"
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
    first thing (see :func:`early_workers`). Best effort: a worker that cannot be started now is
    left to the pool, which reports why."""
    count = early_workers(args, os.environ)
    if not count:
        return
    import atexit

    atexit.unregister(stop_early)  # once, however often this runs
    atexit.register(stop_early)
    try:
        for _ in range(count):
            _early.append(spawn())
    except OSError:  # no processes or file descriptors left: the pool tries again and says so
        stop_early()


def early_workers(args: Sequence[str], environ: Mapping[str, str]) -> int:
    """How many workers to start before the command line is parsed: the count the flag, the
    environment, the configuration file or the default gives (the last flag wins, as in the
    parser), at most the default for a PDF and one for anything else; 0 when the command does
    not render first thing, asks for help or the version, or the count is not a number."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    if command not in EARLY_COMMANDS or {"-h", "--help", "--version"} & set(args):
        return 0
    from qvl_cli.settings.layers import all_settings

    declared = all_settings()["render_workers"]
    given = _flag_value(args, declared.flag)
    if given is None:
        given = environ.get(declared.spec.env or "")
    if given is None:
        given = _configured()
    count = default_workers() if given is None else int(given) if given.isdecimal() else 0
    return min(count, default_workers() if _names_a_pdf(args) else 1)


def _flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value of the flag's last occurrence ("" when it has none)."""
    value = None
    for position, arg in enumerate(args):
        if arg == flag:
            value = args[position + 1] if position + 1 < len(args) else ""
        elif arg.startswith(flag + "="):
            value = arg.partition("=")[2]
    return value


def _configured() -> str | None:
    """``render_workers`` of the nearest configuration file ("" when the file cannot be read:
    the settings report that)."""
    from qvl_cli.settings.layers import find_config_file, qvl_table

    try:
        path = find_config_file(Path.cwd())
        value = qvl_table(path).get("render_workers") if path else None
    except Exception:
        return ""
    return None if value is None else str(value)


def _names_a_pdf(args: Sequence[str]) -> bool:
    """Whether an argument that is not an option's value names a PDF (a file after an option
    without ``=`` may be its value: not counted, so an image never starts every worker)."""
    return any(
        arg.lower().endswith(".pdf") and (position == 0 or not args[position - 1].startswith("-"))
        for position, arg in enumerate(args)
    )


def default_workers() -> int:
    """The cores this process may use, at most ``MAX_DEFAULT_WORKERS``."""
    return max(1, min(usable_cores(), MAX_DEFAULT_WORKERS))


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def adopt() -> Spawned | None:
    """A worker started early, if one is left."""
    try:
        return _early.pop(0)
    except IndexError:
        return None


def stop_early() -> None:
    """Stop the workers started early that no pool took."""
    while _early:
        _early.pop().stop()
