"""The review's view model (documents, their fields and pages, a summary) and its HTML."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qvl_cli import __version__
from qvl_cli.review.fields import Field, Node, fields_of, leaves
from qvl_cli.review.pages import PageSet

DEFAULT_THRESHOLD = 0.5
ONLY_CHOICES = ("invalid", "warnings", "low-confidence")


@dataclass(frozen=True)
class BoxView:
    """One evidence box placed on a page (percentages of the page image)."""

    pointer: str
    left: float
    top: float
    width: float
    height: float
    level: str


@dataclass(frozen=True)
class DocumentView:
    index: int
    file: str
    origin: str
    status: str  # valid | invalid | failed
    error: Mapping[str, Any] | None
    schema: str | None
    model: str | None
    tree: tuple[Node, ...]
    pages: PageSet
    boxes: Mapping[int, tuple[BoxView, ...]]  # page number -> boxes
    errors: tuple[tuple[str, str], ...]  # (pointer, message)
    warnings: tuple[str, ...]
    raw: str | None
    has_evidence: bool  # the record carries an evidence map (older runs do not)
    fields: tuple[Field, ...] = field(default=())

    @property
    def low(self) -> int:
        return sum(f.low for f in self.fields)

    @property
    def unlocated(self) -> int:
        return sum(f.unlocated for f in self.fields)


@dataclass(frozen=True)
class Summary:
    documents: int
    valid: int
    invalid: int
    failed: int
    with_warnings: int
    fields: int
    low: int
    unlocated: int
    threshold: float


def status_of(record: Mapping[str, Any]) -> str:
    if record.get("error"):
        return "failed"
    return "valid" if record.get("valid") is True else "invalid"


def selected(record: Mapping[str, Any], only: Sequence[str], threshold: float) -> bool:
    """Whether ``record`` passes ``--only`` (any of the given kinds; all records when none)."""
    if not only:
        return True
    checks = {
        "invalid": lambda: status_of(record) != "valid",
        "warnings": lambda: bool(record.get("warnings")),
        "low-confidence": lambda: any(
            isinstance(p, int | float) and p < threshold for p in (record.get("confidence") or {}).values()
        ),
    }
    return any(checks[kind]() for kind in only)


def document_view(index: int, origin: str, record: Mapping[str, Any], pages: PageSet, threshold: float) -> DocumentView:
    """Everything the template shows for one record."""
    tree = fields_of(record, threshold)
    rows = tuple(leaves(tree))
    boxes: dict[int, list[BoxView]] = {}
    for row in rows:
        if row.evidence is not None:
            for box in row.evidence.boxes:
                left, top, width, height = (round(v * 100, 4) for v in (box.left, box.top, box.width, box.height))
                view = BoxView(row.pointer, left, top, width, height, row.level)
                boxes.setdefault(row.evidence.page, []).append(view)
    error = record.get("error") if isinstance(record.get("error"), dict) else None
    model = record.get("model")
    return DocumentView(
        index=index,
        file=str(record.get("file", "")),
        origin=origin,
        status=status_of(record),
        error=error,
        schema=str(record["schema"]) if record.get("schema") else None,
        model=str(model.get("id")) if isinstance(model, dict) and model.get("id") else None,
        tree=tree,
        pages=pages,
        boxes={number: tuple(found) for number, found in boxes.items()},
        errors=tuple(
            (str(issue.get("path", "")), str(issue.get("message", "")))
            for issue in record.get("errors") or ()
            if isinstance(issue, dict)
        ),
        warnings=tuple(map(str, record.get("warnings") or ())),
        raw=record.get("raw") if isinstance(record.get("raw"), str) else None,
        has_evidence=isinstance(record.get("evidence"), dict),
        fields=rows,
    )


def summarize(documents: Sequence[DocumentView], threshold: float) -> Summary:
    statuses = [doc.status for doc in documents]
    return Summary(
        documents=len(documents),
        valid=statuses.count("valid"),
        invalid=statuses.count("invalid"),
        failed=statuses.count("failed"),
        with_warnings=sum(bool(doc.warnings) for doc in documents),
        fields=sum(len(doc.fields) for doc in documents),
        low=sum(doc.low for doc in documents),
        unlocated=sum(doc.unlocated for doc in documents),
        threshold=threshold,
    )


def render_html(documents: Sequence[DocumentView], title: str, threshold: float, skipped: Sequence[str] = ()) -> str:
    """The whole report: one HTML file with its CSS, script and page images inline."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    loader = PackageLoader("qvl_cli.review", "templates")
    env = Environment(loader=loader, autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    script = loader.get_source(env, "report.js")[0]  # inline as they are, not as templates
    style = loader.get_source(env, "report.css")[0]
    return env.get_template("report.html.j2").render(
        documents=documents,
        summary=summarize(documents, threshold),
        title=title,
        skipped=skipped,
        version=__version__,
        script=script,
        style=style,
        script_hash=_csp_hash(script),
    )


def _csp_hash(text: str) -> str:
    """The Content-Security-Policy source allowing exactly this inline block."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"
