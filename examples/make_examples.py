"""Regenerate the sample documents in this folder, and the ground truth for each.

    python examples/make_examples.py

Writes invoice.pdf (a scanned-looking two-page invoice), form.png, chart.png and
multilingual.png, each with ``<name>.expected.json``: the values qvl should extract with the
matching built-in schema; statement.pdf, a password-protected PDF (password ``statement``) that
qvl cannot read without ``--password``; and records.jsonl, hand-made sample records of these
documents in qvl's envelope format with evidence boxes where each value was drawn (for
``qvl review``), the statement's an error record. Uses DejaVu fonts when installed (Greek and
Cyrillic need them), Pillow's built-in font otherwise. Every file is written the same, byte for
byte, each time it runs on the same machine (fixed PDF dates and identifiers).
"""

from __future__ import annotations

import calendar
import json
import time
from pathlib import Path

from encrypted_pdf import encrypted_pdf
from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).parent
CREATED = time.gmtime(calendar.timegm((2026, 11, 23, 0, 50, 43, 0, 0, 0)))  # the PDFs' fixed dates
STATEMENT_PASSWORD = "statement"
STATEMENT = [
    "Nordwind Bank AG - Account statement 03/2024",
    "Account holder: Blue Harbor Analytics Ltd",
    "IBAN: DE89 3704 0044 0532 0130 00",
    "Opening balance 01.03.2024: 12,480.00 EUR",
    "14.03.2024  Nordwind Paper GmbH, NW-2024-0117  -598.57 EUR",
    "Closing balance 31.03.2024: 11,881.43 EUR",
]
FONT_DIRS = [Path("/usr/share/fonts/truetype/dejavu"), Path("/Library/Fonts"), Path("C:/Windows/Fonts")]
INK = (20, 20, 20)

INVOICE = {
    "vendor": {
        "name": "Nordwind Paper GmbH",
        "address": "Hafenstrasse 12, 20457 Hamburg, Germany",
        "tax_id": "DE812345678",
    },
    "customer": {"name": "Blue Harbor Analytics Ltd", "address": "4 King Street, Leeds LS1 2HH, United Kingdom"},
    "invoice_number": "NW-2024-0117",
    "invoice_date": "2024-03-14",
    "due_date": "2024-04-13",
    "currency": "EUR",
    "line_items": [
        {
            "description": "A4 recycled paper, 80 g/m2 (box of 5 reams)",
            "quantity": 12,
            "unit_price": 24.5,
            "amount": 294.0,
        },
        {"description": "Archive boxes, brown, pack of 25", "quantity": 4, "unit_price": 31.0, "amount": 124.0},
        {"description": "Delivery Hamburg - Leeds", "quantity": 1, "unit_price": 85.0, "amount": 85.0},
    ],
    "subtotal": 503.0,
    "tax": 95.57,
    "total": 598.57,
}

FORM = {
    "title": "Equipment Loan Request",
    "fields": [
        {"key": "Employee name", "value": "Maria Lopez"},
        {"key": "Department", "value": "Field Research"},
        {"key": "Employee ID", "value": "E-40721"},
        {"key": "Item requested", "value": "Portable spectrometer"},
        {"key": "Loan start", "value": "2024-05-02"},
        {"key": "Loan end", "value": None},
    ],
    "checkboxes": [
        {"label": "Insurance required", "checked": True},
        {"label": "Off-site use", "checked": True},
        {"label": "Training needed", "checked": False},
    ],
    "signatures": [{"label": "Employee signature", "signed": True, "date": "2024-04-29"}],
}

CHART = {
    "chart_type": "bar",
    "title": "Quarterly revenue 2023",
    "x_axis": {"label": "Quarter", "unit": None},
    "y_axis": {"label": "Revenue", "unit": "kEUR"},
    "series": [
        {
            "name": None,
            "points": [{"x": "Q1", "y": 120}, {"x": "Q2", "y": 145}, {"x": "Q3", "y": 98}, {"x": "Q4", "y": 170}],
        }
    ],
}

MULTILINGUAL = {
    "languages": ["en", "de", "fr", "es", "el", "ru"],
    "blocks": [
        {"text": "Welcome to the harbour museum.", "language": "en", "translation": None},
        {"text": "Willkommen im Hafenmuseum.", "language": "de", "translation": "Welcome to the harbour museum."},
        {"text": "Bienvenue au musée du port.", "language": "fr", "translation": "Welcome to the harbour museum."},
        {"text": "Bienvenido al museo del puerto.", "language": "es", "translation": "Welcome to the harbour museum."},
        {
            "text": "Καλώς ήρθατε στο μουσείο του λιμανιού.",
            "language": "el",
            "translation": "Welcome to the harbour museum.",
        },
        {"text": "Добро пожаловать в музей гавани.", "language": "ru", "translation": "Welcome to the harbour museum."},
    ],
}


