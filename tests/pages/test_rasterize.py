"""Real PDFs through real PDFium and images in every mode become correctly sized RGB pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdf_factory import PageSpec, write_pdf
from PIL import Image

from qvl_cli.errors import BudgetError, EncryptedDocumentError, InputError
from qvl_cli.pages.budgets import FACTOR, PixelBudget, fit_size
from qvl_cli.pages.rasterize import render_document

BUDGET = PixelBudget(max_pixels=300_000)


def dark_fraction(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Share of dark pixels in a region: where the text is."""
    region = image.crop(box).convert("L")
    pixels = list(region.getdata())
    return sum(p < 128 for p in pixels) / len(pixels)


def test_pdf_pages_are_sized_by_the_budget(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "sizes.pdf", [PageSpec(612, 792), PageSpec(842, 595), PageSpec(200, 200)])
    document = render_document(pdf, BUDGET, dpi=144)
    assert document.page_count == 3
    for page, (w_pt, h_pt) in zip(document.pages, [(612, 792), (842, 595), (200, 200)], strict=True):
        assert page.source_size == (round(w_pt * 2), round(h_pt * 2))
        assert page.size == fit_size(w_pt * 2, h_pt * 2, BUDGET.min_pixels, BUDGET.max_pixels)
        assert page.image.mode == "RGB"
        assert page.size[0] % FACTOR == 0 and page.size[1] % FACTOR == 0


