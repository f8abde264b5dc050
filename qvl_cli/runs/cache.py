"""Content-addressed result cache: re-running over unchanged documents skips the model.

A result is stored under a key made from the document's SHA-256 and everything that shapes the
answer (qvl version, schema, prompt, model, budgets, decoding options). Greedy decoding makes the
same key give the same answer, so a hit is as good as a new run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from qvl_cli.runs.records import Envelope
from qvl_cli.runs.targets import write_atomically

log = logging.getLogger(__name__)
CACHE_ENV = "QVL_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$QVL_CACHE_DIR``, else the platform's user cache folder (``~/.cache/qvl`` on Linux)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("qvl", appauthor=False)) / "results"


def run_identity(
    schema_sha256: str, prompt_sha256: str, backend: str, settings: Any, options: Any, max_new_tokens: int
) -> dict[str, Any]:
    """Everything besides the document that decides an extraction's result."""
    from dataclasses import asdict

    from qvl_cli import __version__

    return {
        "qvl": __version__,
        "schema": schema_sha256,
        "prompt": prompt_sha256,
        "backend": backend,
        "model": settings.identity(),
        "options": asdict(options) | {"password": None, "max_new_tokens": max_new_tokens},
    }


def document_key(content: str, identity: dict[str, Any]) -> str:
    """Key of one document under one configuration (``content``: its SHA-256, or its path)."""
    payload = json.dumps({"content": content, **identity}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultCache:
    """Envelopes as JSON files under ``root``, one per key; unreadable entries count as misses."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Envelope | None:
        try:
            record = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Envelope.from_dict(record) if isinstance(record, dict) and record.get("key") == key else None

    def put(self, key: str, record: Envelope) -> None:
        """Store atomically; a cache that cannot be written is skipped with a log line."""
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(target, json.dumps(record.to_dict(), ensure_ascii=False))
        except OSError as exc:
            log.warning("result cache not written (%s): %s", target, exc)