def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size=size)


# Where each value was drawn: document -> JSON Pointer -> (page, pixel box, text as printed).
DRAWN: dict[str, dict[str, tuple[int, tuple[float, float, float, float], str]]] = {}


def put(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    bold: bool = False,
    fill: tuple[int, int, int] = INK,
    at: tuple[str, int, str] | None = None,
    prefix: str = "",
) -> None:
    """Draw ``prefix + text``; with ``at`` = (document, page, pointer), remember where ``text`` is."""
    draw.text(xy, prefix + text, font=font(size, bold), fill=fill)
    if at is not None:
        locate(draw, xy, text, size, bold, at, prefix)


def locate(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    bold: bool,
    at: tuple[str, int, str],
    prefix: str = "",
) -> None:
    """Remember the box of ``text`` drawn at ``xy`` after ``prefix``, without drawing."""
    face = font(size, bold)
    document, page, pointer = at
    x = xy[0] + draw.textlength(prefix, font=face)
    x0, y0, x1, y1 = draw.textbbox((x, xy[1]), text, font=face)
    DRAWN.setdefault(document, {})[pointer] = (page, (x0 - 3, y0 - 3, x1 + 3, y1 + 3), text)


def money(value: float) -> str:
    return f"{value:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")


def german_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}.{month}.{year}"


def invoice_pages() -> list[Image.Image]:
    """Letter-size pages at 150 dpi: header, parties and items on page 1, totals on page 2."""
    first = Image.new("RGB", (1275, 1650), "white")
    draw = ImageDraw.Draw(first)
    v, c = INVOICE["vendor"], INVOICE["customer"]
    put(draw, (90, 80), v["name"], 40, bold=True, at=("invoice", 1, "/vendor/name"))
    put(draw, (90, 140), v["address"], 22, at=("invoice", 1, "/vendor/address"))
    put(draw, (90, 172), v["tax_id"], 22, at=("invoice", 1, "/vendor/tax_id"), prefix="USt-IdNr. / VAT ID: ")
    put(draw, (860, 80), "INVOICE", 44, bold=True, fill=(30, 60, 140))
    rows = [
        ("Invoice no.", INVOICE["invoice_number"], "/invoice_number"),
        ("Invoice date", german_date(INVOICE["invoice_date"]), "/invoice_date"),
        ("Due date", german_date(INVOICE["due_date"]), "/due_date"),
    ]
    for i, (label, value, pointer) in enumerate(rows):
        put(draw, (860, 150 + 34 * i), value, 22, at=("invoice", 1, pointer), prefix=f"{label}: ")
    put(draw, (90, 300), "Bill to:", 24, bold=True)
    put(draw, (90, 336), c["name"], 24, at=("invoice", 1, "/customer/name"))
    put(draw, (90, 368), c["address"], 22, at=("invoice", 1, "/customer/address"))
    top = 480
    headers = [("Description", 90), ("Qty", 760), ("Unit price", 860), ("Amount (EUR)", 1030)]
    for text, x in headers:
        put(draw, (x, top), text, 22, bold=True)
    draw.line((90, top + 36, 1185, top + 36), fill=INK, width=2)
    for i, item in enumerate(INVOICE["line_items"]):
        y = top + 56 + 44 * i
        at = f"/line_items/{i}"
        put(draw, (90, y), item["description"], 21, at=("invoice", 1, f"{at}/description"))
        put(draw, (760, y), str(item["quantity"]), 21, at=("invoice", 1, f"{at}/quantity"))
        put(draw, (860, y), money(item["unit_price"]), 21, at=("invoice", 1, f"{at}/unit_price"))
        put(draw, (1030, y), money(item["amount"]), 21, at=("invoice", 1, f"{at}/amount"))
    put(draw, (90, 1560), "Page 1 of 2 - continued overleaf", 18, fill=(90, 90, 90))

    second = Image.new("RGB", (1275, 1650), "white")
    draw = ImageDraw.Draw(second)
    totals = [("Subtotal", INVOICE["subtotal"]), ("VAT 19%", INVOICE["tax"]), ("Total due", INVOICE["total"])]
    for i, (label, value) in enumerate(totals):
        bold = label == "Total due"
        pointer = {"Subtotal": "/subtotal", "VAT 19%": "/tax", "Total due": "/total"}[label]
        put(draw, (760, 120 + 44 * i), f"{label}:", 24, bold=bold)
        put(draw, (1000, 120 + 44 * i), f"EUR {money(value)}", 24, bold=bold, at=("invoice", 2, pointer))
        if bold:
            locate(draw, (1000, 120 + 44 * i), "EUR", 24, bold, ("invoice", 2, "/currency"))
    put(draw, (90, 400), "Please pay within 30 days to IBAN DE89 3704 0044 0532 0130 00.", 22)
    put(draw, (90, 1560), "Page 2 of 2", 18, fill=(90, 90, 90))
    return [first, second]


