"""Frozen result records. Every record carries its provenance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qvl_cli import __version__
from qvl_cli.answers.validation import Issue


@dataclass(frozen=True)
class Usage:
    visual_tokens: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "visual_tokens": self.visual_tokens,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
        }


@dataclass(frozen=True)
class FailureInfo:
    """Why a document produced no extraction at all."""

    type: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message}


@dataclass(frozen=True)
class Envelope:
    """The result for one document: the data, whether it is valid, and how it was made."""

    file: str
    schema: str
    valid: bool
    data: Any = None
    errors: tuple[Issue, ...] = ()
    warnings: tuple[str, ...] = ()
    pages: tuple[dict[str, Any], ...] = ()
    page_count: int = 0
    prompt: str | None = None
    model: dict[str, Any] | None = None
    budget: dict[str, Any] | None = None
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    sha256: str | None = None
    finish_reason: str | None = None
    raw: str | None = None  # the model's answer, kept when it could not be parsed
    error: FailureInfo | None = None
    confidence: dict[str, float] | None = None  # JSON Pointer -> probability
    normalized: dict[str, dict[str, Any]] = field(default_factory=dict)  # pointer -> {raw, value}
    evidence: dict[str, dict[str, Any] | None] | None = None  # pointer -> where it is printed; None: off
    truncated: dict[str, Any] | None = None  # {reason, cut, added} when the answer was closed early
    constrained: bool = False
    attempts: int = 1
    reasks: tuple[dict[str, Any], ...] = ()
    degraded: dict[str, Any] | None = None  # budgets lowered after the device ran out of memory
    key: str | None = None  # identifies input content and settings (resume, cache)

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "file": self.file,
            "valid": self.valid,
            "schema": self.schema,
            "data": self.data,
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": list(self.warnings),
            "confidence": self.confidence,
            "normalized": self.normalized,
            "evidence": self.evidence,
            "truncated": self.truncated,
            "pages": list(self.pages),
            "page_count": self.page_count,
            "usage": self.usage.to_dict(),
            "seconds": round(self.seconds, 3),
            "model": self.model,
            "prompt": self.prompt,
            "budget": self.budget,
            "sha256": self.sha256,
            "finish_reason": self.finish_reason,
            "constrained": self.constrained,
            "attempts": self.attempts,
            "reasks": list(self.reasks),
            "degraded": self.degraded,
            "key": self.key,
            "cached": False,
            "qvl_version": __version__,
        }
        if self.raw is not None:
            record["raw"] = self.raw
        if self.error is not None:
            record["error"] = self.error.to_dict()
        return record
