"""Input files are recognised by content, and page lists parse like a print dialog's."""

from __future__ import annotations

from pathlib import Path

import pytest

from qvl_cli.errors import InputError, PageSelectionError
from qvl_cli.pages.inputs import open_source, parse_page_ranges, sniff_kind


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", "pdf"),
        (b"\x00\x00junk before header %PDF-1.4", "pdf"),
        (b"\x89PNG\r\n\x1a\n....", "png"),
        (b"\xff\xd8\xff\xe0", "jpeg"),
        (b"II*\x00", "tiff"),
        (b"MM\x00*", "tiff"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (b"BM6\x00", "bmp"),
        (b"GIF89a", "gif"),
        (b"hello world", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
    ],
)
def test_sniff_kind(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head) == kind


def test_type_comes_from_content_not_extension(tmp_path: Path) -> None:
    from PIL import Image

    lying = tmp_path / "scan.pdf"
    Image.new("RGB", (40, 40), "white").save(lying, format="PNG")
    assert open_source(lying).kind == "png"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.write_bytes(b""), r"file is empty \(0 bytes\)"),
        (lambda p: p.write_text("just some notes"), "not a supported document; expected PDF, PNG"),
        (lambda p: p.symlink_to(p.parent / "gone"), r"no such file \(a broken symbolic link\)"),
    ],
)
def test_bad_paths_name_the_file_and_the_problem(tmp_path: Path, setup, message: str) -> None:
    path = tmp_path / "doc with spaces.pdf"
    setup(path)
    with pytest.raises(InputError, match=message) as info:
        open_source(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("spec", "count", "expected"),
    [
        (None, 3, [0, 1, 2]),
        ("", 3, [0, 1, 2]),
        ("1-3,7", 10, [0, 1, 2, 6]),
        ("2-", 4, [1, 2, 3]),
        ("-2", 4, [0, 1]),
        ("3,1,3", 4, [2, 0]),
        (" 2 - 3 ", 4, [1, 2]),
        ("1-10", 4, [0, 1, 2, 3]),
    ],
)
def test_page_ranges(spec: str | None, count: int, expected: list[int]) -> None:
    assert parse_page_ranges(spec, count) == expected


@pytest.mark.parametrize("spec", ["0", "a", "3-1", "1,,2", "1-2-3", "-"])
def test_malformed_page_ranges(spec: str) -> None:
    with pytest.raises(PageSelectionError, match="is not a page list like '1-3,7'"):
        parse_page_ranges(spec, 5)


def test_page_beyond_document() -> None:
    with pytest.raises(PageSelectionError, match="asks for page 9 but the document has 5"):
        parse_page_ranges("9", 5)
