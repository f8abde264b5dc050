"""Standard output that cannot be written: a full disk (``> /dev/full``) is one error line and exit
3, a reader that went away (``| head``) a quiet exit 141, whichever command or ``--help`` wrote.

:func:`guarded_stdout` puts ``sys.stdout`` over a file object whose failed writes raise
:class:`StdoutUnwritable`. That is not an :class:`OSError`, so nothing on the way (typer, click,
a handler of file errors) mistakes it for the error of another file, and only writes to standard
output are reported as such.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from typing import NoReturn

from qvl_cli.errors import EXIT_BROKEN_PIPE, OutputError


class StdoutUnwritable(Exception):
    """A write to standard output failed; ``error`` says why."""

    def __init__(self, error: OSError):
        super().__init__(error.strerror or str(error))
        self.error = error


class _StdoutFile(io.FileIO):
    """File descriptor 1, its failed writes raised as :class:`StdoutUnwritable`."""

    def write(self, data: object) -> int | None:  # type: ignore[override]
        try:
            return super().write(data)  # type: ignore[arg-type]
        except OSError as exc:
            raise StdoutUnwritable(exc) from None


def _tagged(stream: io.TextIOWrapper) -> io.TextIOWrapper:
    """A text stream like ``stream`` (same encoding, errors and buffering) over :class:`_StdoutFile`."""
    raw = _StdoutFile(stream.fileno(), "w", closefd=False)
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=stream.line_buffering,
        write_through=stream.write_through,
    )


@contextlib.contextmanager
def guarded_stdout() -> Iterator[None]:
    """Run the command line with standard output watched, flushed before the interpreter exits
    (so a failure there is reported too, not ignored)."""
    original = sys.stdout
    if isinstance(original, io.TextIOWrapper):
        with contextlib.suppress(OSError, ValueError):  # no file descriptor: leave it as it is
            original.flush()
            sys.stdout = _tagged(original)
    try:
        try:
            yield
        finally:
            sys.stdout.flush()
    except StdoutUnwritable as exc:
        if os.environ.get("QVL_DEBUG"):
            raise
        _stop(exc.error)


def _stop(error: OSError) -> NoReturn:
    """Nothing more can reach standard output: say why (a closed pipe is the reader's choice,
    not an error), make what is left in its buffer go nowhere, and exit."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    if error.errno == errno.EPIPE:
        raise SystemExit(EXIT_BROKEN_PIPE)
    problem = OutputError(f"cannot write to standard output: {error.strerror or error}")
    with contextlib.suppress(OSError):
        from qvl_cli.cli_display import print_error

        print_error(str(problem))
    raise SystemExit(problem.exit_code)
