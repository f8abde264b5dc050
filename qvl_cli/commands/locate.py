"""``qvl locate``: add or refresh ``evidence`` in existing records.

Any JSON Lines of objects with ``file`` and ``data`` (a qvl run, a server's output, hand-written
records): each document is rendered the way the record says it was (its budgets and pages), its
text read (text layer or OCR), and every value of ``data`` located. Every other key keeps its
value and place; the not-found warnings are replaced. A record that cannot be processed is kept
as it was, with one error line on stderr, and the rest go on.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from qvl_cli.errors import EXIT_USAGE, EXIT_VALID, InputError, QvlError
from qvl_cli.evidence.locate import NOT_FOUND, NOT_ON_ORIGIN
from qvl_cli.evidence.unsearched import WARNING_END
from qvl_cli.pages.budgets import DEFAULT_MAX_PIXELS, DEFAULT_MAX_TOTAL_PIXELS, DEFAULT_MIN_PIXELS, PixelBudget
from qvl_cli.pages.rasterize import DEFAULT_PDF_DPI

if TYPE_CHECKING:
    from qvl_cli.pages.rasterize import DocumentPages

REFRESHED = (NOT_FOUND, NOT_ON_ORIGIN, WARNING_END)  # the ends of the warnings a refresh replaces
TAKES = "qvl locate takes the JSON Lines written by `qvl extract -o`, or - for stdin"


class RecordError(QvlError):
    kind = "record"


@dataclass
class LocateSummary:
    records: int = 0
    located: int = 0
    missing: int = 0
    unsearched: int = 0  # not looked for: on pages without a text layer (--evidence text)
    failed: int = 0  # records written unchanged: their document could not be read
    left_out: int = 0  # lines that are not records (not JSON objects with 'file' and 'data'): not written

    def line(self) -> str:
        from qvl_cli.wording import plural

        unsearched = f", {self.unsearched} not looked for (no text layer)" if self.unsearched else ""
        line = (
            f"{plural(self.records, 'record')}: {plural(self.located, 'value')} located, {self.missing} not found"
            f"{unsearched}, {plural(self.failed, 'record')} failed"
        )
        return line + (f", {plural(self.left_out, 'line')} left out" if self.left_out else "")


def locate_records(source: str, output: Path | None, mode: str, password: str | None, quiet: bool) -> int:
    """Locate the values of every record of ``source`` (a JSONL file or ``-``), written to stdout
    or ``output`` (``-``: stdout); 2 when a record failed or a line was left out, else 0. An empty
    ``source`` is an :class:`InputError`; when no line was a record, ``output`` keeps what it held."""
    from qvl_cli.runs.sources import source_name
    from qvl_cli.runs.targets import is_stdout, refuse_overwriting

    file = None if output is None or is_stdout(output) else output
    if file is not None:
        refuse_overwriting(file, [source])
    lines = _read_lines(source)
    first = next(lines, None)  # the input checked and read before the output is opened
    if first is None:
        raise InputError("empty: no record to locate", path=source_name(source), hint=TAKES)
    summary = LocateSummary()
    target = _Output(file)
    try:
        for number, line, bad_byte in itertools.chain([first], lines):
            record = _parse(line, bad_byte, source, number, quiet, summary)
            if record is None:
                continue
            try:
                record = refresh(record, mode, password, summary)
            except QvlError as exc:
                summary.failed += 1
                _report(f"{source}:{number}: {exc}", quiet)
            target.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            summary.records += 1
    except BaseException:
        target.abandon()
        raise
    target.finish(keep=summary.records > 0)  # lines that were all left out: the previous output stays
    if not quiet:
        sys.stderr.write(f"qvl: {summary.line()}\n")
    return EXIT_USAGE if summary.failed or summary.left_out else EXIT_VALID


class _Output:
    """Lines to stdout (flushed one by one), or to ``-o FILE`` (:class:`~qvl_cli.runs.targets.OutputFile`:
    replaced when all went well, never half a file)."""

    def __init__(self, path: Path | None):
        from qvl_cli.runs.targets import OutputFile

        self._file = OutputFile(path) if path is not None else None

    def write(self, line: str) -> None:
        if self._file is not None:
            self._file.write(line)
            return
        sys.stdout.write(line)
        sys.stdout.flush()

    def finish(self, keep: bool) -> None:
        if self._file is not None and keep:
            self._file.commit()
        else:
            self.abandon()

    def abandon(self) -> None:
        if self._file is not None:
            self._file.abandon()


def _read_lines(source: str) -> Iterator[tuple[int, str, int | None]]:
    """``(number, line, bad byte)`` for each line of ``source`` that is not blank (the bad byte: the
    first that is not UTF-8, the line then empty), after a look at its first bytes: a folder, a
    document or a binary file is an :class:`InputError`."""
    from qvl_cli.runs.sources import RECORDS, STDIN, TEXT_SNIFF_BYTES, not_records, refuse_folder

    refuse_folder(source, TAKES)
    try:
        handle = sys.stdin.buffer if source == STDIN else Path(source).open("rb")
    except OSError as exc:
        raise RECORDS.unreadable(source, exc) from None
    with handle:
        head = handle.read(TEXT_SNIFF_BYTES)
        if found := not_records(head, complete=len(head) < TEXT_SNIFF_BYTES):
            raise RECORDS.refused(source, found)
        for number, raw in enumerate(_byte_lines(head, handle), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, "", raw[exc.start]
                continue
            if line.strip():
                yield number, line, None


def _byte_lines(head: bytes, handle: BinaryIO) -> Iterator[bytes]:
    """The lines of a file whose first bytes, ``head``, were read already."""
    *whole, rest = head.split(b"\n")
    for line in whole:
        yield line + b"\n"
    rest += handle.readline()
    if rest:
        yield rest
    yield from handle


def _parse(
    line: str, bad_byte: int | None, source: str, number: int, quiet: bool, summary: LocateSummary
) -> dict[str, Any] | None:
    if bad_byte is not None:
        summary.left_out += 1
        _report(f"{source}:{number}: not UTF-8 text (byte 0x{bad_byte:02x}); line left out", quiet)
        return None
    from qvl_cli.runs.sources import json_problem

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        summary.left_out += 1
        _report(f"{source}:{number}: not a JSON object ({json_problem(exc, one_line=True)}); line left out", quiet)
        return None
    if not isinstance(record, dict) or not isinstance(record.get("file"), str) or "data" not in record:
        summary.left_out += 1
        _report(f"{source}:{number}: a record needs 'file' and 'data'; line left out", quiet)
        return None
    return record


def refresh(record: dict[str, Any], mode: str, password: str | None, summary: LocateSummary) -> dict[str, Any]:
    """The record with fresh ``evidence`` and not-found warnings (raises :class:`QvlError`).

    The document is read a chunk of pages at a time at the sizes the record says its pages were
    sent at, so a record of a long document read in windows costs no more memory than a short one,
    and its ``origin`` (the pages each value was read from) guides and checks the evidence."""
    from qvl_cli.evidence.grounding import ocr_cache_dir
    from qvl_cli.evidence.locate import locate
    from qvl_cli.evidence.pages import TextOptions, streamed_text
    from qvl_cli.evidence.reread import RegionReader
    from qvl_cli.pages.inputs import file_sha256
    from qvl_cli.pages.rasterize import measure_document

    if record.get("data") is None:
        return record | {"evidence": None}
    budget, pages, dpi = _rendering(record)
    document = measure_document(record["file"], pages, password, dpi)
    try:
        sha256: str | None = file_sha256(document.source.path)
    except OSError:
        sha256 = None
    sizes = _page_sizes(record, document, budget)
    text = streamed_text(document, sizes, TextOptions(mode, ocr_cache_dir()), sha256)
    normalized = record.get("normalized") if isinstance(record.get("normalized"), dict) else None
    origin = record.get("origin") if isinstance(record.get("origin"), dict) else None
    reread = RegionReader.of(document, sizes, ocr_cache_dir(), sha256) if mode != "text" else None
    located = locate(record["data"], text, _schema(record.get("schema")), normalized, origin, reread)
    summary.located += located.located
    summary.missing += len(located.missing)
    summary.unsearched += len(located.unsearched)
    kept = [w for w in record.get("warnings") or [] if not (isinstance(w, str) and w.endswith(REFRESHED))]
    record = dict(record)
    record["evidence"] = located.evidence
    record["warnings"] = kept + list(located.warnings)
    return record


def _page_sizes(record: dict[str, Any], document: DocumentPages, budget: PixelBudget) -> dict[int, tuple[int, int]]:
    """Each selected page's size as the record says it was sent; where it does not say, the
    size qvl would send it at now (in its window, for a long document)."""
    from qvl_cli.pages.windows import WindowSettings, plan_windows

    given = {}
    for page in record.get("pages") or []:
        size = page.get("size") if isinstance(page, dict) else None
        if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size):
            given[page.get("page")] = (size[0], size[1])
    if all(number in given for number in document.numbers):
        return given
    raw = record.get("budget") if isinstance(record.get("budget"), dict) else {}
    floor = raw.get("min_page_pixels") if isinstance(raw, dict) else None
    settings = WindowSettings(min_page_pixels=floor) if isinstance(floor, int) else WindowSettings()
    planned: dict[int, tuple[int, int]] = {}
    for window in plan_windows(list(document.native_sizes), budget, settings):
        for position, size in zip(window.positions, window.plan.sizes, strict=True):
            planned.setdefault(document.numbers[position], size)
    return planned


def _rendering(record: dict[str, Any]) -> tuple[PixelBudget, str | None, float]:
    """The budgets, pages and DPI the record was made with (qvl's defaults where it does not say)."""
    given = record.get("budget")
    raw: dict[str, Any] = given if isinstance(given, dict) else {}
    total = raw.get("max_total_pixels", DEFAULT_MAX_TOTAL_PIXELS)  # null in a record: no cap
    try:
        budget = PixelBudget(
            int(raw.get("min_pixels") or DEFAULT_MIN_PIXELS),
            int(raw.get("max_pixels") or DEFAULT_MAX_PIXELS),
            int(total) if total else None,
        )
    except (TypeError, ValueError):
        raise RecordError("the record's 'budget' is not qvl's budget object") from None
    pages = record.get("pages")
    numbers = [p.get("page") for p in pages if isinstance(p, dict)] if isinstance(pages, list) else []
    spec = ",".join(str(n) for n in numbers if isinstance(n, int)) or None
    return budget, spec, float(raw.get("pdf_dpi") or DEFAULT_PDF_DPI)


def _schema(name: Any) -> dict[str, Any] | None:
    """The record's schema document when it names a built-in one (for label words)."""
    if not isinstance(name, str):
        return None
    from qvl_cli.schemas.catalog import load_schema

    try:
        return load_schema(name).document
    except QvlError:
        return None


def _report(message: str, quiet: bool) -> None:
    if not quiet:
        sys.stderr.write(f"qvl: error: {message}\n")
