"""The envelopes of the ``examples/`` documents stay exactly what they were (golden JSON Lines).

The fake backend answers each document with its ``*.expected.json``, so everything around the
model (rendering, budgets, prompt, validation, normalization, checks, keys) is compared byte for
byte. Set ``QVL_UPDATE_GOLDEN=1`` to rewrite the golden file after an intended change: the test
then prints each value that changed, and fails under ``CI=true``, where golden files are only read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, fake, qvl

GOLDEN = Path(__file__).parent / "golden" / "examples.jsonl"
EXAMPLES = (
    ("invoice.pdf", "invoice"),
    ("form.png", "form"),
    ("chart.png", "chart"),
    ("multilingual.png", "multilingual"),
)
VOLATILE = ("seconds",)


def envelope(document: str, schema: str) -> dict:
    reply = (ROOT / "examples" / document).with_suffix(".expected.json").read_text(encoding="utf-8")
    result = qvl("extract", f"examples/{document}", "-s", schema, "--no-cache", cwd=ROOT, env=fake(reply))
    assert result.returncode in (0, 1), result.stderr
    record = json.loads(result.stdout)
    return {key: value for key, value in record.items() if key not in VOLATILE}


def test_examples_envelopes_are_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps(envelope(doc, schema), ensure_ascii=False, sort_keys=True) for doc, schema in EXAMPLES]
    if os.environ.get("QVL_UPDATE_GOLDEN"):
        with capsys.disabled():
            print(update_golden(GOLDEN, lines))
    assert GOLDEN.read_text(encoding="utf-8").splitlines() == lines


def update_golden(path: Path, lines: list[str]) -> str:
    """Rewrite ``path`` with ``lines`` and say what changed; refused under CI, where a rewritten
    golden file would make the comparison pass whatever the records are."""
    if os.environ.get("CI") == "true":
        pytest.fail("QVL_UPDATE_GOLDEN is set under CI=true: golden files are compared in CI, never rewritten")
    before = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    changes = [f"  {change}" for change in record_changes(before, lines)]
    count = f"{len(changes) or 'no'} change{'' if len(changes) == 1 else 's'}"
    return "\n".join([f"QVL_UPDATE_GOLDEN: {path.name}: {count}", *changes])


def record_changes(before: list[str], after: list[str]) -> Iterator[str]:
    """One line per value that differs between the records of two golden files, by file and pointer."""
    for index in range(max(len(before), len(after))):
        old = json.loads(before[index]) if index < len(before) else None
        new = json.loads(after[index]) if index < len(after) else None
        name = (new or old or {}).get("file", f"line {index + 1}")
        for pointer, was, now in value_changes(old, new, ""):
            yield f"{name}: {pointer or '(record)'}: {json.dumps(was)} -> {json.dumps(now)}"


def value_changes(old: Any, new: Any, pointer: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(key for key in new if key not in old)]:
            yield from value_changes(old.get(key, MISSING), new.get(key, MISSING), f"{pointer}/{key}")
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from value_changes(a, b, f"{pointer}/{index}")
    elif old != new:
        yield pointer, None if old is MISSING else old, None if new is MISSING else new


MISSING: Any = object()


def test_rewriting_the_golden_file_says_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "golden.jsonl"
    old = {"file": "a.pdf", "valid": True, "budget": {"max_pixels": 100}, "warnings": ["x"]}
    path.write_text(json.dumps(old) + "\n")
    new = {"file": "a.pdf", "valid": True, "budget": {"max_pixels": 200, "shrunk": False}, "warnings": ["x", "y"]}
    monkeypatch.delenv("CI", raising=False)
    report = update_golden(path, [json.dumps(new), json.dumps({"file": "b.png"})])
    assert report.splitlines() == [
        "QVL_UPDATE_GOLDEN: golden.jsonl: 4 changes",
        "  a.pdf: /budget/max_pixels: 100 -> 200",
        "  a.pdf: /budget/shrunk: null -> false",
        '  a.pdf: /warnings: ["x"] -> ["x", "y"]',
        '  b.png: (record): null -> {"file": "b.png"}',
    ]
    assert [json.loads(line) for line in path.read_text().splitlines()] == [new, {"file": "b.png"}]
    assert update_golden(path, path.read_text().splitlines()) == "QVL_UPDATE_GOLDEN: golden.jsonl: no changes"


def test_the_golden_file_is_never_rewritten_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_text('{"file": "a.pdf"}\n')
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="QVL_UPDATE_GOLDEN is set under CI=true"):
        update_golden(path, ['{"file": "changed.pdf"}'])
    assert path.read_text() == '{"file": "a.pdf"}\n'
