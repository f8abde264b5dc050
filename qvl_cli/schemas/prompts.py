"""Prompt templates: versioned built-ins (``invoice-v1``) or a user's text file.

Templates are plain text with ``$schema_json``, ``$schema_name`` and ``$page_count``
placeholders (``string.Template`` syntax, so JSON braces need no escaping).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from qvl_cli.errors import SchemaError
from qvl_cli.schemas.catalog import Schema
from qvl_cli.schemas.resources import builtin_names, data_dir

SUFFIX = ".txt"
GENERIC = "generic"
_VERSIONED = re.compile(r"^(?P<base>.+)-v(?P<version>\d+)$")


@dataclass(frozen=True)
class Prompt:
    """A prompt template and its identity (name and content hash)."""

    name: str
    template: str
    sha256: str

    def render(self, schema: Schema, page_count: int) -> str:
        try:
            return Template(self.template).substitute(
                schema_json=schema.prompt_text, schema_name=schema.name, page_count=page_count
            )
        except (KeyError, ValueError) as exc:
            raise SchemaError(
                f"prompt {self.name!r} has an unknown placeholder: {exc}",
                hint="use $schema_json, $schema_name and $page_count; write $$ for a dollar sign",
            ) from None


WINDOW_NOTE = "window-v1"  # appended to the prompt of each window of a long document


def window_note(first_page: int, last_page: int, total_pages: int) -> str:
    """What the model is told about a window: which pages of how many it sees."""
    path = data_dir("prompts") / "notes" / f"{WINDOW_NOTE}{SUFFIX}"
    template = Template(path.read_text(encoding="utf-8"))
    return template.substitute(first_page=first_page, last_page=last_page, total_pages=total_pages).strip()


def latest_builtin(base: str) -> str | None:
    """Newest built-in version of a prompt family: ``invoice`` -> ``invoice-v1``."""
    versions = []
    for name in builtin_names("prompts", SUFFIX):
        match = _VERSIONED.match(name)
        if match and match["base"] == base:
            versions.append((int(match["version"]), name))
    return max(versions)[1] if versions else None


def load_prompt(ref: str | None, schema: Schema) -> Prompt:
    """``ref`` names a built-in (``invoice`` or ``invoice-v1``) or a file; ``None`` picks by schema."""
    if ref is None:
        name = latest_builtin(schema.name) if schema.source == "builtin" else None
        return _builtin(name or latest_builtin(GENERIC) or GENERIC)
    if ref in builtin_names("prompts", SUFFIX):
        return _builtin(ref)
    if (latest := latest_builtin(ref)) is not None:
        return _builtin(latest)
    path = Path(ref)
    if path.exists() or path.suffix:
        return _read(path, name=path.name)
    raise SchemaError(f"unknown prompt {ref!r}", hint="pass a built-in name such as 'invoice' or a text file")


def _builtin(name: str) -> Prompt:
    return _read(data_dir("prompts") / f"{name}{SUFFIX}", name=name)


def _read(path: Path, name: str) -> Prompt:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"cannot read prompt: {exc}", path=path) from None
    return Prompt(name, text, hashlib.sha256(text.encode()).hexdigest())
