"""Regenerate the sample documents in this folder, and the ground truth for each.

    python examples/make_examples.py

Writes invoice.pdf (a scanned-looking two-page invoice), form.png, chart.png and
multilingual.png, each with ``<name>.expected.json``: the values qvl should extract with the
matching built-in schema. Uses DejaVu fonts when installed (Greek and Cyrillic need them),
Pillow's built-in font otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).parent
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
    draw.text((90, 80), v["name"], font=font(40, bold=True), fill=INK)
    draw.text((90, 140), v["address"], font=font(22), fill=INK)
    draw.text((90, 172), f"USt-IdNr. / VAT ID: {v['tax_id']}", font=font(22), fill=INK)
    draw.text((860, 80), "INVOICE", font=font(44, bold=True), fill=(30, 60, 140))
    rows = [
        ("Invoice no.", INVOICE["invoice_number"]),
        ("Invoice date", german_date(INVOICE["invoice_date"])),
        ("Due date", german_date(INVOICE["due_date"])),
    ]
    for i, (label, value) in enumerate(rows):
        draw.text((860, 150 + 34 * i), f"{label}: {value}", font=font(22), fill=INK)
    draw.text((90, 300), "Bill to:", font=font(24, bold=True), fill=INK)
    draw.text((90, 336), c["name"], font=font(24), fill=INK)
    draw.text((90, 368), c["address"], font=font(22), fill=INK)
    top = 480
    headers = [("Description", 90), ("Qty", 760), ("Unit price", 860), ("Amount (EUR)", 1030)]
    for text, x in headers:
        draw.text((x, top), text, font=font(22, bold=True), fill=INK)
    draw.line((90, top + 36, 1185, top + 36), fill=INK, width=2)
    for i, item in enumerate(INVOICE["line_items"]):
        y = top + 56 + 44 * i
        draw.text((90, y), item["description"], font=font(21), fill=INK)
        draw.text((760, y), str(item["quantity"]), font=font(21), fill=INK)
        draw.text((860, y), money(item["unit_price"]), font=font(21), fill=INK)
        draw.text((1030, y), money(item["amount"]), font=font(21), fill=INK)
    draw.text((90, 1560), "Page 1 of 2 - continued overleaf", font=font(18), fill=(90, 90, 90))

    second = Image.new("RGB", (1275, 1650), "white")
    draw = ImageDraw.Draw(second)
    totals = [("Subtotal", INVOICE["subtotal"]), ("VAT 19%", INVOICE["tax"]), ("Total due", INVOICE["total"])]
    for i, (label, value) in enumerate(totals):
        bold = label == "Total due"
        draw.text((760, 120 + 44 * i), f"{label}:", font=font(24, bold=bold), fill=INK)
        draw.text((1000, 120 + 44 * i), f"EUR {money(value)}", font=font(24, bold=bold), fill=INK)
    draw.text((90, 400), "Please pay within 30 days to IBAN DE89 3704 0044 0532 0130 00.", font=font(22), fill=INK)
    draw.text((90, 1560), "Page 2 of 2", font=font(18), fill=(90, 90, 90))
    return [first, second]


def form_page() -> Image.Image:
    image = Image.new("RGB", (1100, 1000), "white")
    draw = ImageDraw.Draw(image)
    draw.text((60, 50), FORM["title"], font=font(40, bold=True), fill=INK)
    for i, field in enumerate(FORM["fields"]):
        y = 150 + 70 * i
        draw.text((60, y), f"{field['key']}:", font=font(24), fill=INK)
        draw.line((330, y + 32, 1000, y + 32), fill=(120, 120, 120), width=1)
        if field["value"]:
            draw.text((345, y - 2), field["value"], font=font(26), fill=(20, 40, 160))
    for i, box in enumerate(FORM["checkboxes"]):
        x, y = 60 + 330 * i, 620
        draw.rectangle((x, y, x + 28, y + 28), outline=INK, width=2)
        if box["checked"]:
            draw.line((x + 4, y + 14, x + 12, y + 24, x + 26, y + 2), fill=(20, 40, 160), width=4)
        draw.text((x + 40, y), box["label"], font=font(22), fill=INK)
    signature = FORM["signatures"][0]
    draw.text((60, 800), f"{signature['label']}:", font=font(22), fill=INK)
    draw.line((330, 830, 700, 830), fill=INK, width=1)
    draw.line((350, 820, 380, 790, 410, 825, 450, 785, 500, 815, 560, 795), fill=(20, 40, 160), width=3)
    draw.text((740, 800), f"Date: {signature['date']}", font=font(22), fill=INK)
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
        draw.text((60, 60 + 76 * i), block["text"], font=font(32), fill=INK)
    return image


def write_expected(name: str, data: dict) -> None:
    (HERE / f"{name}.expected.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    first, *rest = invoice_pages()
    first.save(HERE / "invoice.pdf", save_all=True, append_images=rest, resolution=150.0)
    form_page().save(HERE / "form.png", optimize=True)
    chart_page().save(HERE / "chart.png", optimize=True)
    multilingual_page().save(HERE / "multilingual.png", optimize=True)
    for name, data in [("invoice", INVOICE), ("form", FORM), ("chart", CHART), ("multilingual", MULTILINGUAL)]:
        write_expected(name, data)
    print(f"wrote sample documents to {HERE}")


if __name__ == "__main__":
    main()