def form_page() -> Image.Image:
    image = Image.new("RGB", (1100, 1000), "white")
    draw = ImageDraw.Draw(image)
    put(draw, (60, 50), FORM["title"], 40, bold=True, at=("form", 1, "/title"))
    for i, field in enumerate(FORM["fields"]):
        y = 150 + 70 * i
        put(draw, (60, y), f"{field['key']}:", 24)
        locate(draw, (60, y), field["key"], 24, False, ("form", 1, f"/fields/{i}/key"))
        draw.line((330, y + 32, 1000, y + 32), fill=(120, 120, 120), width=1)
        if field["value"]:
            put(draw, (345, y - 2), field["value"], 26, fill=(20, 40, 160), at=("form", 1, f"/fields/{i}/value"))
    for i, box in enumerate(FORM["checkboxes"]):
        x, y = 60 + 330 * i, 620
        draw.rectangle((x, y, x + 28, y + 28), outline=INK, width=2)
        DRAWN.setdefault("form", {})[f"/checkboxes/{i}/checked"] = (1, (x, y, x + 29, y + 29), "")
        if box["checked"]:
            draw.line((x + 4, y + 14, x + 12, y + 24, x + 26, y + 2), fill=(20, 40, 160), width=4)
        put(draw, (x + 40, y), box["label"], 22, at=("form", 1, f"/checkboxes/{i}/label"))
    signature = FORM["signatures"][0]
    put(draw, (60, 800), f"{signature['label']}:", 22)
    locate(draw, (60, 800), signature["label"], 22, False, ("form", 1, "/signatures/0/label"))
    draw.line((330, 830, 700, 830), fill=INK, width=1)
    draw.line((350, 820, 380, 790, 410, 825, 450, 785, 500, 815, 560, 795), fill=(20, 40, 160), width=3)
    DRAWN["form"]["/signatures/0/signed"] = (1, (346, 781, 564, 829), "")
    put(draw, (740, 800), signature["date"], 22, at=("form", 1, "/signatures/0/date"), prefix="Date: ")
    return image


def chart_page() -> Image.Image:
    image = Image.new("RGB", (900, 640), "white")
    draw = ImageDraw.Draw(image)
    draw.text((250, 30), CHART["title"], font=font(30, bold=True), fill=INK)
    left, bottom, top, right = 130, 540, 110, 840
    draw.line((left, top, left, bottom, right, bottom), fill=INK, width=2)
    scale = (bottom - top) / 200
    for tick in range(0, 201, 50):
        y = bottom - tick * scale
        draw.line((left - 8, y, left, y), fill=INK, width=2)
        draw.text((left - 60, y - 12), str(tick), font=font(18), fill=INK)
    points = CHART["series"][0]["points"]
    width = (right - left) / len(points)
    for i, point in enumerate(points):
        x0 = left + width * i + 35
        draw.rectangle((x0, bottom - point["y"] * scale, x0 + width - 70, bottom), fill=(60, 110, 190))
        draw.text((x0 + 20, bottom - point["y"] * scale - 28), str(point["y"]), font=font(18), fill=INK)
        draw.text((x0 + 30, bottom + 12), point["x"], font=font(20), fill=INK)
    draw.text((430, 590), CHART["x_axis"]["label"], font=font(22), fill=INK)
    axis = Image.new("RGB", (220, 30), "white")
    ImageDraw.Draw(axis).text(
        (0, 0), f"{CHART['y_axis']['label']} ({CHART['y_axis']['unit']})", font=font(22), fill=INK
    )
    image.paste(axis.rotate(90, expand=True), (20, 200))
    return image


def multilingual_page() -> Image.Image:
    image = Image.new("RGB", (1000, 560), "white")
    draw = ImageDraw.Draw(image)
    for i, block in enumerate(MULTILINGUAL["blocks"]):
        put(draw, (60, 60 + 76 * i), block["text"], 32, at=("multilingual", 1, f"/blocks/{i}/text"))
    return image


def write_expected(name: str, data: dict) -> None:
    (HERE / f"{name}.expected.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _leaves(value: object, pointer: str = "") -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{pointer}/{key}")]
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{pointer}/{i}")]
    return [(pointer, value)]


