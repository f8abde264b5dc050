"""The envelopes of the ``examples/`` documents stay exactly what they were (golden JSON Lines).

The fake backend answers each document with its ``*.expected.json``, so everything around the
model (rendering, budgets, prompt, validation, normalization, checks, keys) is compared byte for
byte. Set ``QVL_UPDATE_GOLDEN=1`` to rewrite the golden file after an intended change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

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


def test_examples_envelopes_are_unchanged() -> None:
    lines = [json.dumps(envelope(doc, schema), ensure_ascii=False, sort_keys=True) for doc, schema in EXAMPLES]
    if os.environ.get("QVL_UPDATE_GOLDEN"):
        GOLDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert GOLDEN.read_text(encoding="utf-8").splitlines() == lines
