"""Long documents in windows of pages: each window rendered when it runs and released after,
asked on its own, the answers merged into one record, checked, and re-asked as a whole.

A document whose pages fit ``--max-total-pixels`` at the legibility floor never comes here: it is
one window, extracted exactly as before (:meth:`Extractor.extract_document`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from qvl_cli.answers.assess import low_confidence_warnings, truncation_issues
from qvl_cli.answers.consistency import consistency_warnings
from qvl_cli.answers.decoding import Closing
from qvl_cli.answers.merge import Merged, Part, merge_parts
from qvl_cli.answers.validation import Issue, make_validator
from qvl_cli.backends.contract import GenerationRequest, Turn
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.pages.rasterize import DocumentPages, RenderedDocument
from qvl_cli.pages.windows import Window, legibility_warning
from qvl_cli.runs.memory import release
from qvl_cli.runs.records import Envelope, Usage
from qvl_cli.runs.window_evidence import PageTexts, ground_windows
from qvl_cli.schemas.navigation import minimal_instance
from qvl_cli.schemas.prompts import WINDOW_NOTE, window_note
from qvl_cli.wording import plural

if TYPE_CHECKING:
    from qvl_cli.evidence.grounding import Grounding
    from qvl_cli.evidence.reread import RegionReader
    from qvl_cli.pages.pool import Renderer
    from qvl_cli.pages.workers import RenderRequest
    from qvl_cli.runs.document import Attempt, Extractor


# Renders a window's pages and adds the text of those not yet in the store to it (``None``: no text).
WindowRender = Callable[[Window, PageTexts | None], RenderedDocument]


@dataclass(frozen=True)
class WindowedDocument:
    """A document measured and split into windows; pages are rendered one window at a time."""

    pages: DocumentPages
    windows: tuple[Window, ...]
    render: WindowRender | None = field(default=None, compare=False, repr=False)

    def rendered(self, window: Window, texts: PageTexts | None = None) -> RenderedDocument:
        """The window's pages, rendered now (by the render workers when there are some); the
        text of its pages not yet in ``texts`` is read there and added to it (``None``: no text)."""
        if self.render is not None:
            return self.render(window, texts)
        return self.pages.rendered(window.start, window.plan)

    @property
    def source(self) -> Any:
        return self.pages.source

    @property
    def page_count(self) -> int:
        return self.pages.page_count


LoadedDocument = RenderedDocument | WindowedDocument


def load_document(renderer: Renderer, request: RenderRequest) -> LoadedDocument:
    """Measure a document and plan its windows; one window is rendered now (its pages spread over
    the render workers), several later, one at a time, each page's text read by the worker that
    renders it (see :mod:`qvl_cli.runs.window_evidence`)."""
    from qvl_cli.evidence.later import ocr_later, with_later_text

    result = renderer.run(ocr_later(renderer, request))  # OCR beside the model (qvl_cli.evidence.later)
    if result.measured is None or len(result.windows) <= 1:
        return with_later_text(renderer, request, result)

    def render(window: Window, texts: PageTexts | None) -> RenderedDocument:
        asked = replace(request, text_done=texts.numbers) if texts is not None else replace(request, text=None)
        drawn = renderer.render_pages(asked, pages, window.positions, window.plan.sizes, window.plan)
        if texts is not None:  # kept packed: a window's text is never unpacked all at once
            texts.add((page.number, page.extras["text"]) for page in drawn.pages if "text" in page.extras)
        return replace(drawn, text=False).document()

    pages = result.measured
    return WindowedDocument(pages, result.windows, render)


@dataclass(frozen=True)
class WindowRun:
    """What one window gave: its pages, the pages left out as blank, every attempt."""

    window: Window
    first: int
    last: int
    attempts: tuple[Attempt, ...]

    @property
    def best(self) -> Attempt | None:
        return min(self.attempts, key=lambda a: len(a.answer.issues)) if self.attempts else None

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "pages": [self.first, self.last],
            "visual_tokens": best.generation.visual_tokens if best else 0,
            "generated_tokens": sum(a.generation.generated_tokens for a in self.attempts),
            "finish_reason": best.generation.finish_reason if best else None,
            "attempts": len(self.attempts),
        }


def extract_windows(extractor: Extractor, document: WindowedDocument, started: float, sha256: str | None) -> Envelope:
    """Ask the model window by window, merge, check, and build the document's one envelope."""
    runs: list[WindowRun] = []
    pages: dict[int, dict[str, Any]] = {}
    with PageTexts() as texts:  # the pages' text as the windows read it, for evidence
        for window in document.windows:
            release()  # the previous window's images are gone: give their memory back first
            rendered = document.rendered(window, texts)
            request, blank = _request(extractor, rendered)
            for page in rendered.pages:
                pages.setdefault(page.number, page.describe() | {"blank": page.number in blank})
            attempts = tuple(extractor.attempts(request)) if request is not None else ()
            runs.append(WindowRun(window, rendered.pages[0].number, rendered.pages[-1].number, attempts))
            del rendered, request, page  # this window's images go before the next window's are rendered
        answer = _merged_answer(extractor, runs)
        reasks: list[dict[str, Any]] = []
        if answer.fixable and extractor.options.reasks > 0:
            reasks.append({"errors": [issue.to_dict() for issue in answer.fixable]})
            answer = _reask_whole(extractor, document, runs, answer, answer.fixable)
        release()
        grounding = ground_windows(
            texts.read_pages(document.pages.numbers),
            answer.data,
            extractor.schema.document,
            answer.normalized,
            answer.origin,
            extractor.options,
            _region_reader(extractor, document, pages, sha256),
        )
    return _envelope(extractor, document, runs, pages, answer, grounding, reasks, started, sha256)