def sample_record(
    name: str, file: str, data: dict, sizes: list[tuple[int, int]], drawn_sizes: list[tuple[int, int]], **extra: object
) -> dict:
    """An envelope for ``data`` with evidence where each value was drawn (fractions of the page).

    ``sizes``: each page's native size as qvl sees it; ``drawn_sizes``: the size it was drawn at.
    """
    from qvl_cli.pages.budgets import PixelBudget, plan_pages
    from qvl_cli.pages.inputs import file_sha256

    budget = PixelBudget()
    plan = plan_pages([(w, h) for w, h in sizes], budget)
    drawn = DRAWN.get(name, {})
    lowered: dict[str, float] = extra.pop("confidence", {})  # type: ignore[assignment]
    confidence = {
        pointer: lowered.get(pointer, round(0.9 + (len(pointer) % 10) / 100, 2)) for pointer, _ in _leaves(data)
    }
    evidence = {}
    for pointer, value in _leaves(data):
        if pointer not in drawn or isinstance(value, bool):  # a tick is no printed text: null, as qvl gives
            evidence[pointer] = None
            continue
        page, (x0, y0, x1, y1), text = drawn[pointer]
        width, height = drawn_sizes[page - 1]
        box = [round(x0 / width, 4), round(y0 / height, 4), round(x1 / width, 4), round(y1 / height, 4)]
        evidence[pointer] = {"page": page, "boxes": [box], "text": text, "source": "ocr", "score": 0.97}
    normalized = {
        pointer: {"raw": drawn[pointer][2], "value": value}
        for pointer, value in _leaves(data)
        if pointer in drawn and drawn[pointer][2] and drawn[pointer][2] != str(value) and value is not None
    }
    record = {
        "file": file,
        "valid": True,
        "schema": name,
        "data": data,
        "errors": [],
        "warnings": [],
        "confidence": confidence,
        "normalized": normalized,
        "evidence": evidence,
        "pages": [
            {"page": i + 1, "source_size": list(source), "size": list(size)}
            for i, (source, size) in enumerate(zip(sizes, plan.sizes, strict=True))
        ],
        "page_count": len(sizes),
        "model": {"backend": "sample", "id": "hand-made sample record"},
        "budget": {
            "min_pixels": budget.min_pixels,
            "max_pixels": budget.max_pixels,
            "max_total_pixels": budget.max_total_pixels,
            "pdf_dpi": 200.0,
        },
        "sha256": file_sha256(HERE / Path(file).name),
    }
    return record | extra


def write_records() -> None:
    """Sample records of the example documents: valid, invalid, without evidence, failed."""
    invoice_pages(), form_page(), multilingual_page()  # fills DRAWN
    letter = (1700, 2200)  # 8.5 x 11 in at qvl's 200 dpi
    languages = ["en", "de", "fr", "es", "EL", "ru"]
    records = [
        sample_record(
            "invoice",
            "examples/invoice.pdf",
            INVOICE,
            [letter, letter],
            [(1275, 1650)] * 2,
            confidence={"/vendor/tax_id": 0.41, "/due_date": 0.72},
            warnings=["low confidence 0.41 < 0.50 at /vendor/tax_id"],
        ),
        sample_record(
            "form",
            "examples/form.png",
            FORM,
            [(1100, 1000)],
            [(1100, 1000)],
            confidence={"/checkboxes/1/checked": 0.63},
        ),
        sample_record(
            "multilingual",
            "examples/multilingual.png",
            MULTILINGUAL | {"languages": languages},
            [(1000, 560)],
            [(1000, 560)],
            valid=False,
            confidence={"/languages/4": 0.34},
            errors=[{"path": "/languages/4", "message": "'EL' does not match '^[a-z]{2}$'"}],
        ),
        sample_record("chart", "examples/chart.png", CHART, [(900, 640)], [(900, 640)], evidence=None, pages=[]),
        {
            "file": "examples/statement.pdf",
            "valid": False,
            "error": {
                "type": "encrypted",
                "message": "examples/statement.pdf: PDF is encrypted (pass --password or set QVL_PDF_PASSWORD)",
            },
            "schema": "invoice",
            "data": None,
            "errors": [],
            "warnings": [],
            "pages": [],
            "page_count": 0,
        },
    ]
    lines = [json.dumps(record, ensure_ascii=False) for record in records]
    (HERE / "records.jsonl").write_text("\n".join(lines) + "\n")


def main() -> None:
    first, *rest = invoice_pages()
    first.save(
        HERE / "invoice.pdf", save_all=True, append_images=rest, resolution=150.0, creationDate=CREATED, modDate=CREATED
    )
    statement = encrypted_pdf(STATEMENT, STATEMENT_PASSWORD, "qvl-examples-owner", seed="qvl examples statement.pdf")
    (HERE / "statement.pdf").write_bytes(statement)
    form_page().save(HERE / "form.png", optimize=True)
    chart_page().save(HERE / "chart.png", optimize=True)
    multilingual_page().save(HERE / "multilingual.png", optimize=True)
    for name, data in [("invoice", INVOICE), ("form", FORM), ("chart", CHART), ("multilingual", MULTILINGUAL)]:
        write_expected(name, data)
    write_records()
    print(f"wrote sample documents to {HERE}")


if __name__ == "__main__":
    main()
