"""Judge an extraction against a check rule: schema, required fields, constraints, confidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qvl_cli.gate.config import Rule
from qvl_cli.runs.records import Envelope

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One reported problem: where (file, JSON Pointer into the data) and what."""

    file: str
    pointer: str
    message: str
    severity: str = ERROR

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "field": self.pointer, "message": self.message, "severity": self.severity}


def resolve_pointer(data: Any, pointer: str) -> tuple[bool, Any]:
    """``(found, value)`` for an RFC 6901 pointer."""
    if pointer in ("", "/"):
        return True, data
    node = data
    for raw in pointer.lstrip("/").split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def constraint_checker(constraints: dict[str, Any]) -> Callable[[Any], list[tuple[str, str]]]:
    """Validate data against a rule's extra JSON Schema; ``(pointer, message)`` per problem."""
    from jsonschema import Draft202012Validator

    from qvl_cli.answers.validation import json_pointer

    validator = Draft202012Validator(constraints, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def check(data: Any) -> list[tuple[str, str]]:
        errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        return [(json_pointer(error.absolute_path), error.message) for error in errors]

    return check


def evaluate(record: Envelope, rule: Rule, file: str | None = None) -> list[Finding]:
    """Every finding for one document's record under ``rule`` (errors fail the check)."""
    name = file or record.file
    if record.error is not None:
        return [Finding(name, "", record.error.message or "extraction failed")]
    data = record.data
    findings = [Finding(name, issue.path, issue.message) for issue in record.errors]
    for field_name in rule.required:
        pointer = field_name if field_name.startswith("/") else f"/{field_name}"
        found, value = resolve_pointer(data, pointer)
        if not found or value in (None, "", [], {}):
            findings.append(Finding(name, pointer, "required by the check rule, but not extracted"))
    if rule.constraints:
        findings += [Finding(name, pointer, message) for pointer, message in constraint_checker(rule.constraints)(data)]
    confidence = record.confidence
    if rule.min_confidence is not None and confidence is not None:
        findings += [
            Finding(name, pointer, f"confidence {score:.2f} is below min_confidence {rule.min_confidence:g}")
            for pointer, score in confidence.items()
            if score < rule.min_confidence
        ]
    findings += [Finding(name, "", warning, WARNING) for warning in record.warnings]
    return findings
