"""Input documents: recognise their type by content and parse page selections."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qvl_cli.errors import InputError, PageSelectionError

# Leading bytes of each supported format. PDFs may have junk before the header; PDFium allows
# the header anywhere in the first kilobyte, and so do we.
_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
PDF_HEADER_WINDOW = 1024
SUPPORTED = "PDF, PNG, JPEG, TIFF, WebP, BMP or GIF"


@dataclass(frozen=True)
class SourceFile:
    """A readable input file and the format its content says it has."""

    path: Path
    kind: str  # "pdf" or an image format name
    size_bytes: int

    @property
    def is_pdf(self) -> bool:
        return self.kind == "pdf"

    @property
    def in_memory(self) -> bool:
        """Page images given in memory (the Python API): there is no file to read again."""
        return self.kind == MEMORY_KIND


MEMORY_KIND = "in-memory images"


def sniff_kind(head: bytes) -> str | None:
    """Name the document format from the first bytes of a file, or ``None``."""
    if b"%PDF-" in head[:PDF_HEADER_WINDOW]:
        return "pdf"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    for signature, kind in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return kind
    return None


def open_source(path: str | Path) -> SourceFile:
    """Check that ``path`` is a readable, non-empty document of a supported type."""
    p = Path(path)
    if not p.exists():
        broken = " (a broken symbolic link)" if p.is_symlink() else ""
        raise InputError(f"no such file{broken}", path=p)
    if p.is_dir():
        raise InputError("is a directory, not a document", path=p)
    try:
        with p.open("rb") as handle:
            head = handle.read(PDF_HEADER_WINDOW)
        size = p.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", path=p) from None
    if size == 0:
        raise InputError("file is empty (0 bytes)", path=p)
    kind = sniff_kind(head)
    if kind is None:
        raise InputError(f"not a supported document; expected {SUPPORTED}", path=p)
    return SourceFile(path=p, kind=kind, size_bytes=size)


def parse_page_ranges(spec: str | None, page_count: int) -> list[int]:
    """Turn ``"1-3,7"`` into zero-based page indices; ``None`` selects every page.

    Open ranges work as well: ``"5-"`` means page 5 to the end, ``"-3"`` pages 1 to 3.
    Pages keep the order given; duplicates are dropped.
    """
    if spec is None or not spec.strip():
        return list(range(page_count))
    selected: list[int] = []
    for part in spec.split(","):
        first, last = _parse_range(part.strip(), spec, page_count)
        if first > page_count:
            raise PageSelectionError(f"--pages {spec!r} asks for page {first} but the document has {page_count}")
        for number in range(first, min(last, page_count) + 1):
            if number - 1 not in selected:
                selected.append(number - 1)
    return selected


def _parse_range(part: str, spec: str, page_count: int) -> tuple[int, int]:
    bad = PageSelectionError(f"--pages {spec!r} is not a page list like '1-3,7'")
    if not part:
        raise bad
    head, dash, tail = (piece.strip() for piece in part.partition("-"))
    if dash and not head and not tail:
        raise bad
    try:
        first = int(head) if head else 1
        last = (int(tail) if tail else page_count) if dash else first
    except ValueError:
        raise bad from None
    if first < 1 or last < first:
        raise bad
    return first, last


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Content hash of a file, read in chunks."""
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
