"""Frozen result records. Every record carries its provenance.

An :class:`Envelope` stays typed from the document's extraction to the writer, which serialises
it with :meth:`Envelope.to_dict`; records read back from JSON (the cache, sidecars, a resumed
output) become envelopes again with :meth:`Envelope.from_dict`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from qvl_cli import __version__
from qvl_cli.answers.validation import Issue
from qvl_cli.errors import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, QvlError, exit_code_of


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

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Usage:
        return cls(*(int(data.get(name) or 0) for name in ("visual_tokens", "prompt_tokens", "generated_tokens")))


@dataclass(frozen=True)
class FailureInfo:
    """Why a document produced no extraction at all, and the exit code that error means."""

    type: str
    message: str
    exit_code: int = EXIT_USAGE

    @classmethod
    def of(cls, error: QvlError) -> FailureInfo:
        return cls(error.kind, str(error), error.exit_code)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FailureInfo:
        kind = str(data.get("type", "input"))
        return cls(kind, str(data.get("message", "")), exit_code_of(kind))

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
    cached: bool = False  # reused from the result cache or a sidecar
    qvl_version: str = __version__
    windows: tuple[dict[str, Any], ...] | None = None  # long documents: one entry per window of pages
    origin: dict[str, list[int]] | None = None  # long documents: pointer -> pages [first, last]

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def status(self) -> str:
        """``valid``, ``invalid``, or the error type of a failed document."""
        if self.error is not None:
            return self.error.type
        return "valid" if self.valid else "invalid"

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, else the exit code of the error (2 input, 3 model...)."""
        if self.error is not None:
            return self.error.exit_code
        return EXIT_VALID if self.valid else EXIT_INVALID

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> Envelope:
        """An envelope read back from its JSON (cache, sidecar, resumed output); missing keys
        take their defaults, so records of earlier versions can be read."""
        error = record.get("error")
        return cls(
            file=str(record.get("file", "")),
            schema=str(record.get("schema", "")),
            valid=bool(record.get("valid")),
            data=record.get("data"),
            errors=tuple(
                Issue(str(e.get("path", "")), str(e.get("message", "")))
                for e in record.get("errors") or ()
                if isinstance(e, Mapping)
            ),
            warnings=tuple(str(warning) for warning in record.get("warnings") or ()),
            pages=tuple(record.get("pages") or ()),
            page_count=int(record.get("page_count") or 0),
            prompt=record.get("prompt"),
            model=record.get("model"),
            budget=record.get("budget"),
            usage=Usage.from_dict(record.get("usage") or {}),
            seconds=float(record.get("seconds") or 0.0),
            sha256=record.get("sha256"),
            finish_reason=record.get("finish_reason"),
            raw=record.get("raw"),
            error=FailureInfo.from_dict(error) if isinstance(error, Mapping) else None,
            confidence=record.get("confidence"),
            normalized=dict(record.get("normalized") or {}),
            evidence=record.get("evidence"),
            truncated=record.get("truncated"),
            constrained=bool(record.get("constrained")),
            attempts=int(record.get("attempts", 1)),
            reasks=tuple(record.get("reasks") or ()),
            degraded=record.get("degraded"),
            key=record.get("key"),
            cached=bool(record.get("cached")),
            qvl_version=str(record.get("qvl_version") or __version__),
            windows=tuple(record["windows"]) if isinstance(record.get("windows"), list) else None,
            origin=record.get("origin") if isinstance(record.get("origin"), dict) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON, its keys in reading order (README's envelope): the document and
        its verdict (``error`` right after ``valid`` on a document that failed), the answer and
        its problems, per-field detail, the pages, how the run went, provenance."""
        record: dict[str, Any] = {"file": self.file, "valid": self.valid}
        if self.error is not None:
            record["error"] = self.error.to_dict()
        record |= {"schema": self.schema, "data": self.data}
        if self.raw is not None:
            record["raw"] = self.raw
        record |= {
            "errors": [issue.to_dict() for issue in self.errors],
            "warnings": list(self.warnings),
            "truncated": self.truncated,
            "confidence": self.confidence,
            "normalized": self.normalized,
            "evidence": self.evidence,
        }
        if self.windows is not None:
            record["origin"] = self.origin
        record |= {"pages": list(self.pages), "page_count": self.page_count}
        if self.windows is not None:
            record["windows"] = list(self.windows)
        return record | {
            "usage": self.usage.to_dict(),
            "seconds": round(self.seconds, 3),
            "finish_reason": self.finish_reason,
            "constrained": self.constrained,
            "attempts": self.attempts,
            "reasks": list(self.reasks),
            "degraded": self.degraded,
            "model": self.model,
            "prompt": self.prompt,
            "budget": self.budget,
            "sha256": self.sha256,
            "key": self.key,
            "cached": self.cached,
            "qvl_version": self.qvl_version,
        }
