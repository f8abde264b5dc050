"""Judge an extraction against a check rule: schema, required fields, constraints, confidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qvl_cli.answers.assess import low_confidence_pointer
from qvl_cli.evidence.grounding import REQUIRE_EVIDENCE
from qvl_cli.evidence.locate import NOT_FOUND, not_found_message
from qvl_cli.evidence.unsearched import ERROR_MIDDLE, WARNING_END, is_unsearched
from qvl_cli.gate.config import Rule
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.verdicts import CUT_PREFIXES
from qvl_cli.schemas import pointers
from qvl_cli.wording import plural

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    """One reported problem: where (file, JSON Pointer into the data; the line of a JSON Lines
    file, for a record in one) and what."""

    file: str
    pointer: str
    message: str
    severity: str = ERROR
    line: int | None = None

    @property
    def source(self) -> Source:
        return self.file, self.line

    def to_dict(self) -> dict[str, str | int]:
        return located(self.source) | {"field": self.pointer, "message": self.message, "severity": self.severity}


Source = tuple[str, int | None]  # a file, and the line of a JSON Lines file a record is on


def located(source: Source) -> dict[str, str | int]:
    """How JSON reports name a source: ``{"file": ..., "line": 3}``, the line only when there is one."""
    file, line = source
    return {"file": file} | ({} if line is None else {"line": line})


def source_name(source: Source) -> str:
    """How text output names a source: ``out.jsonl:3`` for line 3, else the file."""
    file, line = source
    return file if line is None else f"{file}:{line}"


def constraint_checker(constraints: dict[str, Any]) -> Callable[[Any], list[tuple[str, str]]]:
    """Validate data against a rule's extra JSON Schema; ``(pointer, message)`` per problem."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(constraints, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def check(data: Any) -> list[tuple[str, str]]:
        errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
        return [(pointers.join(error.absolute_path), error.message) for error in errors]

    return check


def evaluate(record: Envelope, rule: Rule, file: str | None = None) -> list[Finding]:
    """Every finding for one document's record under ``rule`` (errors fail the check)."""
    name = file or record.file
    if record.error is not None:
        message = record.error.message or "extraction failed"
        return [Finding(name, "", message.removeprefix(f"{record.file}: ").removeprefix(f"{name}: "))]
    data = record.data
    findings = [Finding(name, issue.path, issue.message) for issue in record.errors]
    for field_name in rule.required:
        pointer = field_name if field_name.startswith("/") else f"/{field_name}"
        found, value = pointers.resolve(data, pointer)
        if not found or value in (None, "", [], {}):
            findings.append(Finding(name, pointer, "required by the check rule, but not extracted"))
    if rule.constraints:
        findings += [Finding(name, pointer, message) for pointer, message in constraint_checker(rule.constraints)(data)]
    confidence = record.confidence
    unsure: list[Finding] = []
    if rule.min_confidence is not None and confidence is not None:
        unsure = [
            Finding(name, pointer, f"confidence {score:.2f} is below min_confidence {rule.min_confidence:g}")
            for pointer, score in confidence.items()
            if score < rule.min_confidence
        ]
    findings += unsure
    if rule.grounded:
        findings += grounding_findings(record, name)
    findings = _each_failure_once(findings, record)
    reported = {f.pointer for f in unsure if f in findings}
    warnings = [w for w in record.warnings if not _said_again(w, reported, rule)]
    findings += [Finding(name, "", warning, WARNING) for warning in warnings]
    return findings


def _said_again(warning: str, unsure: set[str], rule: Rule) -> bool:
    """Whether a warning of the record says what a failed rule already reports: a value not
    found (``grounded``), a confidence below the rule's ``min_confidence`` (at ``unsure``)."""
    if rule.grounded and warning.endswith((NOT_FOUND, WARNING_END)):
        return True
    return low_confidence_pointer(warning) in unsure


def grounding_findings(record: Envelope, name: str) -> list[Finding]:
    """An error for each value the record's evidence did not find in the document."""
    if record.evidence is None:
        return [Finding(name, "", "grounded = true, but the result has no evidence (extract with --evidence)")]
    findings = []
    for pointer, found in record.evidence.items():
        value = pointers.resolve(record.data, pointer)[1]
        if found is None and not isinstance(value, bool) and value not in (None, ""):
            findings.append(Finding(name, pointer, not_found_message(pointer, value).removeprefix(pointer + " ")))
    unsearched = sum(map(is_unsearched, record.evidence.values()))
    if unsearched and not any(ERROR_MIDDLE in error.message for error in record.errors):
        said = [warning for warning in record.warnings if warning.endswith(WARNING_END)]
        reason = said[0] if said else f"{plural(unsearched, 'value')} could not be looked for: a page has no text layer"
        findings.append(Finding(name, "", f"grounded = true, but {reason}"))
    return findings


def _each_failure_once(findings: list[Finding], record: Envelope) -> list[Finding]:
    """Each failure once, all of a field's reasons kept (low confidence and not found in the
    document are two). A value cut short or filled in when the answer was closed is reported for
    that alone: not also "not extracted", "below min_confidence" or "not found"; a value not
    found is not reported again when ``--require-evidence`` already said so."""
    closed = [e.path for e in record.errors if e.message.startswith(CUT_PREFIXES)]
    if record.truncated:
        closed += [p for key in ("cut", "added") for p in record.truncated.get(key) or () if isinstance(p, str)]
    required = {e.path for e in record.errors if e.message == REQUIRE_EVIDENCE}
    stored = {(e.path, e.message) for e in record.errors}
    seen: set[tuple[str, str]] = set()
    kept = []
    for finding in findings:
        own = (finding.pointer, finding.message)
        if own in seen:
            continue
        rule_finding = own not in stored
        if rule_finding and finding.pointer and any(pointers.is_within(finding.pointer, p) for p in closed):
            continue
        if rule_finding and finding.pointer in required and finding.message.endswith(NOT_FOUND):
            continue
        seen.add(own)
        kept.append(finding)
    return kept