def test_text_is_rendered_where_the_page_puts_it(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "text.pdf", [PageSpec(lines=("INVOICE 12345 " * 3,) * 4)])
    image = render_document(pdf, BUDGET).pages[0].image
    width, height = image.size
    assert dark_fraction(image, (0, 0, width // 2, height // 8)) > 0.02  # text at the top left
    assert dark_fraction(image, (0, height // 2, width, height)) == 0  # blank lower half


def test_rotate_and_cropbox_are_honoured(tmp_path: Path) -> None:
    pdf = write_pdf(
        tmp_path / "rotated.pdf",
        [
            PageSpec(612, 792, rotate=90, lines=("ROTATED TEXT " * 4,) * 3),
            PageSpec(1000, 500, cropbox=(0, 0, 400, 300)),
        ],
    )
    rotated, cropped = render_document(pdf, BUDGET, dpi=72).pages
    assert rotated.source_size == (792, 612)
    assert rotated.size[0] > rotated.size[1]  # landscape after /Rotate 90
    # Text that started at the top left now runs down the right edge.
    w, h = rotated.size
    assert dark_fraction(rotated.image, (w - w // 8, 0, w, h // 2)) > 0.01
    assert dark_fraction(rotated.image, (0, 0, w // 8, h)) == 0
    assert cropped.source_size == (400, 300)


def test_page_selection_keeps_page_numbers(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "five.pdf", [PageSpec(lines=(f"page {i}",)) for i in range(1, 6)])
    document = render_document(pdf, BUDGET, page_spec="2,4-")
    assert [page.number for page in document.pages] == [2, 4, 5]
    assert document.page_count == 5


def test_hundred_page_pdf(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "long.pdf", [PageSpec(lines=(f"page {i}",)) for i in range(100)])
    document = render_document(pdf, PixelBudget(max_pixels=50_000))
    assert len(document.pages) == 100
    assert all(page.image.width * page.image.height <= 50_000 for page in document.pages)


def test_giant_pdf_page_renders_directly_at_budget_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 200 x 200 inch page at 200 dpi would be 1.6 gigapixels; PDFium must draw only ~1 MP."""
    import pypdfium2 as pdfium

    drawn: list[tuple[int, int]] = []
    original = pdfium.PdfBitmap.new_native

    def spy(width, height, *args, **kwargs):
        drawn.append((width, height))
        return original(width, height, *args, **kwargs)

    monkeypatch.setattr(pdfium.PdfBitmap, "new_native", spy)
    pdf = write_pdf(tmp_path / "giant.pdf", [PageSpec(200 * 72, 200 * 72)])
    page = render_document(pdf, PixelBudget()).pages[0]
    assert page.source_size == (40_000, 40_000)
    assert page.size == (980, 980)
    assert drawn == [(980, 980)]


def test_extreme_aspect_ratio_names_the_file(tmp_path: Path) -> None:
    pdf = write_pdf(tmp_path / "ribbon.pdf", [PageSpec(14_000, 20)])
    with pytest.raises(BudgetError, match=r"ribbon\.pdf: aspect ratio 700:1 exceeds"):
        render_document(pdf, BUDGET)


def test_corrupt_and_truncated_pdfs(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    with pytest.raises(InputError, match=r"broken\.pdf: cannot open PDF: the file is damaged or not a PDF"):
        render_document(broken, BUDGET)


def test_pdf_with_an_empty_page_tree(tmp_path: Path) -> None:
    """A zero-page PDF is not "damaged or not a PDF": it says it has no pages."""
    import pypdfium2 as pdfium

    empty = write_pdf(tmp_path / "nopages.pdf", [])
    with pytest.raises(InputError, match=r"nopages\.pdf: PDF has no pages$"):
        render_document(empty, BUDGET)
    written = tmp_path / "pdfium-empty.pdf"
    pdfium.PdfDocument.new().save(written)  # a zero-page PDF as PDFium itself writes one
    with pytest.raises(InputError, match=r"pdfium-empty\.pdf: PDF has no pages$"):
        render_document(written, BUDGET)


# Images ---------------------------------------------------------------------------------------


def save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def test_rgba_alpha_is_composited_over_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (200, 100), (255, 0, 0, 0))  # fully transparent red
    image.paste((0, 0, 255, 255), (0, 0, 100, 100))  # opaque blue left half
    page = render_document(save(image, tmp_path / "alpha.png"), BUDGET).pages[0]
    rgb = page.image
    assert rgb.mode == "RGB"
    assert rgb.getpixel((rgb.width - 5, 5)) == (255, 255, 255)
    assert rgb.getpixel((5, 5)) == (0, 0, 255)


def test_la_and_palette_with_transparency(tmp_path: Path) -> None:
    la = Image.new("LA", (100, 100), (0, 0))
    assert render_document(save(la, tmp_path / "la.png"), BUDGET).pages[0].image.getpixel((50, 50)) == (255,) * 3
    palette = Image.new("P", (100, 100), 0)
    palette.putpalette([0, 0, 0] * 256)
    path = save(palette, tmp_path / "p.png", transparency=0)
    assert render_document(path, BUDGET).pages[0].image.getpixel((50, 50)) == (255, 255, 255)


def test_16bit_grayscale_keeps_its_tones(tmp_path: Path) -> None:
    image = Image.new("I;16", (100, 100), 32768)  # mid grey in 16 bits
    pixel = render_document(save(image, tmp_path / "grey16.png"), BUDGET).pages[0].image.getpixel((50, 50))
    assert all(120 <= channel <= 136 for channel in pixel)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    image = Image.new("CMYK", (100, 100), (0, 255, 255, 0))  # pure red in CMYK
    pixel = render_document(save(image, tmp_path / "cmyk.jpg", quality=95), BUDGET).pages[0].image.getpixel((50, 50))
    assert pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "GIF", "TIFF"])
def test_every_image_format(tmp_path: Path, fmt: str) -> None:
    image = Image.new("RGB", (300, 200), (10, 200, 10))
    page = render_document(save(image, tmp_path / f"img.{fmt.lower()}", format=fmt), BUDGET).pages[0]
    assert page.source_size == (300, 200)
    assert page.size == fit_size(300, 200, BUDGET.min_pixels, BUDGET.max_pixels)


def test_multipage_tiff_frames_are_pages(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (100 + 50 * i, 100), (i * 60, 0, 0)) for i in range(3)]
    path = tmp_path / "scan.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    document = render_document(path, BUDGET)
    assert [page.source_size for page in document.pages] == [(100, 100), (150, 100), (200, 100)]
    assert document.pages[2].image.getpixel((10, 10))[0] > 100


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (300, 100), "white")
    image.paste((0, 0, 0), (0, 0, 50, 100))  # black band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = save(image, tmp_path / "rotated.jpg", exif=exif, quality=95)
    page = render_document(path, BUDGET).pages[0]
    assert page.source_size == (100, 300)
    top = page.image.getpixel((page.size[0] // 2, 5))
    assert max(top) < 60  # the band is at the top after rotation


def test_truncated_image(tmp_path: Path) -> None:
    good = save(Image.effect_noise((400, 400), 50).convert("RGB"), tmp_path / "full.png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"cut\.png: cannot decode PNG image"):
        render_document(cut, BUDGET)


# Real-world files from ../shared/corpus ------------------------------------------------------


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    from PIL import ImageChops, ImageStat

    return ImageStat.Stat(ImageChops.difference(a.convert("L"), b.convert("L"))).mean[0]


@pytest.mark.corpus
@pytest.mark.parametrize("value", [2, 4, 6, 8])
def test_corpus_exif_orientations_all_display_upright(corpus: Path, value: int) -> None:
    """Each file stores the same photo transformed (mirrored for 2 and 4) and says how to undo it:
    the rendered pixels must match the upright original, not just its size."""
    reference = render_document(corpus / "exif-orientation/Landscape_0.jpg", BUDGET).pages[0].image
    path = corpus / f"exif-orientation/Landscape_{value}.jpg"
    page = render_document(path, BUDGET).pages[0].image
    assert page.size == reference.size
    assert mean_difference(page, reference) < 6  # JPEG noise only (measured about 2)
    stored = Image.open(path).convert("RGB").resize(reference.size)
    assert mean_difference(stored, reference) > 40  # the pixels as stored are far from upright


@pytest.mark.parametrize(("value", "band_at"), [(2, "right"), (4, "bottom"), (3, "bottom-right")])
def test_exif_mirroring_orientations_move_the_pixels(tmp_path: Path, value: int, band_at: str) -> None:
    image = Image.new("RGB", (300, 200), "white")
    image.paste((0, 0, 0), (0, 0, 60, 40))  # a black block in the top-left corner as stored
    exif = Image.Exif()
    exif[0x0112] = value
    page = render_document(save(image, tmp_path / f"o{value}.png", exif=exif), BUDGET).pages[0].image
    width, height = page.size
    corners = {"right": (width - 5, 5), "bottom": (5, height - 5), "bottom-right": (width - 5, height - 5)}
    assert max(page.getpixel(corners[band_at])) < 60
    assert min(page.getpixel((5, 5))) > 200  # no longer where it was stored


@pytest.mark.corpus
def test_corpus_encrypted_pdfs(corpus: Path) -> None:
    locked = corpus / "pypdf/docs/encryption/r6-both-passwords.pdf"
    with pytest.raises(EncryptedDocumentError, match="PDF is encrypted .pass --password or set QVL_PDF_PASSWORD"):
        render_document(locked, BUDGET)
    with pytest.raises(EncryptedDocumentError, match="wrong password"):
        render_document(locked, BUDGET, password="nope")
    assert len(render_document(locked, BUDGET, password="foo").pages) >= 1


@pytest.mark.corpus
@pytest.mark.parametrize(
    "name", ["16bit.cropped.tif", "pil_sample_cmyk.jpg", "multipage.tiff", "hopper_orientation_8.jpg"]
)
def test_corpus_odd_images(corpus: Path, name: str) -> None:
    document = render_document(corpus / "pillow-images/docs" / name, BUDGET)
    assert all(page.image.mode == "RGB" for page in document.pages)