def _region_reader(
    extractor: Extractor, document: WindowedDocument, pages: dict[int, dict[str, Any]], sha256: str | None
) -> RegionReader | None:
    """A closer look at scanned regions, at the sizes the pages were sent (not with ``text``)."""
    if extractor.options.evidence in ("off", "text"):
        return None
    from qvl_cli.evidence.grounding import ocr_cache_dir
    from qvl_cli.evidence.reread import RegionReader

    sizes = {number: (page["size"][0], page["size"][1]) for number, page in pages.items()}
    return RegionReader.of(document.pages, sizes, ocr_cache_dir(), sha256, extractor.renderer)


def _request(extractor: Extractor, rendered: RenderedDocument) -> tuple[GenerationRequest | None, frozenset[int]]:
    """The window's request (blank pages left out), with the note saying which pages it holds."""
    prepared = extractor.prepare(rendered, 0.0)
    if prepared.request is None:
        return None, prepared.blank
    first, last = rendered.pages[0].number, rendered.pages[-1].number
    note = window_note(first, last, rendered.page_count)
    prompt = extractor.prompt.render(extractor.schema, len(prepared.request.images)) + "\n\n" + note
    return replace(prepared.request, prompt=prompt), prepared.blank


@dataclass
class MergedAnswer:
    """The windows' answers as one, with everything the envelope reports about it."""

    data: Any
    parts: list[Part]
    merged: Merged
    issues: list[Issue]
    fixable: list[Issue]  # what the schema says about the merged data: a re-ask may fix it
    truncated: dict[str, Any] | None
    normalized: dict[str, dict[str, Any]]
    raw: str | None
    extra_attempts: tuple[Attempt, ...] = ()
    confidence: dict[str, float] | None = None
    origin: dict[str, list[int]] | None = None


