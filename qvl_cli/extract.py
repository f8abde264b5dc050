"""Extraction of one document: pages -> prompt -> generation -> JSON -> validation -> envelope."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qvl_cli.backends import Backend, GenerationRequest
from qvl_cli.budgets import PixelBudget
from qvl_cli.errors import InputError, ModelError, QvlError
from qvl_cli.inputs import file_sha256
from qvl_cli.parsing import parse_answer
from qvl_cli.prompts import Prompt
from qvl_cli.rasterize import DEFAULT_PDF_DPI, RenderedDocument, render_document
from qvl_cli.results import Envelope, FailureInfo, Usage
from qvl_cli.schemas import Schema
from qvl_cli.validation import Issue, make_validator

DEFAULT_MAX_NEW_TOKENS = 1024


@dataclass(frozen=True)
class ExtractOptions:
    """Everything about an extraction except the model."""

    budget: PixelBudget = field(default_factory=PixelBudget)
    pages: str | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    password: str | None = None
    dpi: float = DEFAULT_PDF_DPI


class Extractor:
    """Extracts documents one by one with a backend created on first use and then reused."""

    def __init__(
        self,
        schema: Schema,
        prompt: Prompt,
        options: ExtractOptions,
        backend_factory: Callable[[], Backend],
    ):
        self.schema = schema
        self.prompt = prompt
        self.options = options
        self._backend_factory = backend_factory
        self._backend: Backend | None = None
        self._validate = make_validator(schema)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    def extract(self, path: str | Path) -> Envelope:
        """The envelope for ``path``; bad input becomes an error envelope, never an exception.

        Errors of the model itself (it cannot be loaded) propagate: they concern every document.
        """
        started = time.perf_counter()
        try:
            document = render_document(
                path, self.options.budget, self.options.pages, self.options.password, self.options.dpi
            )
        except InputError as exc:
            return self._failure(path, exc, started)
        try:
            return self._extract_rendered(document, started)
        except ModelError as exc:
            if self._backend is None:
                raise
            return self._failure(path, exc, started)

    def _extract_rendered(self, document: RenderedDocument, started: float) -> Envelope:
        request = GenerationRequest(
            images=tuple(page.image for page in document.pages),
            prompt=self.prompt.render(self.schema, len(document.pages)),
            max_new_tokens=self.options.max_new_tokens,
            schema=self.schema.document,
        )
        generation = self.backend.generate(request)
        parsed = parse_answer(generation.text)
        issues = self._validate(parsed.data) if parsed.ok else [Issue("", parsed.error or "no JSON")]
        warnings = self._warnings(document, generation.finish_reason)
        return Envelope(
            file=str(document.source.path),
            schema=self.schema.name,
            valid=parsed.ok and not issues,
            data=parsed.data if parsed.ok else None,
            errors=tuple(issues),
            warnings=tuple(warnings),
            pages=tuple(page.describe() for page in document.pages),
            page_count=document.page_count,
            prompt=self.prompt.name,
            model=self.backend.info.to_dict(),
            budget=self._budget_record(document),
            usage=Usage(generation.visual_tokens, generation.prompt_tokens, generation.generated_tokens),
            seconds=time.perf_counter() - started,
            sha256=file_sha256(document.source.path),
            finish_reason=generation.finish_reason,
            raw=None if parsed.ok else generation.text,
        )

    def _warnings(self, document: RenderedDocument, finish_reason: str) -> list[str]:
        warnings = []
        if document.plan.shrunk:
            warnings.append(
                f"--max-total-pixels {self.options.budget.max_total_pixels} lowered every page's budget "
                f"to {document.plan.per_page_max_pixels} pixels"
            )
        if finish_reason == "length":
            warnings.append(
                f"generation stopped at --max-new-tokens {self.options.max_new_tokens} before the answer ended"
            )
        return warnings

    def _budget_record(self, document: RenderedDocument) -> dict[str, object]:
        return asdict(self.options.budget) | {
            "per_page_max_pixels": document.plan.per_page_max_pixels,
            "total_pixels": document.plan.total_pixels,
            "shrunk": document.plan.shrunk,
            "pdf_dpi": self.options.dpi if document.source.is_pdf else None,
        }

    def _failure(self, path: str | Path, exc: QvlError, started: float) -> Envelope:
        return Envelope(
            file=str(path),
            schema=self.schema.name,
            valid=False,
            prompt=self.prompt.name,
            seconds=time.perf_counter() - started,
            error=FailureInfo(type=exc.kind, message=str(exc)),
        )
