"""What a stored record says is wrong beyond its schema, for ``qvl validate``.

A record's ``errors`` mix two kinds of verdicts. Schema errors are about ``data`` as it was
extracted: they are derived again from the data as it is now, so a record corrected by hand
passes. The others the schema cannot see, so they are kept from the record, each with how to
clear it once the values are corrected:

- values cut short or filled in when the answer was closed early: from the record's
  ``truncated`` (``cut`` and ``added``), cleared by removing that key;
- values ``--require-evidence`` did not find in the document: kept while the record's
  ``evidence`` for them is still ``null``, cleared by ``qvl locate`` finding them (or their
  evidence set by hand);
- values on pages without a text layer that ``--require-evidence`` could not check: kept while
  the record's ``evidence`` says some were not looked for (``{"searched": false}``), cleared by
  ``qvl locate --evidence auto``;
- pages whose answer could not be read (a document read in windows) and pages that render blank
  although they hold text: kept while the entry is in ``errors``, cleared by removing it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qvl_cli.evidence.grounding import REQUIRE_EVIDENCE
from qvl_cli.evidence.unsearched import ERROR_MIDDLE, is_unsearched
from qvl_cli.schemas import pointers

CUT_PREFIXES = ("value cut short", "not extracted:")
# Whole-document problems qvl extract writes at the root (runs/windows.py, runs/document.py).
_KEPT_AT_ROOT = re.compile(r"^(pages \d+-\d+: |page \d+ renders blank but has \d+ characters of text)")

CLEAR_TRUNCATED = 'once corrected, remove the record\'s "truncated" key'
CLEAR_EVIDENCE = "once corrected, run qvl locate on the records to look for it again"
CLEAR_UNSEARCHED = "once corrected, run qvl locate --evidence auto on the records to look for them"
CLEAR_ENTRY = 'once corrected, remove this entry from the record\'s "errors"'
CLEAR_VALID = 'once checked, set the record\'s "valid" to true'
_FILLED_IN = "not extracted: filled in when the answer was closed"


@dataclass(frozen=True)
class Verdict:
    pointer: str
    message: str


def record_verdicts(record: Mapping[str, Any], schema_problems: bool) -> list[Verdict]:
    """The verdicts of ``record`` the schema cannot see, each telling how to clear it; with none of
    them and no ``schema_problems``, a record marked invalid without any error says so."""
    stored = [error for error in record.get("errors") or () if isinstance(error, Mapping)]
    verdicts = list(_truncated(record, stored)) + list(_kept(record, stored))
    if record.get("valid") is False and not stored and not schema_problems and not verdicts:
        verdicts.append(Verdict("", f"qvl extract marked this result invalid without saying why ({CLEAR_VALID})"))
    return verdicts


def _truncated(record: Mapping[str, Any], stored: list[Mapping[str, Any]]) -> Iterator[Verdict]:
    """A verdict for each value the record's ``truncated`` lists (its stored message when it has one)."""
    truncated = record.get("truncated")
    if not isinstance(truncated, Mapping):
        return
    said = {
        str(error.get("path", "")): str(error.get("message", ""))
        for error in stored
        if str(error.get("message", "")).startswith(CUT_PREFIXES)
    }
    seen: set[str] = set()
    for key, fallback in (("cut", "value cut short"), ("added", _FILLED_IN)):
        for pointer in truncated.get(key) or ():
            if isinstance(pointer, str) and pointer not in seen:
                seen.add(pointer)
                yield Verdict(pointer, f"{said.get(pointer, fallback)} ({CLEAR_TRUNCATED})")


def _kept(record: Mapping[str, Any], stored: list[Mapping[str, Any]]) -> Iterator[Verdict]:
    """The stored errors that are no schema error and still hold."""
    evidence = record.get("evidence")
    for error in stored:
        pointer, message = str(error.get("path", "")), str(error.get("message", ""))
        if message == REQUIRE_EVIDENCE:
            found, value = pointers.resolve(record.get("data"), pointer)
            cited = evidence.get(pointer) if isinstance(evidence, Mapping) else None
            if found and value not in (None, "") and not isinstance(value, bool) and cited is None:
                yield Verdict(pointer, f"{message} ({CLEAR_EVIDENCE})")
        elif not pointer and ERROR_MIDDLE in message:
            if isinstance(evidence, Mapping) and any(map(is_unsearched, evidence.values())):
                yield Verdict(pointer, f"{message} ({CLEAR_UNSEARCHED})")
        elif not pointer and _KEPT_AT_ROOT.match(message):
            yield Verdict(pointer, f"{message} ({CLEAR_ENTRY})")
