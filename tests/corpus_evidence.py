"""Gold values and gold boxes of the real corpus (SROIE receipts, FUNSD forms, invoice2data
PDFs) for measuring evidence: records written as qvl writes values, planted fakes, and scoring."""

from __future__ import annotations

import csv
import functools
import json
import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import CORPUS

from qvl_cli.answers.normalize import parse_amount, parse_date
from qvl_cli.evidence.forms import fold

Box = tuple[float, float, float, float]


@dataclass
class Case:
    """One document: the record to locate, and per pointer the gold boxes (None: any place whose
    crop shows the value will do, for PDFs without gold boxes)."""

    file: Path
    data: dict[str, Any]
    gold: dict[str, list[Box] | None]
    fakes: dict[str, Any] = field(default_factory=dict)  # pointer -> planted value
    text: list[str] = field(default_factory=list)  # every gold transcription


def sroie_cases(limit: int | None = None) -> list[Case]:
    root = CORPUS / "sroie"
    cases = []
    for image in sorted((root / "img").glob("*.jpg"))[:limit]:
        key = json.loads((root / "key" / f"{image.stem}.json").read_text(encoding="utf-8"))
        lines = _sroie_lines(root / "box" / f"{image.stem}.csv", image)
        data = {
            "company": key["company"],
            "address": key["address"],
            "date": parse_date(key["date"]).isoformat(),  # type: ignore[union-attr]
            "total": parse_amount(key["total"]),
        }
        gold = {f"/{name}": _gold_lines(name, value, key[name], lines) for name, value in data.items()}
        case = Case(image, data, gold, text=[text for text, _ in lines])
        case.fakes = _fakes(case, image.stem)
        cases.append(case)
    return cases


def _sroie_lines(path: Path, image: Path) -> list[tuple[str, Box]]:
    from PIL import Image, ImageOps

    with Image.open(image) as opened:
        width, height = (ImageOps.exif_transpose(opened) or opened).size
    lines = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            if len(row) < 9:
                continue
            xs = [float(v) for v in row[0:8:2]]
            ys = [float(v) for v in row[1:8:2]]
            lines.append((",".join(row[8:]), (min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)))
    return lines


def _gold_lines(name: str, value: Any, printed: str, lines: list[tuple[str, Box]]) -> list[Box]:
    """The gold lines that print (part of) the value."""
    from qvl_cli.evidence.forms import date_spans, number_spans

    if name == "total":
        return [box for text, box in lines if any(number_spans(text, value))]
    if name == "date":
        import datetime as dt

        day = dt.date.fromisoformat(value)
        return [box for text, box in lines if any(date_spans(text, day))]
    from rapidfuzz import fuzz

    whole = fold(printed)[0]
    found = []
    for text, box in lines:
        part = fold(text)[0]
        if len(part) >= 3 and fuzz.partial_ratio(part, whole) >= 85:
            found.append(box)
    return found


def funsd_cases(limit: int | None = None) -> list[Case]:
    """Each form's linked question -> answer pairs as ``/fields/i/key`` and ``/fields/i/value``."""
    root = CORPUS / "funsd"
    cases = []
    for label in sorted((root / "labels").glob("*.json"))[:limit]:
        doc = json.loads(label.read_text(encoding="utf-8"))
        image = root / "images" / doc["image"]
        from PIL import Image

        with Image.open(image) as opened:
            width, height = opened.size
        entities = {e["id"]: e for e in doc["entities"]}
        fields, gold = [], {}
        for entity in doc["entities"]:
            if entity["label"] != "answer" or not fold(entity["transcription"])[0]:  # ticks are not text
                continue
            questions = [entities[q] for q, a in entity["linking"] if a == entity["id"] and q in entities]
            questions = [q for q in questions if q["label"] == "question" and q["transcription"].strip()]
            if not questions:
                continue
            index = len(fields)
            fields.append({"key": questions[0]["transcription"], "value": entity["transcription"]})
            gold[f"/fields/{index}/value"] = [_points_box(entity["points"], width, height)]
        case = Case(image, {"fields": fields}, gold, text=[e["transcription"] for e in doc["entities"]])
        case.fakes = _fakes(case, label.stem)
        cases.append(case)
    return cases


