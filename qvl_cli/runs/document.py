"""Extraction of one document: pages -> prompt -> generation -> assessed answer -> envelope.

Blank pages never reach the model; an answer that breaks constraints the grammar cannot
express is re-asked (bounded) with the validation errors, and the best attempt is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from qvl_cli.answers.assess import AssessedAnswer, assess_answer
from qvl_cli.answers.guards import is_blank, token_budget
from qvl_cli.answers.validation import Issue, make_validator
from qvl_cli.backends.contract import Backend, Generation, GenerationRequest, Turn
from qvl_cli.errors import DeviceMemoryError, InputError, ModelError, QvlError
from qvl_cli.evidence.grounding import ocr_key, text_options
from qvl_cli.pages.budgets import PixelBudget
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.pages.pool import InlineRenderer, Renderer
from qvl_cli.pages.rasterize import DEFAULT_PDF_DPI, InputLimits, RenderedDocument
from qvl_cli.pages.windows import WindowSettings, legibility_warning
from qvl_cli.pages.workers import RenderRequest
from qvl_cli.runs.answered import Answered, finished, with_degraded
from qvl_cli.runs.records import Envelope, FailureInfo
from qvl_cli.runs.windows import LoadedDocument, WindowedDocument, extract_windows, load_document
from qvl_cli.schemas.catalog import Schema
from qvl_cli.schemas.navigation import minimal_instance
from qvl_cli.schemas.prompts import Prompt
from qvl_cli.settings import DecodingSettings, RenderSettings

MAX_DEGRADE_STEPS = 4
MIN_DEGRADED_PIXELS = 28 * 28 * 64  # 64 visual tokens a page: below this nothing is legible
REASK_INSTRUCTION = (
    "Your answer does not satisfy the JSON Schema:\n{errors}\n"
    "Answer again with the corrected JSON object only. Use null for values that are not in the document."
)


@dataclass(frozen=True)
class ExtractOptions:
    """Everything about an extraction except the model."""

    budget: PixelBudget = field(default_factory=PixelBudget)
    pages: str | None = None
    max_new_tokens: int | None = None  # None: derived from the schema
    password: str | None = None
    dpi: float = DEFAULT_PDF_DPI
    constrain: bool = True
    reasks: int = 1
    min_confidence: float | None = None
    limits: InputLimits = field(default_factory=InputLimits)
    windows: WindowSettings = field(default_factory=WindowSettings)
    evidence: str = "auto"  # auto | text | ocr | off: how page text for evidence is read
    require_evidence: bool = False  # values not found in the document are errors

    @classmethod
    def from_settings(cls, render: RenderSettings, decoding: DecodingSettings) -> ExtractOptions:
        return cls(
            budget=render.budget(),
            pages=render.pages,
            max_new_tokens=decoding.max_new_tokens,
            password=render.password,
            dpi=render.dpi,
            constrain=decoding.constrain,
            reasks=decoding.reasks,
            min_confidence=decoding.min_confidence,
            limits=render.limits(),
            windows=render.windows(),
            evidence=decoding.evidence,
            require_evidence=decoding.require_evidence,
        )


@dataclass(frozen=True)
class Attempt:
    generation: Generation
    answer: AssessedAnswer


@dataclass(frozen=True)
class Prepared:
    """A rendered document ready for the model: blank pages set aside, the request built."""

    document: RenderedDocument
    started: float
    sha256: str | None
    blank: frozenset[int]
    warnings: tuple[str, ...]
    request: GenerationRequest | None  # None when every page is blank
    problems: tuple[Issue, ...] = ()  # make the result invalid whatever the answer


class Extractor:
    """Extracts documents one by one with a backend created on first use and then reused."""

    def __init__(
        self,
        schema: Schema,
        prompt: Prompt,
        options: ExtractOptions,
        backend_factory: Callable[[], Backend],
        renderer: Renderer | None = None,
        png_data: bool = False,  # pages also encoded as PNG where rendered (for a server backend)
    ):
        self.schema = schema
        self.png_data = png_data
        self.renderer = renderer or InlineRenderer()
        self.prompt = prompt
        self.options = options
        self.max_new_tokens = options.max_new_tokens or token_budget(schema.document)
        self._backend_factory = backend_factory
        self._backend: Backend | None = None
        self._backend_lock = threading.Lock()  # documents may run in several threads
        self._validate = make_validator(schema)

    @property
    def backend(self) -> Backend:
        """Created on first use (once, whichever thread asks first)."""
        with self._backend_lock:
            if self._backend is None:
                self._backend = self._backend_factory()
            return self._backend

    def extract(self, path: str | Path) -> Envelope:
        """The envelope for ``path``; bad input becomes an error envelope, never an exception.

        Errors of the model itself (it cannot be loaded) propagate: they concern every document.
        """
        started = time.perf_counter()
        try:
            document = self.load(path)
        except InputError as exc:
            return self.failure(path, exc, started)
        return self.extract_document(document, started)

    def probe(self, path: str | Path) -> bool:
        """Check that the document opens, cheaply (raises :class:`InputError`); True when it is
        password-protected."""
        options = self.options
        request = RenderRequest(
            str(path), options.budget, None, options.password, options.dpi, options.limits, probe=True
        )
        return self.renderer.run(request).protected  # in a render worker: a crash costs this document only

    def load(self, path: str | Path, budget: PixelBudget | None = None, sha256: str | None = None) -> LoadedDocument:
        """Render a document's pages, or plan the windows of a long one, and read the pages' text
        for evidence where they are rendered (raises :class:`InputError`); safe in a worker thread."""
        options = self.options
        text = text_options(options.evidence)
        request = RenderRequest(
            str(path),
            budget or options.budget,
            options.pages,
            options.password,
            options.dpi,
            options.limits,
            windows=options.windows,
            png_data=self.png_data,
            text=text,
            sha256=ocr_key(path, sha256) if text is not None else sha256,
        )
        return load_document(self.renderer, request)

    def extract_document(self, document: LoadedDocument, started: float, sha256: str | None = None) -> Envelope:
        """Run the model on rendered pages and ground its answer (see :meth:`answer_document`)."""
        return finished(self.answer_document(document, started, sha256))

    def answer_document(
        self, document: LoadedDocument, started: float, sha256: str | None = None
    ) -> Envelope | Answered:
        """Run the model on rendered pages; the answer's grounding is left to the caller (a long
        document's windows are grounded as they go). Out of device memory, the document is
        rendered again with halved pixel budgets (down to ``MIN_DEGRADED_PIXELS``) and the
        envelope says so. A window of a long document that cannot be rendered or read (a renderer
        crash or timeout included) makes the document's error record, as a document that cannot
        be loaded does."""
        budget = self.options.budget
        for retry in range(MAX_DEGRADE_STEPS + 1):
            try:
                if retry:
                    document = self.load(document.source.path, budget)
                if isinstance(document, WindowedDocument):
                    result: Envelope | Answered = extract_windows(self, document, started, sha256)
                else:
                    result = self._answer(self.prepare(document, started, sha256))
            except DeviceMemoryError as exc:
                smaller = _halved(budget)
                if smaller is None or retry == MAX_DEGRADE_STEPS:
                    return self.failure(document.source.path, exc, started)
                budget = smaller
                continue
            except InputError as exc:  # a window of a long document (or its text) failed in the renderer
                return self.failure(document.source.path, exc, started)
            except ModelError as exc:
                if self._backend is None:
                    raise
                return self.failure(document.source.path, exc, started)
            return with_degraded(result, budget, retry) if retry else result
        raise AssertionError("unreachable")  # pragma: no cover

    def extract_documents(self, items: list[tuple[LoadedDocument, float, str | None]]) -> list[Envelope]:
        """Several documents with one batched ``generate_batch`` call, grounded one by one."""
        return [finished(result) for result in self.answer_documents(items)]

    def answer_documents(self, items: list[tuple[LoadedDocument, float, str | None]]) -> list[Envelope | Answered]:
        """Several documents with one batched ``generate_batch`` call, their grounding left to the
        caller. A request that failed gets an error record; out of memory, its document is
        retried on its own with smaller budgets. Re-asks run one by one."""
        rendered = [(d, started, sha256) for d, started, sha256 in items if isinstance(d, RenderedDocument)]
        if len(rendered) < len(items):  # long documents go window by window
            return [self.answer_document(*item) for item in items]
        prepared = [self.prepare(*item) for item in rendered]
        requests = [p.request for p in prepared if p.request is not None]
        if len(requests) < 2:
            return [self.answer_document(*item) for item in items]
        outcomes = iter(self.backend.generate_batch(requests))
        results: list[Envelope | Answered] = []
        for item, p in zip(items, prepared, strict=True):
            outcome = next(outcomes) if p.request is not None else None
            if isinstance(outcome, DeviceMemoryError):
                results.append(self.answer_document(*item))
            elif isinstance(outcome, ModelError):
                results.append(self.failure(p.document.source.path, outcome, p.started))
            else:
                results.append(self._answer(p, self._assessed(outcome) if outcome else None))
        return results

    def prepare(self, document: RenderedDocument, started: float, sha256: str | None = None) -> Prepared:
        """Leave out blank pages and build the request (none when every page is blank)."""
        blank = frozenset(page.number for page in document.pages if is_blank(page.image, page.extras.get("ink")))
        content = [page for page in document.pages if page.number not in blank]
        request = None
        if content:
            request = GenerationRequest(
                images=tuple(page.image for page in content),
                prompt=self.prompt.render(self.schema, len(content)),
                max_new_tokens=self.max_new_tokens,
                schema=self.schema.document,
                constrain=self.options.constrain,
                png=tuple(page.extras["png"] for page in content if "png" in page.extras),
            )
        warnings = tuple(self._page_warnings(document, blank))
        return Prepared(document, started, sha256, blank, warnings, request, unreadable_pages(document, blank))

    def _answer(self, prepared: Prepared, first: Attempt | None = None) -> Envelope | Answered:
        if prepared.request is None:
            return self._blank_envelope(prepared)
        return Answered.of(self, prepared, self.attempts(prepared.request, first))

    def attempts(self, request: GenerationRequest, first: Attempt | None = None) -> list[Attempt]:
        """The first answer, then re-asks with its validation errors while they may help."""
        attempts = [first or self.attempt(request)]
        while len(attempts) <= self.options.reasks and attempts[-1].answer.fixable_issues:
            previous = attempts[-1]
            feedback = reask_message(previous.answer.fixable_issues)
            followups = (Turn("assistant", previous.generation.text), Turn("user", feedback))
            attempts.append(self.attempt(replace(request, followups=followups)))
        return attempts

    def attempt(self, request: GenerationRequest) -> Attempt:
        return self._assessed(self.backend.generate(request))

    def _assessed(self, generation: Generation) -> Attempt:
        return Attempt(generation, assess_answer(generation, self.schema, self._validate, self.options.min_confidence))

    def _page_warnings(self, document: RenderedDocument, blank: frozenset[int]) -> list[str]:
        warnings = []
        if len(blank) < len(document.pages):
            warnings += [f"page {number} is blank and was not sent to the model" for number in sorted(blank)]
        if document.plan.shrunk:
            warnings.append(
                f"--max-total-pixels {self.options.budget.max_total_pixels} lowered every page's budget "
                f"to {document.plan.per_page_max_pixels} pixels"
            )
        numbers = tuple(page.number for page in document.pages)
        budget, floor = self.options.budget, self.options.windows.min_page_pixels
        if illegible := legibility_warning([(numbers, document.plan)], budget.max_total_pixels, floor):
            warnings.append(illegible)
        return warnings

    def _blank_envelope(self, prepared: Prepared) -> Envelope:
        """Nothing to read: null values and a warning, and the model is never asked."""
        data = minimal_instance(self.schema.document)
        issues = prepared.problems + tuple(self._validate(data))
        document = prepared.document
        return Envelope(
            file=str(document.source.path),
            schema=self.schema.name,
            valid=not issues,
            data=data,
            errors=issues,
            warnings=(*prepared.warnings, "every page is blank: nothing was extracted and all values are null"),
            pages=tuple(page.describe() | {"blank": True} for page in document.pages),
            page_count=document.page_count,
            prompt=self.prompt.name,
            evidence=None if document.text is None else {},
            budget=self.budget_record(document),
            seconds=time.perf_counter() - prepared.started,
            sha256=prepared.sha256 or file_sha256(document.source.path),
            attempts=0,
        )

    def budget_record(self, document: RenderedDocument) -> dict[str, object]:
        return asdict(self.options.budget) | {
            "per_page_max_pixels": document.plan.per_page_max_pixels,
            "total_pixels": document.plan.total_pixels,
            "shrunk": document.plan.shrunk,
            "pdf_dpi": self.options.dpi if document.source.is_pdf else None,
            "max_new_tokens": self.max_new_tokens,
        }

    def failure(self, path: str | Path, exc: QvlError, started: float) -> Envelope:
        """The error record of a document that produced no extraction; its message names the
        file (a model or server error does not know which document it was working on)."""
        if exc.path is None:
            exc = exc.for_file(path)
        return Envelope(
            file=str(path),
            schema=self.schema.name,
            valid=False,
            prompt=self.prompt.name,
            seconds=time.perf_counter() - started,
            error=FailureInfo.of(exc),
        )


FONT_HINT = (
    "its fonts are not embedded and not installed here; install the fonts it names "
    "(for Chinese, Japanese or Korean text: fonts-noto-cjk on Debian/Ubuntu, google-noto-sans-cjk-fonts on Fedora) "
    "and run again"
)


def unreadable_pages(document: RenderedDocument, blank: frozenset[int]) -> tuple[Issue, ...]:
    """Pages that render blank although their text layer holds text: the model sees nothing
    there, so nulls would be a wrong answer, not an empty page."""
    return tuple(
        Issue("", f"page {page.number} renders blank but has {page.text_chars} characters of text: {FONT_HINT}")
        for page in document.pages
        if page.number in blank and page.text_chars
    )


def _halved(budget: PixelBudget) -> PixelBudget | None:
    """The budget with half the pixels per page (and per document), or ``None`` at the floor."""
    if budget.max_pixels // 2 < MIN_DEGRADED_PIXELS:
        return None
    total = budget.max_total_pixels // 2 if budget.max_total_pixels else None
    return PixelBudget(
        min(budget.min_pixels, budget.max_pixels // 2),
        budget.max_pixels // 2,
        max(total, MIN_DEGRADED_PIXELS) if total else None,
    )


def reask_message(issues: list[Issue]) -> str:
    errors = "\n".join(f"- {issue.path or '/'}: {issue.message}" for issue in issues)
    return REASK_INSTRUCTION.format(errors=errors)
