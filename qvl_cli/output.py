"""Write envelopes: JSON Lines to a stream or, atomically, to a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

from qvl_cli.errors import OutputError


def dumps(record: dict[str, Any], pretty: bool) -> str:
    if pretty:
        return json.dumps(record, indent=2, ensure_ascii=False)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class StreamWriter:
    """One record per line (indented when a person is watching), flushed at once."""

    def __init__(self, stream: IO[str], pretty: bool = False):
        self.stream = stream
        self.pretty = pretty

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(dumps(record, self.pretty) + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.stream.flush()


class AtomicFileWriter:
    """JSON Lines into a temporary file beside ``path``, renamed over it on :meth:`close`.

    Readers see either the old file or the complete new one, never half a file.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent or ".")
        except OSError as exc:
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=self.path) from None
        self._temp = Path(temp)
        self._handle = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        try:
            self._handle.write(dumps(record, pretty=False) + "\n")
            self._handle.flush()
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=self.path) from None

    def close(self) -> None:
        try:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            os.replace(self._temp, self.path)
        except OSError as exc:
            self.discard()
            raise OutputError(f"cannot write output: {exc.strerror or exc}", path=self.path) from None

    def discard(self) -> None:
        """Drop the temporary file; the previous output (if any) stays untouched."""
        if not self._handle.closed:
            self._handle.close()
        self._temp.unlink(missing_ok=True)
