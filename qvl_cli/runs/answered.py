"""A document the model has answered, and the envelope it becomes once its values are grounded.

Grounding needs no model: it waits for page OCR still running in a render worker, matches the
values against the page text and takes a closer look at scanned regions (drawn and read in the
render workers too). :class:`Answered` holds what it needs, the page images let go, so a batch
can ground one document while the model reads the next (see :mod:`qvl_cli.runs.behind`);
:meth:`Answered.envelope` touches nothing another document shares, so it may run in a thread
of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from qvl_cli.errors import InputError
from qvl_cli.evidence.grounding import ground, region_reader
from qvl_cli.evidence.later import page_text
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.runs.records import Envelope, Usage

if TYPE_CHECKING:
    from qvl_cli.backends.contract import Generation
    from qvl_cli.evidence.reread import Regions
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.runs.document import Attempt, Extractor, Prepared


@dataclass(frozen=True)
class Answered:
    """The model's attempts at one document, waiting for grounding (made on the model's thread)."""

    extractor: Extractor
    prepared: Prepared  # its document without page images: grounding needs only their text
    attempts: tuple[Attempt, ...]
    pages: tuple[dict[str, object], ...]  # the envelope's page records
    model: dict[str, Any]
    reread: Regions | None  # the closer look at the document's scanned pages
    degraded: tuple[PixelBudget, int] | None = None  # the budget after out-of-memory retries, and their number

    @classmethod
    def of(cls, extractor: Extractor, prepared: Prepared, attempts: list[Attempt]) -> Answered:
        document = prepared.document
        pages = tuple(page.describe() | {"blank": page.number in prepared.blank} for page in document.pages)
        reread = region_reader(document, extractor.options, prepared.sha256, extractor.renderer)
        light = replace(prepared, document=replace(document, pages=()), request=None)
        return cls(extractor, light, tuple(attempts), pages, extractor.backend.info.to_dict(), reread)

    def envelope(self) -> Envelope:
        """Ground the answer and build its envelope; page text that failed in the renderer (a
        crash or timeout of its OCR) makes the document's error record instead."""
        prepared = self.prepared
        try:
            envelope = self._grounded()
        except InputError as exc:
            return self.extractor.failure(prepared.document.source.path, exc, prepared.started)
        return envelope if self.degraded is None else degraded(envelope, *self.degraded)

    def _grounded(self) -> Envelope:
        extractor, prepared, attempts = self.extractor, self.prepared, self.attempts
        best = min(attempts, key=lambda attempt: len(attempt.answer.issues))
        answer = best.answer
        document = prepared.document
        text = page_text(document)  # OCR still running in a render worker is waited for here
        grounding = ground(
            answer.data, text, extractor.schema.document, answer.normalized, extractor.options, self.reread
        )
        return Envelope(
            file=str(document.source.path),
            schema=extractor.schema.name,
            valid=answer.valid and not prepared.problems and not grounding.issues,
            data=answer.data,
            errors=prepared.problems + answer.issues + grounding.issues,
            warnings=prepared.warnings + answer.warnings + grounding.warnings,
            pages=self.pages,
            page_count=document.page_count,
            prompt=extractor.prompt.name,
            model=self.model,
            budget=extractor.budget_record(document),
            usage=usage(attempt.generation for attempt in attempts),
            seconds=time.perf_counter() - prepared.started,
            sha256=prepared.sha256 or file_sha256(document.source.path),
            finish_reason=best.generation.finish_reason,
            raw=None if answer.parsed else answer.text,
            confidence=answer.confidence,
            normalized={change.pointer: change.to_dict() for change in answer.normalized},
            evidence=grounding.evidence,
            truncated=answer.closing.to_dict() if answer.closing else None,
            constrained=best.generation.constrained,
            attempts=len(attempts),
            reasks=tuple(
                {"errors": [issue.to_dict() for issue in attempt.answer.fixable_issues]} for attempt in attempts[:-1]
            ),
        )


def finished(result: Envelope | Answered) -> Envelope:
    """The envelope of ``result``, grounded here when it is not yet."""
    return result if isinstance(result, Envelope) else result.envelope()


def with_degraded(result: Envelope | Answered, budget: PixelBudget, retries: int) -> Envelope | Answered:
    """``result`` marked as extracted with a budget lowered ``retries`` times (out of memory)."""
    if isinstance(result, Answered):
        return replace(result, degraded=(budget, retries))
    return degraded(result, budget, retries)


def degraded(envelope: Envelope, budget: PixelBudget, retries: int) -> Envelope:
    note = (
        f"the device ran out of memory; extracted with pixel budgets lowered {retries} time(s) "
        f"to --max-pixels {budget.max_pixels}"
    )
    record = {"retries": retries, "max_pixels": budget.max_pixels, "max_total_pixels": budget.max_total_pixels}
    return replace(envelope, degraded=record, warnings=(*envelope.warnings, note))


def usage(generations: Iterable[Generation]) -> Usage:
    total = Usage()
    for generation in generations:
        total = Usage(
            total.visual_tokens + generation.visual_tokens,
            total.prompt_tokens + generation.prompt_tokens,
            total.generated_tokens + generation.generated_tokens,
        )
    return total
