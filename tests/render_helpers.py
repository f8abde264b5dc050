"""Documents, batches and process-tree helpers shared by the render worker tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fake_backend import FakeBackend
from pdf_factory import PageSpec, write_pdf
from PIL import Image, ImageDraw

from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.cache import ResultCache
from qvl_cli.runs.document import ExtractOptions, Extractor
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt

BUDGET = PixelBudget(max_pixels=120_000, max_total_pixels=None)
REPLY = {"title": "T", "fields": [], "checkboxes": [], "signatures": []}


def long_pdf(path: Path, pages: int) -> Path:
    specs = [PageSpec(lines=(f"PAGE {n}", *(f"line {i} of page {n}" for i in range(20)))) for n in range(pages)]
    return write_pdf(path, specs)


def short_pdf(path: Path, label: str) -> Path:
    return write_pdf(path, [PageSpec(lines=(f"FORM {label}", "Name: Maria"))])


def photo(path: Path) -> Path:
    image = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(image).text((40, 40), "Receipt\nTotal 12.50", fill="black")
    image.save(path)
    return path


def extractor(renderer: Any, evidence: str = "auto", backend: FakeBackend | None = None) -> Extractor:
    schema = load_schema("form")
    fake = backend or FakeBackend(replies=[json.dumps(REPLY)] * 20)
    options = ExtractOptions(budget=BUDGET, evidence=evidence)
    return Extractor(schema, load_prompt(None, schema), options, lambda: fake, renderer)


class Records:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def write(self, record: Any) -> None:
        self.records.append(record.to_dict())


def run_batch(
    renderer: Any, paths: list[Path], evidence: str = "auto", cache: Path | None = None
) -> list[dict[str, Any]]:
    """The records of a batch over ``paths`` (the fake model answers :data:`REPLY`); closes
    ``renderer``. With a ``cache`` folder each document is first checked to open (a probe)."""
    sink = Records()
    results = ResultCache(cache) if cache is not None else None
    try:
        BatchRunner(extractor(renderer, evidence), {}, sink, results).run(paths)
    finally:
        renderer.close()
    return sink.records


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
