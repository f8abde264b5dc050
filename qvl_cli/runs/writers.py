"""Write envelopes: JSON Lines to a stream or, atomically, to a file. The writer is where an
:class:`~qvl_cli.runs.records.Envelope` becomes JSON."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from qvl_cli.errors import OutputError
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.targets import OutputFile, write_atomically


class Writer(Protocol):
    """Where records go: written one by one, then kept (``close``) or given up (``discard``)."""

    def recorded(self) -> dict[str, int]:
        """Documents already written (``--resume``): their key and their result's exit code."""
        ...

    def write(self, record: Envelope) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None: ...


def dumps(record: dict[str, Any], pretty: bool) -> str:
    if pretty:
        return json.dumps(record, indent=2, ensure_ascii=False)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class StreamWriter:
    """One record per line (indented when a person is watching), flushed at once."""

    def __init__(self, stream: IO[str], pretty: bool = False):
        self.stream = stream
        self.pretty = pretty
        self.echo: Callable[[str], None] | None = None  # set while a live display owns the terminal

    def recorded(self) -> dict[str, int]:
        return {}

    def write(self, record: Envelope) -> None:
        if self.echo is not None:
            self.echo(dumps(record.to_dict(), self.pretty))
            return
        self.stream.write(dumps(record.to_dict(), self.pretty) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()

    def discard(self) -> None:
        """Records already on the stream are complete lines; nothing to take back."""
        self.stream.flush()


class AtomicFileWriter:
    """JSON Lines into ``-o FILE`` (:class:`~qvl_cli.runs.targets.OutputFile`): a temporary file
    beside it renamed over it on :meth:`close`, so readers see either the old file or the complete
    new one, never half a file; a FIFO or a device gets each record as it comes. Temporary files
    that killed runs left beside it are removed and listed in :attr:`notices`.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._output = OutputFile(self.path)
        self.notices = self._output.notices

    def recorded(self) -> dict[str, int]:
        return {}

    def write(self, record: Envelope) -> None:
        self._output.write(dumps(record.to_dict(), pretty=False) + "\n")

    def close(self) -> None:
        self._output.commit()

    def discard(self) -> None:
        """Drop the temporary file; the previous output (if any) stays untouched."""
        self._output.abandon()


def resume_id(file: str | None, key: str) -> str:
    """What ``--resume`` knows a document by: its record's key (its content and the settings)
    and its file as given, so that two files with the same content each get their record."""
    return f"{key} {file or ''}"


def is_qvl_record(value: Any) -> bool:
    """A record ``qvl extract`` wrote: an object with its ``key`` and ``valid``."""
    return isinstance(value, dict) and bool(value.get("key")) and "valid" in value


class AppendingFileWriter:
    """JSON Lines appended to ``path`` and synced record by record, for ``--resume``.

    A line cut short by a crash (``kill -9``) is removed on opening, and a write that fails
    (disk full) is cut back, so every line in the file is a whole record; :meth:`recorded` tells
    which documents are already there.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._records = self._repair_and_read()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)  # less the umask
        except OSError as exc:
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=self.path) from None

    def _repair_and_read(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        records = {}
        for line in complete.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if is_qvl_record(record):
                records[resume_id(record.get("file"), record["key"])] = Envelope.from_dict(record).exit_code
        partial = data[len(complete) :]
        if not records and (complete.strip() or not partial.lstrip().startswith(b"{")) and data.strip():
            raise OutputError(
                "holds no qvl records; --resume appends only to a file that qvl extract -o wrote",
                path=self.path,
                hint="choose another -o file, or remove this one",
            )
        if partial:
            os.truncate(self.path, len(complete))  # a record cut short by a crash
        return records

    def recorded(self) -> dict[str, int]:
        return dict(self._records)

    def write(self, record: Envelope) -> None:
        data = (dumps(record.to_dict(), pretty=False) + "\n").encode("utf-8")
        end = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)  # no half record left behind
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=self.path) from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def discard(self) -> None:
        self.close()  # records already written are complete and stay


class DirectoryWriter:
    """One ``<name>.json`` per document in a folder, each written atomically.

    Names come from the input's file name only (no folders, no leading dots, no control
    characters), so they cannot leave the folder; a name already used in this run gets a short
    hash of the input path appended.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create output folder: {exc.strerror or exc}", path=self.folder) from None
        self._used: set[str] = set()

    def name_for(self, source: str) -> str:
        stem = safe_stem(Path(source).name)
        name = f"{stem}.json"
        if name in self._used:
            digest = hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:8]
            name = f"{stem}-{digest}.json"
        self._used.add(name)
        return name

    def recorded(self) -> dict[str, int]:
        records = {}
        for path in self.folder.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(record, dict) and record.get("key"):
                records[resume_id(record.get("file"), record["key"])] = Envelope.from_dict(record).exit_code
                self._used.add(path.name)
        return records

    def write(self, record: Envelope) -> None:
        target = self.folder / self.name_for(record.file or "document")
        try:
            # a link already there is replaced, not followed: nothing written leaves the folder
            write_atomically(target, dumps(record.to_dict(), pretty=True) + "\n")
        except OSError as exc:
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=target) from None

    def close(self) -> None:
        return None

    def discard(self) -> None:
        return None


def safe_stem(name: str) -> str:
    """A file-name stem that is safe on any file system and cannot name a folder."""
    stem = Path(name).stem if "." in name.strip(".") else name
    cleaned = "".join(ch if ch.isprintable() and ch not in '/\\:*?"<>|' else "_" for ch in stem)
    cleaned = cleaned.strip(" .")[:200]
    return cleaned or "document"