def _points_box(points: list[list[float]], width: int, height: int) -> Box:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs) / width, min(ys) / height, max(xs) / width, max(ys) / height)


INVOICE_FIELDS = {
    "amount": "/total",
    "amount_untaxed": "/subtotal",
    "amount_tax": "/tax",
    "date": "/invoice_date",
    "date_due": "/due_date",
    "invoice_number": "/invoice_number",
    "vat": "/vendor/tax_id",
    "iban": "/iban",
    "bic": "/bic",
    "partner_zip": "/zip",
    "partner_street": "/street",
    "order_id": "/order_id",
    "client_id": "/client_id",
    "siren": "/siren",
}


def invoice_cases() -> list[Case]:
    """invoice2data PDFs (text layer): labelled values as qvl writes them; no gold boxes."""
    root = CORPUS / "invoice2data"
    cases = []
    for label in sorted((root / "labels").glob("*.json")):
        document = root / "docs" / f"{label.stem}.pdf"
        if not document.exists():
            continue
        raw = json.loads(label.read_text(encoding="utf-8"))[0]
        data: dict[str, Any] = {}
        for name, pointer in INVOICE_FIELDS.items():
            if name in raw and raw[name] not in (None, ""):
                value = raw[name]
                value = str(value).lstrip("#") if name in ("invoice_number", "order_id") else value
                data[pointer.lstrip("/").replace("/", "_")] = value
        case = Case(document, data, dict.fromkeys((f"/{k}" for k in data), None))
        case.fakes = _fakes(case, label.stem)
        cases.append(case)
    return cases


def _fakes(case: Case, seed: str) -> dict[str, Any]:
    """Values the document does not print: a total on no page, an identifier never printed, and
    the real values with one digit changed."""
    rng = random.Random(seed)
    fakes: dict[str, Any] = {
        "/fake_total": round(rng.uniform(1000, 9999), 2),
        "/fake_number": f"{rng.choice('ABCDEFGHKLMNPRSTUVWXYZ')}{rng.randrange(10**6, 10**7)}",
    }
    for pointer, value in _flat(case.data):
        changed = _perturbed(value, rng)
        if changed is not None:
            fakes[f"/fake{pointer.replace('/', '_')}"] = changed
    return {p: v for p, v in fakes.items() if not _printed(v, case)}


def _flat(data: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [item for key, value in data.items() for item in _flat(value, f"{prefix}/{key}")]
    if isinstance(data, list):
        return [item for index, value in enumerate(data) for item in _flat(value, f"{prefix}/{index}")]
    return [(prefix, data)]


def _perturbed(value: Any, rng: random.Random) -> Any:
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    positions = [i for i, c in enumerate(text) if c.isdigit()]
    if not positions or isinstance(value, bool):
        return None
    i = rng.choice(positions)
    digit = str((int(text[i]) + rng.randrange(1, 10)) % 10)
    changed = text[:i] + digit + text[i + 1 :]
    if isinstance(value, int | float):
        return float(changed) if "." in changed else int(changed)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", changed):
        import datetime as dt

        try:
            dt.date.fromisoformat(changed)
        except ValueError:
            return None
    return changed


def _printed(value: Any, case: Case) -> bool:
    """Whether a planted value happens to be printed after all (then it is no fake)."""
    if not case.text:
        return False
    from qvl_cli.evidence.forms import date_spans, iso_date, number_spans

    for text in case.text:
        if isinstance(value, int | float) and any(number_spans(text, float(value))):
            return True
        if isinstance(value, str):
            day = iso_date(value)
            if (day and any(date_spans(text, day))) or fold(value)[0] in fold(text)[0]:
                return True
    return False


def box_correct(found: list[list[float]], gold: list[Box]) -> bool:
    """Every found box overlaps a gold box (OCR boxes are looser than gold ones, and a value may
    be part of a gold line)."""
    if not gold or not found:
        return False
    return all(any(_overlaps(box, g) for g in gold) for box in found)


def _overlaps(box: Any, gold: Box) -> bool:
    """Half the smaller box's area is shared, or the found box's centre lies in the gold box."""
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    centred = gold[0] <= x <= gold[2] and gold[1] <= y <= gold[3]
    return centred or _intersection(box, gold) >= 0.5 * min(_area(box), _area(gold))


def _area(box: Any) -> float:
    return max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)


