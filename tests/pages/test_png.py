"""The page PNGs qvl writes are lossless at every zlib level, and `qvl render --png-compression`
reaches the files from every settings layer (and only `qvl render` has it)."""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from conftest import CORPUS
from pdf_factory import PageSpec, write_pdf
from PIL import Image
from typer.testing import CliRunner

from qvl_cli.cli import app
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.png import encode_png
from qvl_cli.pages.rasterize import render_document

LEVELS = range(10)
BUDGET = PixelBudget(max_pixels=200_000)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def idat_level_class(path: Path) -> int:
    """The level class zlib writes in the header of the PNG's image data (FLEVEL: 0 for levels
    0-1, 1 for 2-5, 2 for 6, 3 for 7-9)."""
    data = path.read_bytes()
    start = data.index(b"IDAT") + 4
    return data[start + 1] >> 6


def noise(mode: str, size: tuple[int, int] = (37, 23)) -> Image.Image:
    """An image of random pixels in ``mode`` (odd sizes: rows that are not word-aligned)."""
    rng = random.Random(mode)
    bands = len(mode) if mode in ("RGB", "RGBA", "LA") else 1
    raw = bytes(rng.randrange(256) for _ in range(size[0] * size[1] * bands))
    return Image.frombytes(mode, size, raw)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "1"])
def test_every_level_keeps_every_pixel(mode: str, level: int) -> None:
    image = noise(mode) if mode != "1" else noise("L").convert("1")
    back = decoded(encode_png(image, level))
    assert back.format == "PNG" and back.mode == image.mode and back.size == image.size
    if mode == "P":  # Pillow may reorder the palette: the colours must be the same
        back, image = back.convert("RGB"), image.convert("RGB")
    assert back.tobytes() == image.tobytes()


def test_a_grey_page_is_stored_as_grey_and_one_coloured_pixel_keeps_it_rgb() -> None:
    grey = noise("L", (64, 48)).convert("RGB")
    back = decoded(encode_png(grey))
    assert back.mode == "L" and back.convert("RGB").tobytes() == grey.tobytes()
    stamped = grey.copy()
    stamped.putpixel((63, 47), (200, 10, 10))  # the very last pixel: no early exit hides it
    back = decoded(encode_png(stamped))
    assert back.mode == "RGB" and back.tobytes() == stamped.tobytes()


@pytest.mark.parametrize("level", [-1, 10])
def test_a_level_outside_zlibs_range_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match="must be 0-9"):
        encode_png(noise("RGB"), level)


def test_rendered_pages_come_back_exactly_at_every_level(tmp_path: Path) -> None:
    lines = tuple(f"Line {i}: 2 x Widget at 12.50 EUR" for i in range(30))
    pdf = write_pdf(tmp_path / "text.pdf", [PageSpec(lines=("INVOICE", *lines)), PageSpec(842, 595)])
    pages = [page.image for page in render_document(pdf, BUDGET).pages]
    sizes = []
    for level in LEVELS:
        files = [encode_png(image, level) for image in pages]
        assert {decoded(data).mode for data in files} == {"L"}  # black text on white: stored as grey
        assert [decoded(data).convert("RGB").tobytes() for data in files] == [image.tobytes() for image in pages]
        sizes.append(sum(map(len, files)))
    assert sizes[0] > 3 * sizes[1]  # level 0 stores the rows as they are; 1 compresses
    assert sizes[9] <= sizes[1]


@pytest.mark.corpus
def test_corpus_pages_come_back_exactly(corpus: Path) -> None:
    documents = sorted(corpus.glob("**/*.pdf"))[:6] + sorted(corpus.glob("**/*.jpg"))[:3]
    assert documents, f"no PDFs or JPEGs under {CORPUS}"
    checked = 0
    for path in documents:
        for page in render_document(path, BUDGET, page_spec="1").pages:
            for level in (0, 1, 6, 9):
                back = decoded(encode_png(page.image, level)).convert("RGB")
                assert back.tobytes() == page.image.tobytes(), (path, level)
            checked += 1
    assert checked == len(documents)