def _merged_answer(extractor: Extractor, runs: Sequence[WindowRun]) -> MergedAnswer:
    schema = extractor.schema.document
    parts: list[Part] = []
    answered: list[tuple[WindowRun, Attempt]] = []
    issues: list[Issue] = []
    raw = None
    for run in runs:
        best = run.best
        if best is None:
            continue
        if not best.answer.parsed:
            issues.append(Issue("", f"pages {run.first}-{run.last}: {best.answer.issues[0].message}"))
            raw = raw or best.answer.text
            continue
        parts.append(Part((run.first, run.last), best.answer.data, dict(best.answer.confidence or {})))
        answered.append((run, best))
    merged = merge_parts(parts, schema)
    data = merged.data if parts else minimal_instance(schema)
    where = {source: pointer for pointer, source in merged.sources.items()}
    closing = _closing([(index, best.answer.closing) for index, (_, best) in enumerate(answered)], where)
    normalized = {
        where[(index, change.pointer)]: change.to_dict()
        for index, (_, best) in enumerate(answered)
        for change in best.answer.normalized
        if (index, change.pointer) in where
    }
    fixable = make_validator(extractor.schema)(data) if parts else []
    truncated = closing.to_dict() if closing else None
    issues = fixable + truncation_issues(closing) + issues
    answer = MergedAnswer(data, parts, merged, issues, fixable, truncated, normalized, raw)
    answer.confidence = merged.confidence(parts) if any(part.confidence for part in parts) else None
    answer.origin = merged.origin(parts)
    return answer


def _closing(closings: list[tuple[int, Closing | None]], where: dict[tuple[int, str], str]) -> Closing | None:
    """The windows' early closings that reached the merged data, their pointers moved to where
    those values are now (a value cut short in one window but read whole in another is fine)."""
    found = [(index, closing) for index, closing in closings if closing is not None]

    def moved(index: int, pointers: tuple[str, ...]) -> tuple[str, ...]:
        targets = []
        for pointer in pointers:
            if (index, pointer) in where:
                targets.append(where[(index, pointer)])
                continue
            inside = [t for (part, inner), t in where.items() if part == index and inner.startswith(pointer + "/")]
            if inside:  # a container: the same depth in the merged data
                targets.append("/".join(inside[0].split("/")[: pointer.count("/") + 1]))
        return tuple(dict.fromkeys(targets))

    cut = tuple(t for index, closing in found for t in moved(index, closing.cut))
    added = tuple(t for index, closing in found for t in moved(index, closing.added))
    return Closing(found[0][1].reason, cut, added) if cut or added else None


def _reask_whole(
    extractor: Extractor,
    document: WindowedDocument,
    runs: Sequence[WindowRun],
    answer: MergedAnswer,
    fixable: list[Issue],
) -> MergedAnswer:
    """Send the merged answer and its errors back with the window the first error points into;
    keep the corrected answer if it has fewer problems."""
    from qvl_cli.runs.document import reask_message

    run = _run_for(fixable[0].path, answer, runs)
    rendered = document.rendered(run.window)
    request, _ = _request(extractor, rendered)
    del rendered
    if request is None:
        return answer
    followups = (Turn("assistant", json.dumps(answer.data, ensure_ascii=False)), Turn("user", reask_message(fixable)))
    attempt = extractor.attempt(replace(request, followups=followups))
    answer.extra_attempts = (attempt,)
    corrected = attempt.answer
    if not corrected.parsed or len(corrected.issues) >= len(fixable):
        return answer
    origin = answer.origin or {}
    before = dict(_leaves(answer.data, ""))
    pages = [run.first, run.last]
    answer.origin = {
        pointer: origin[pointer] if pointer in origin and before.get(pointer) == value else pages
        for pointer, value in _leaves(corrected.data, "")
        if value is not None
    }
    answer.data = corrected.data
    answer.issues = list(corrected.issues)
    answer.confidence = corrected.confidence
    answer.truncated = corrected.closing.to_dict() if corrected.closing else None
    return answer


def _run_for(pointer: str, answer: MergedAnswer, runs: Sequence[WindowRun]) -> WindowRun:
    """The window a pointer's value came from (the last window when none did)."""
    for leaf, pages in (answer.origin or {}).items():
        if leaf == pointer or leaf.startswith(pointer + "/"):
            return next(run for run in runs if [run.first, run.last] == pages)
    return runs[-1]


