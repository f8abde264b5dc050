"""Where ``-o FILE`` output goes: standard output for ``-``; for a regular file (or a new one), a
temporary file beside it renamed over it when all went well, following symbolic links (the file a
link points to is replaced, the link kept); anything else (a FIFO, a terminal or other device, a
``/dev/fd/N`` pipe from ``>(...)``) is written directly, as it comes, with no temporary file.

Before anything is written, :func:`refuse_overwriting` turns away an output that is one of the
command's inputs or a document (PDF, image), which ``-o`` would otherwise replace with text.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from qvl_cli.errors import OutputError, QvlError

STDOUT = "-"


def is_stdout(output: str | Path | None) -> bool:
    """``-o -``: standard output."""
    return output is not None and str(output) == STDOUT


def new_file_mode(target: Path) -> int:
    """The mode a new file written over ``target`` gets: the old file's, else what the umask
    allows (``0o644`` under the usual umask), as with any other tool."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def temporary_beside(target: Path) -> tuple[int, Path]:
    """A temporary file in ``target``'s folder (``.<name>.<pid>.<random>.tmp``) with the mode the
    final file should have (``mkstemp`` alone would make it private). The process id lets a
    later run tell a leftover of a killed run from the file of one still running."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    with contextlib.suppress(OSError):  # a file system without modes keeps what it gave
        os.fchmod(fd, new_file_mode(target))
    return fd, Path(name)


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``target`` and rename it over ``target``."""
    fd, temp = temporary_beside(target)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def remove_leftovers(target: Path) -> list[Path]:
    """Delete the temporary files of ``target`` left by runs that were killed (``kill -9``,
    power loss); files of a run still going are kept. Returns what was removed."""
    removed = []
    for temp in target.parent.glob(f".{glob_escape(target.name)}.*.tmp"):
        pid = temp.name[len(target.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            temp.unlink()
            removed.append(temp)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _output_error(exc: OSError, path: Path) -> OutputError:
    return OutputError(f"cannot write output: {exc.strerror or exc}", path=path)


def landing(path: Path) -> tuple[Path, bool]:
    """Where output given as ``path`` lands, and whether it is written directly: not a regular
    file, or a file descriptor (``/dev/fd/N``, ``/dev/stdout``) that the shell opened already. A
    symbolic link lands on the file it points to; a folder is an :class:`OutputError`."""
    try:
        mode = os.stat(path).st_mode  # follows links: a link's target, a /dev/fd/N pipe
    except FileNotFoundError:  # a new file, or a dangling link naming one
        return (Path(os.path.realpath(path)) if os.path.islink(path) else path), False
    except OSError as exc:
        raise _output_error(exc, path) from None
    if stat.S_ISDIR(mode):
        raise OutputError("is a folder, not a file", path=path, hint="give a file name to -o")
    if not stat.S_ISREG(mode) or _names_descriptor(path):
        return path, True
    return Path(os.path.realpath(path)), False


_DESCRIPTOR = re.compile(r"/(dev|proc/[^/]+)/fd/\d+")


def _names_descriptor(path: Path) -> bool:
    """True when ``path`` is, or links to, an open file descriptor's name."""
    name = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if _DESCRIPTOR.fullmatch(name):
            return True
        try:
            name = os.path.normpath(os.path.join(os.path.dirname(name), os.readlink(name)))
        except OSError:
            return False
    return False


class OutputFile:
    """Text written to ``path`` (see the module): :meth:`commit` when complete, :meth:`abandon`
    to keep the previous file (what was written directly to a pipe or device stays written)."""

    def __init__(self, path: str | Path, mode: int | None = None):
        self.path = Path(path)
        self.notices: list[str] = []
        target, self.direct = landing(self.path)
        self._temp: Path | None = None
        try:
            if self.direct:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)  # as the shell opened it; no O_CREAT
            else:
                removed = remove_leftovers(target)
                self.notices = [f"removed {t}, left by an earlier run that was killed" for t in removed]
                fd, self._temp = temporary_beside(target)
                if mode is not None:
                    with contextlib.suppress(OSError):
                        os.fchmod(fd, mode)
        except OSError as exc:
            raise _output_error(exc, self.path) from None
        self._target = target
        self._handle: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        """Write and flush ``text``; a failure abandons the output (an :class:`OutputError`)."""
        try:
            self._handle.write(text)
            self._handle.flush()
        except OSError as exc:
            self.abandon()
            raise _output_error(exc, self.path) from None

    def commit(self) -> None:
        """Make the output final: synced and renamed over the target (or closed, written directly)."""
        try:
            self._handle.flush()
            if self._temp is not None:
                os.fsync(self._handle.fileno())
            self._handle.close()
            if self._temp is not None:
                os.replace(self._temp, self._target)
        except OSError as exc:
            self.abandon()
            raise _output_error(exc, self.path) from None

    def abandon(self) -> None:
        """Drop the temporary file; the previous output (if any) stays untouched."""
        if not self._handle.closed:
            with contextlib.suppress(OSError):  # what is left in the buffer fails again (disk full)
                self._handle.close()
        if self._temp is not None:
            self._temp.unlink(missing_ok=True)


def write_output(path: str | Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` as the whole output ``path`` (see :class:`OutputFile`)."""
    output = OutputFile(path, mode)
    output.write(text)
    output.commit()


def refuse_overwriting(output: str | Path, inputs: Iterable[str | Path], option: str = "-o") -> None:
    """A usage error when ``output`` is one of ``inputs`` (the same file, however named) or an
    existing PDF or image: ``option`` would replace it."""
    from qvl_cli.pages.inputs import PDF_HEADER_WINDOW
    from qvl_cli.runs.sources import not_records

    path = Path(output)
    try:
        if not path.is_file():
            return
        mine = path.stat()
        with path.open("rb") as handle:
            head = handle.read(PDF_HEADER_WINDOW)
    except OSError:
        return  # not readable: writing it will say what is wrong
    hint = f"give {option} another file"
    for given in inputs:
        if str(given) == STDOUT:  # stdin
            continue
        with contextlib.suppress(OSError):
            theirs = os.stat(given)
            if (theirs.st_dev, theirs.st_ino) == (mine.st_dev, mine.st_ino):
                which = "one of the inputs" if str(given) == str(output) else f"the input {given}"
                raise QvlError(f"is {which}; {option} would replace it", path=path, hint=hint)
    found = not_records(head, complete=False)
    if found is not None and found.is_document:
        raise QvlError(f"is {found.what()}; {option} would replace it", path=path, hint=hint)