def _intersection(a: Any, b: Any) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


@dataclass
class Measured:
    located: int = 0
    values: int = 0
    refused: int = 0
    fakes: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def located_share(self) -> float:
        return self.located / max(self.values, 1)

    @property
    def refused_share(self) -> float:
        return self.refused / max(self.fakes, 1)


def measure(cases: list[Case], workdir: Path) -> Measured:
    """Run ``qvl locate`` on the gold values and the fakes of ``cases`` and score its evidence."""
    import subprocess
    import sys

    records = workdir / "records.jsonl"
    with records.open("w", encoding="utf-8") as handle:
        for case in cases:
            handle.write(json.dumps({"file": str(case.file), "data": case.data}) + "\n")
            fakes = {pointer.lstrip("/"): value for pointer, value in case.fakes.items()}
            handle.write(json.dumps({"file": str(case.file), "data": fakes}) + "\n")
    located = workdir / "located.jsonl"
    subprocess.run(
        [sys.executable, "-m", "qvl_cli", "locate", str(records), "-o", str(located), "-q"],
        check=True,
        env=os.environ.copy(),
    )
    results = [json.loads(line) for line in located.read_text(encoding="utf-8").splitlines()]
    score = Measured()
    for case, real, fake in zip(cases, results[::2], results[1::2], strict=True):
        for pointer, gold in case.gold.items():
            found = real["evidence"].get(pointer)
            good = found is not None and (
                box_correct(found["boxes"], gold) if gold is not None else crop_shows(case.file, found, case, pointer)
            )
            score.values += 1
            score.located += good
            if not good:
                score.misses.append(f"{case.file.name} {pointer}: {found and found['text']!r}")
        for pointer in case.fakes:
            score.fakes += 1
            score.refused += fake["evidence"].get(pointer) is None
            if fake["evidence"].get(pointer) is not None:
                score.misses.append(f"{case.file.name} fake {pointer} found: {fake['evidence'][pointer]['text']!r}")
    return score


def crop_shows(document: Path, found: dict[str, Any], case: Case, pointer: str) -> bool:
    """Whether OCR of the cited boxes, cut from the page as rendered, reads the value: an
    independent check of a box where the corpus has no gold boxes."""
    from qvl_cli.evidence.forms import date_spans, iso_date, number_spans
    from qvl_cli.evidence.ocr import ocr_lines
    from qvl_cli.schemas.pointers import resolve

    value = resolve(case.data, pointer)[1]
    image = _page_image(document, int(found["page"]))
    texts = []
    for x0, y0, x1, y1 in found["boxes"]:
        w, h = image.size
        pad = 0.02  # a margin the OCR detector needs around a tight line
        crop = image.crop((int((x0 - pad) * w), int((y0 - pad) * h), int((x1 + pad) * w) + 1, int((y1 + pad) * h) + 1))
        texts.append(" ".join(line.text for line in ocr_lines(crop)))
    text = " ".join(texts)
    if isinstance(value, int | float):
        return any(number_spans(text, float(value)))
    day = iso_date(str(value))
    if day is not None and any(date_spans(text, day)):
        return True
    from rapidfuzz import fuzz

    # The crop must read the value itself: what the evidence says is printed there proves nothing.
    return fuzz.partial_ratio(fold(str(value))[0], fold(text)[0]) >= 85


@functools.lru_cache(maxsize=2)
def _page_image(document: Path, page: int) -> Any:
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import render_document

    return render_document(document, PixelBudget(max_pixels=2_000_000), str(page)).pages[0].image
