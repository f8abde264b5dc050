"""Judge an extraction against a check rule: schema, required fields, constraints, confidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qvl_cli.evidence.locate import NOT_FOUND, not_found_message
from qvl_cli.gate.config import Rule

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


def evaluate(record: dict[str, Any], rule: Rule, file: str | None = None) -> list[Finding]:
    """Every finding for one document's record under ``rule`` (errors fail the check)."""
    name = file or str(record.get("file"))
    error = record.get("error")
    if isinstance(error, dict):
        return [Finding(name, "", str(error.get("message", "extraction failed")))]
    data = record.get("data")
    findings = [Finding(name, e.get("path", ""), e.get("message", "")) for e in record.get("errors", [])]
    for field_name in rule.required:
        pointer = field_name if field_name.startswith("/") else f"/{field_name}"
        found, value = resolve_pointer(data, pointer)
        if not found or value in (None, "", [], {}):
            findings.append(Finding(name, pointer, "required by the check rule, but not extracted"))
    if rule.constraints:
        findings += [Finding(name, pointer, message) for pointer, message in constraint_checker(rule.constraints)(data)]
    confidence = record.get("confidence")
    if rule.min_confidence is not None and isinstance(confidence, dict):
        findings += [
            Finding(name, pointer, f"confidence {score:.2f} is below min_confidence {rule.min_confidence:g}")
            for pointer, score in confidence.items()
            if score < rule.min_confidence
        ]
    warnings = record.get("warnings", [])
    if rule.grounded:
        findings += grounding_findings(record, name)
        warnings = [w for w in warnings if not (isinstance(w, str) and w.endswith(NOT_FOUND))]
    findings += [Finding(name, "", warning, WARNING) for warning in warnings]
    return findings


def grounding_findings(record: dict[str, Any], name: str) -> list[Finding]:
    """An error for each value the record's evidence did not find in the document."""
    evidence = record.get("evidence")
    if not isinstance(evidence, dict):
        return [Finding(name, "", "grounded = true, but the result has no evidence (extract with --evidence)")]
    findings = []
    for pointer, found in evidence.items():
        value = resolve_pointer(record.get("data"), pointer)[1]
        if found is None and not isinstance(value, bool) and value not in (None, ""):
            findings.append(Finding(name, pointer, not_found_message(pointer, value).removeprefix(pointer + " ")))
    return findings
