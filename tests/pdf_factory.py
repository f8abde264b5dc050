"""Write small, valid PDFs for tests: text pages of any size, /Rotate, crop boxes, encryption."""

from __future__ import annotations

import hashlib
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


def pdf_bytes(pages: list[PageSpec], password: str | None = None) -> bytes:
    """Serialize pages into a PDF with a correct cross-reference table; with ``password``, encrypted
    with it as the user password (the standard security handler, revision 3: 128-bit RC4)."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    font_id = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for page in pages:
        objects.append(b"")  # the content stream, written below once its object number is known
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
    security = _Security(password) if password is not None else None
    for page, content_id in zip(pages, range(4, len(objects), 2), strict=True):
        stream = _content(page)
        if security:
            stream = security.encrypt(content_id, stream)
        objects[content_id - 1] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
    trailer = b"/Root 1 0 R"
    if security:
        objects.append(security.dictionary())
        trailer += b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (
            len(objects),
            security.id.hex().encode(),
            security.id.hex().encode(),
        )

    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, trailer, xref)
    return bytes(out)


def write_pdf(path: Path, pages: list[PageSpec], password: str | None = None) -> Path:
    path.write_bytes(pdf_bytes(pages, password))
    return path


# The padding string of the standard security handler (ISO 32000-1, 7.6.3.3).
_PAD = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")
_PERMISSIONS = -4  # everything allowed


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _rc4_rounds(key: bytes, data: bytes) -> bytes:
    """RC4 with the key, then 19 more times with each byte of the key XORed with the round."""
    for round_ in range(20):
        data = _rc4(bytes(byte ^ round_ for byte in key), data)
    return data


class _Security:
    """The standard security handler, revision 3, with the same user and owner password."""

    def __init__(self, password: str) -> None:
        padded = (password.encode("latin-1") + _PAD)[:32]
        self.id = hashlib.md5(b"qvl test document").digest()
        digest = hashlib.md5(padded).digest()
        for _ in range(50):
            digest = hashlib.md5(digest).digest()
        self.owner = _rc4_rounds(digest, padded)  # algorithm 3
        key = hashlib.md5(padded + self.owner + _PERMISSIONS.to_bytes(4, "little", signed=True) + self.id).digest()
        for _ in range(50):
            key = hashlib.md5(key).digest()
        self.key = key  # algorithm 2
        self.user = _rc4_rounds(key, hashlib.md5(_PAD + self.id).digest()) + bytes(16)  # algorithm 5

    def encrypt(self, number: int, data: bytes) -> bytes:
        """A string or stream of object ``number`` (generation 0), encrypted (algorithm 1)."""
        object_key = hashlib.md5(self.key + number.to_bytes(3, "little") + bytes(2)).digest()
        return _rc4(object_key, data)

    def dictionary(self) -> bytes:
        return b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P %d /O <%s> /U <%s> >>" % (
            _PERMISSIONS,
            self.owner.hex().encode(),
            self.user.hex().encode(),
        )
