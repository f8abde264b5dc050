"""A small password-protected PDF, written byte for byte the same every time.

PDF's standard security handler, revision 2 (40-bit RC4, as old scanners and banks still
write): the file opens only with the user password. Used by ``make_examples.py`` for
``statement.pdf``, the sample of a document qvl cannot read without ``--password``.
"""

from __future__ import annotations

import hashlib
import struct

PADDING = bytes.fromhex("28bf4e5e4e758a4164004e56fffa01082e2e00b6d0683e802f0ca9fe6453697a")
PERMISSIONS = -4  # everything allowed (bits 3-6, 9-12 set; the low two bits must be 0)
KEY_BYTES = 5  # 40 bits: revision 2


def rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def _padded(password: str) -> bytes:
    return (password.encode("latin-1") + PADDING)[:32]


def security(user: str, owner: str, file_id: bytes) -> tuple[bytes, bytes, bytes]:
    """The file key and the /O and /U entries (PDF 1.7, algorithms 2, 3 and 4)."""
    owner_key = hashlib.md5(_padded(owner or user)).digest()[:KEY_BYTES]
    o_entry = rc4(owner_key, _padded(user))
    digest = hashlib.md5(_padded(user) + o_entry + struct.pack("<i", PERMISSIONS) + file_id).digest()
    key = digest[:KEY_BYTES]
    return key, o_entry, rc4(key, PADDING)


def _object_key(key: bytes, number: int) -> bytes:
    return hashlib.md5(key + number.to_bytes(3, "little") + (0).to_bytes(2, "little")).digest()[: KEY_BYTES + 5]


def encrypted_pdf(lines: list[str], user: str, owner: str, seed: str) -> bytes:
    """A one-page letter PDF showing ``lines`` in Helvetica, readable only with ``user``;
    ``seed`` fixes the file identifier, so the same arguments give the same bytes."""
    file_id = hashlib.md5(seed.encode("utf-8")).digest()
    key, o_entry, u_entry = security(user, owner, file_id)
    text = ["BT", "/F1 14 Tf", "72 720 Td", "18 TL"]
    for line in lines:
        escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        text.append(f"({escaped}) '")
    content = rc4(_object_key(key, 4), "\n".join([*text, "ET"]).encode("latin-1"))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>"
        % (o_entry.hex().encode(), u_entry.hex().encode(), PERMISSIONS),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    identifier = file_id.hex().encode()
    out += b"trailer\n<< /Size %d /Root 1 0 R /Encrypt %d 0 R /ID [<%s> <%s>] >>\n" % (
        len(objects) + 1,
        len(objects),
        identifier,
        identifier,
    )
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)