def render(tmp_path: Path, pdf: Path, name: str, *args: str) -> list[Path]:
    out = tmp_path / name
    result = CliRunner().invoke(
        app, ["render", str(pdf), "--out", str(out), "--max-pixels", "200000", *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return sorted(out.glob("*.png"))


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return write_pdf(tmp_path / "doc.pdf", [PageSpec(lines=("INVOICE A-1", "Total 10.50 EUR"))] * 3)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_render_writes_the_pages_the_model_sees_at_any_level(tmp_path: Path, pdf: Path, workers: str) -> None:
    expected = [page.image.tobytes() for page in render_document(pdf, BUDGET).pages]
    fast = render(tmp_path, pdf, "fast", "--render-workers", workers)
    small = render(tmp_path, pdf, "small", "--render-workers", workers, "--png-compression", "9")
    for files in (fast, small):
        assert [Image.open(f).convert("RGB").tobytes() for f in files] == expected
    assert [idat_level_class(f) for f in fast] == [0] * 3  # the default: level 1
    assert [idat_level_class(f) for f in small] == [3] * 3
    assert not list((tmp_path / "fast").glob(".*"))  # no temporary files left


def test_png_compression_comes_from_file_env_and_flag(
    tmp_path: Path, pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".qvl.toml").write_text("png_compression = 9\n")
    assert {idat_level_class(f) for f in render(tmp_path, pdf, "file")} == {3}
    monkeypatch.setenv("QVL_PNG_COMPRESSION", "6")
    assert {idat_level_class(f) for f in render(tmp_path, pdf, "env")} == {2}
    assert {idat_level_class(f) for f in render(tmp_path, pdf, "flag", "--png-compression", "3")} == {1}


def test_a_bad_level_is_one_line(tmp_path: Path, pdf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(app, ["render", str(pdf), "--out", str(tmp_path / "o"), "--png-compression", "10"])
    assert (result.exit_code, result.stderr) == (2, "qvl: error: --png-compression: 10 is more than the maximum 9\n")
    assert not (tmp_path / "o").exists()


def test_only_render_takes_the_flag(tmp_path: Path, pdf: Path) -> None:
    result = CliRunner().invoke(app, ["extract", str(pdf), "-s", "invoice", "--png-compression", "3"])
    assert result.exit_code == 2 and "no such option: --png-compression" in result.stderr


def test_the_png_is_well_formed(tmp_path: Path) -> None:
    """Signature, IHDR (8-bit RGB, no interlace), one IDAT that zlib inflates to filtered rows, IEND;
    every chunk's CRC right."""
    image = noise("RGB", (5, 3))
    data = encode_png(image, 6)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks.append((kind, body))
        at += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (5, 3, 8, 2, 0, 0, 0)
    rows = zlib.decompress(chunks[1][1])
    assert rows == b"".join(b"\x00" + image.tobytes()[r * 15 : (r + 1) * 15] for r in range(3))


def chunk_kinds(data: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kinds.append(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def profile(space: str) -> bytes:
    from PIL import ImageCms

    if space == "sRGB":
        return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    header = bytearray(128)  # a header is all that the writer reads: its colour space, bytes 16-20
    header[16:20] = {"GRAY": b"GRAY", "CMYK": b"CMYK"}[space]
    return bytes(header)


@pytest.mark.parametrize(("mode", "space"), [("RGB", "sRGB"), ("RGBA", "sRGB"), ("L", "GRAY")])
def test_the_icc_profile_and_resolution_are_kept(mode: str, space: str) -> None:
    image = noise(mode)
    image.info.update(icc_profile=profile(space), dpi=(150, 300))
    data = encode_png(image)
    back = decoded(data)
    assert back.info["icc_profile"] == image.info["icc_profile"]
    assert back.info["dpi"] == pytest.approx((150, 300), abs=0.02)
    assert back.mode == mode and back.tobytes() == image.tobytes()
    kinds = chunk_kinds(data)
    assert kinds[0] == b"IHDR" and kinds.index(b"iCCP") < kinds.index(b"IDAT") and b"pHYs" in kinds


@pytest.mark.parametrize(
    ("image", "space", "mode"),
    [
        ("grey page", "sRGB", "L"),  # stored as grey, as without a profile: an RGB profile cannot go with it
        ("colour page", "CMYK", "RGB"),  # a scan converted from CMYK: its CMYK profile does not fit RGB
        ("colour page", "GRAY", "RGB"),
    ],
)
def test_a_profile_is_kept_only_where_it_fits_the_files_colours(image: str, space: str, mode: str) -> None:
    page = noise("L").convert("RGB") if image == "grey page" else noise("RGB")
    page.info["icc_profile"] = profile(space)
    data = encode_png(page)
    back = decoded(data)
    assert back.mode == mode and back.convert("RGB").tobytes() == page.tobytes()
    assert "icc_profile" not in back.info and b"iCCP" not in chunk_kinds(data)


def test_a_resolution_alone_is_kept_and_a_grey_page_still_stored_as_grey() -> None:
    image = noise("L").convert("RGB")
    image.info["dpi"] = (200.0, 200.0)
    back = decoded(encode_png(image))
    assert back.mode == "L" and back.info["dpi"] == pytest.approx((200, 200), abs=0.02)
    assert "icc_profile" not in back.info
    palette = noise("L").convert("P")
    palette.info["dpi"] = (96, 96)  # written by Pillow: the resolution is passed on
    assert decoded(encode_png(palette)).info["dpi"] == pytest.approx((96, 96), abs=0.02)


def test_pages_without_them_get_no_metadata_chunks() -> None:
    assert chunk_kinds(encode_png(noise("RGB"))) == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (8, 8), (37, 23), (200, 9)])
def test_the_grey_check_sees_a_single_coloured_pixel_anywhere(size: tuple[int, int]) -> None:
    """The sample only decides early for colour: any one coloured pixel keeps the page RGB,
    on the sample's grid or off it, and a page without one is grey."""
    grey = noise("L", size).convert("RGB")
    assert decoded(encode_png(grey)).mode == "L"
    rng = random.Random(size[0] * 1000 + size[1])
    width, height = size
    spots = {(0, 0), (width - 1, height - 1), *((rng.randrange(width), rng.randrange(height)) for _ in range(12))}
    for spot in spots:
        stamped = grey.copy()
        red, _, _ = stamped.getpixel(spot)  # type: ignore[misc]
        stamped.putpixel(spot, (red, red ^ 1, red))  # off by one in green only
        back = decoded(encode_png(stamped))
        assert back.mode == "RGB" and back.tobytes() == stamped.tobytes(), spot


def test_a_colour_page_is_told_apart_without_copying_its_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    colour = noise("RGB", (400, 300))

    def no_split(self: Image.Image) -> tuple[Image.Image, ...]:
        raise AssertionError("the bands of a colour page were copied")

    monkeypatch.setattr(Image.Image, "split", no_split)
    back = decoded(encode_png(colour))
    assert back.mode == "RGB" and back.tobytes() == colour.tobytes()


def test_a_scan_shrunk_to_its_budget_states_its_new_resolution(tmp_path: Path) -> None:
    """300 dpi paper drawn at half its pixels is 150 dpi: the file says so (not the scan's 300)."""
    from qvl_cli.pages.inputs import open_source
    from qvl_cli.pages.rasterize import open_pages

    scan = tmp_path / "scan.png"
    noise("RGB", (800, 600)).save(scan, dpi=(300, 300))
    with open_pages(open_source(scan)) as pages:
        same, half = pages.render(0, (800, 600)), pages.render(0, (400, 300))
    assert decoded(encode_png(same)).info["dpi"] == pytest.approx((300, 300), abs=0.02)
    assert decoded(encode_png(half)).info["dpi"] == pytest.approx((150, 150), abs=0.02)