def _leaves(data: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _leaves(value, f"{prefix}/{index}")
    else:
        yield prefix, data


def _envelope(
    extractor: Extractor,
    document: WindowedDocument,
    runs: Sequence[WindowRun],
    pages: dict[int, dict[str, Any]],
    answer: MergedAnswer,
    grounding: Grounding,
    reasks: list[dict[str, Any]],
    started: float,
    sha256: str | None,
) -> Envelope:
    options = extractor.options
    sha256 = sha256 or file_sha256(document.source.path)
    attempts = [attempt for run in runs for attempt in run.attempts] + list(answer.extra_attempts)
    bests = [run.best for run in runs if run.best is not None]
    blank = sorted(number for number, page in pages.items() if page["blank"])
    warnings = [_windows_note(extractor, document)]
    plans = [(tuple(document.pages.numbers[i] for i in window.positions), window.plan) for window in document.windows]
    if illegible := legibility_warning(plans, options.budget.max_total_pixels, options.windows.min_page_pixels):
        warnings.append(illegible)
    if len(blank) < len(pages):
        warnings += [f"page {number} is blank and was not sent to the model" for number in blank]
    else:
        warnings.append("every page is blank: nothing was extracted and all values are null")
    warnings += answer.merged.warnings + consistency_warnings(answer.data, extractor.schema.document)
    warnings += low_confidence_warnings(answer.confidence, options.min_confidence, None)
    warnings += grounding.warnings
    reasons = [best.generation.finish_reason for best in bests]
    usage = Usage(
        sum(a.generation.visual_tokens for a in attempts),
        sum(a.generation.prompt_tokens for a in attempts),
        sum(a.generation.generated_tokens for a in attempts),
    )
    return Envelope(
        file=str(document.source.path),
        schema=extractor.schema.name,
        valid=not answer.issues and not grounding.issues,
        data=answer.data,
        errors=tuple(answer.issues) + grounding.issues,
        warnings=tuple(warnings),
        pages=tuple(pages[number] for number in sorted(pages)),
        page_count=document.page_count,
        prompt=f"{extractor.prompt.name}+{WINDOW_NOTE}",
        model=extractor.backend.info.to_dict() if attempts else None,
        budget=_budget_record(extractor, document),
        usage=usage,
        seconds=time.perf_counter() - started,
        sha256=sha256,
        finish_reason=next((reason for reason in reasons if reason != "stop"), "stop" if reasons else None),
        raw=answer.raw,
        confidence=answer.confidence,
        normalized=answer.normalized,
        evidence=grounding.evidence,
        truncated=answer.truncated,
        constrained=bool(bests) and all(best.generation.constrained for best in bests),
        attempts=len(attempts),
        reasks=tuple(reasks),
        windows=tuple(run.to_dict() for run in runs),
        origin=answer.origin,
    )


def _windows_note(extractor: Extractor, document: WindowedDocument) -> str:
    settings = extractor.options.windows
    cap = extractor.options.budget.max_total_pixels
    windows = document.windows
    longest = max(window.stop - window.start for window in windows)
    shared = max((max(0, a.stop - b.start) for a, b in zip(windows, windows[1:], strict=False)), default=0)
    return (
        f"{len(document.pages.numbers)} pages do not fit --max-total-pixels {cap} "
        f"at --min-page-pixels {settings.min_page_pixels}: read in {len(windows)} windows of up to "
        f"{plural(longest, 'page')} ({shared} shared by neighbours) and merged"
    )


def _budget_record(extractor: Extractor, document: WindowedDocument) -> dict[str, Any]:
    options = extractor.options
    plans = [window.plan for window in document.windows]
    return asdict(options.budget) | {
        "per_page_max_pixels": min(plan.per_page_max_pixels for plan in plans),
        "total_pixels": sum(plan.total_pixels for plan in plans),
        "shrunk": any(plan.shrunk for plan in plans),
        "pdf_dpi": options.dpi if document.source.is_pdf else None,
        "max_new_tokens": extractor.max_new_tokens,
        "min_page_pixels": options.windows.min_page_pixels,
        "window_pages": options.windows.window_pages,
        "window_overlap": options.windows.window_overlap,
    }
