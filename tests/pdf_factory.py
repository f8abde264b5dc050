"""Write small, valid PDFs for tests: text pages of any size, /Rotate, crop boxes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class PageSpec:
    """One page: size in points, optional /Rotate, crop box and lines of Helvetica text."""

    width: float = 612
    height: float = 792
    rotate: int = 0
    cropbox: tuple[float, float, float, float] | None = None
    lines: tuple[str, ...] = field(default=("Hello",))
    invisible: bool = False  # text render mode 3: in the text layer, but nothing is drawn


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(page: PageSpec) -> bytes:
    parts = ["BT /F1 14 Tf 16 TL" + (" 3 Tr" if page.invisible else ""), f"1 0 0 1 36 {page.height - 48:.2f} Tm"]
    parts += [f"({_escape(line)}) Tj T*" for line in page.lines]
    parts.append("ET")
    return "\n".join(parts).encode("latin-1")


def pdf_bytes(pages: list[PageSpec]) -> bytes:
    """Serialize pages into a PDF with a correct cross-reference table."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    font_id = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for page in pages:
        stream = _content(page)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objects)
        extra = f" /Rotate {page.rotate}" if page.rotate else ""
        if page.cropbox:
            extra += " /CropBox [{} {} {} {}]".format(*page.cropbox)
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page.width} {page.height}]{extra}"
                f" /Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {content_id} 0 R >>"
            ).encode()
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write_pdf(path: Path, pages: list[PageSpec]) -> Path:
    path.write_bytes(pdf_bytes(pages))
    return path
