"""Print check findings as a linter does (text), as GitHub annotations, or as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import IO

from qvl_cli.gate.rules import ERROR, Finding, Source, located, source_name
from qvl_cli.wording import plural

FORMATS = ("text", "github", "json")


def _github_escape(text: str, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def write_report(findings: Sequence[Finding], documents: Sequence[str | Source], fmt: str, stream: IO[str]) -> None:
    """Every finding, then a summary; ``documents`` are the files (or JSON Lines records) checked."""
    sources = [(d, None) if isinstance(d, str) else d for d in documents]
    failed = {f.source for f in findings if f.severity == ERROR}
    if fmt == "json":
        report = {
            "passed": not failed,
            "documents": [located(source) | {"passed": source not in failed} for source in sources],
            "findings": [f.to_dict() for f in findings],
        }
        stream.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
        return
    for f in findings:
        where = f"{f.pointer}: " if f.pointer else ""
        if fmt == "github":
            level = "error" if f.severity == ERROR else "warning"
            title = _github_escape(f"qvl {f.pointer or 'document'}", property_value=True)
            line = "" if f.line is None else f",line={f.line}"
            file = _github_escape(f.file, True)
            stream.write(f"::{level} file={file}{line},title={title}::{_github_escape(f.message)}\n")
        else:
            prefix = "" if f.severity == ERROR else "warning: "
            stream.write(f"{source_name(f.source)}: {prefix}{where}{f.message}\n")
    passed = len(sources) - len(failed)
    errors = sum(f.severity == ERROR for f in findings)
    checked = plural(len(sources), "document")
    stream.write(f"{checked} checked: {passed} passed, {len(failed)} failed ({plural(errors, 'problem')})\n")
