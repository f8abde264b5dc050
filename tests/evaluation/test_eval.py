"""`qvl eval`: typed field comparison, exact scores for known perturbations, public gold formats."""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path

import pytest
from conftest import EXAMPLES, cli, qvl
from hypothesis import given
from hypothesis import strategies as st

from qvl_cli.commands.eval import evaluate_predictions
from qvl_cli.evaluation.goldsets import GoldError, load_adapter
from qvl_cli.evaluation.scoring import CompareOptions, optimal_assignment, values_match

GOLD = json.loads((EXAMPLES / "invoice.expected.json").read_text())
OPTIONS = CompareOptions()


def score(predicted: dict, gold: dict = GOLD, options: CompareOptions = OPTIONS) -> dict:
    result, _ = evaluate_predictions([{"file": "a.pdf", "data": predicted}], {"a": gold}, None, options)
    return result.to_dict(with_differences=True)


def test_gold_against_itself_scores_one() -> None:
    report = score(copy.deepcopy(GOLD))
    assert report["overall"] == {"tp": 24, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0,
                                 "exact_match": 1.0}  # fmt: skip
    assert report["document_exact_match"] == 1.0


def test_wrong_missing_and_extra_values_are_counted_exactly() -> None:
    predicted = copy.deepcopy(GOLD)
    predicted["total"] = 600.0  # wrong: one FP and one FN
    predicted["vendor"]["tax_id"] = None  # missing: one FN
    predicted["due_date"] = "2024-05-01"  # wrong date
    report = score(predicted)
    overall = report["overall"]
    assert (overall["tp"], overall["fp"], overall["fn"]) == (21, 2, 3)
    assert overall["precision"] == round(21 / 23, 4) and overall["recall"] == round(21 / 24, 4)
    assert report["fields"]["/total"] == {"tp": 0, "fp": 1, "fn": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0,
                                          "exact_match": 0.0}  # fmt: skip
    assert [d["field"] for d in report["differences"]["a"]] == ["/vendor/tax_id", "/due_date", "/total"]

    gold = copy.deepcopy(GOLD) | {"subtotal": None}
    extra = score(copy.deepcopy(GOLD), gold)["fields"]["/subtotal"]  # predicted where gold has none
    assert (extra["tp"], extra["fp"], extra["fn"]) == (0, 1, 0)


def test_typed_equality() -> None:
    predicted = copy.deepcopy(GOLD)
    predicted["total"] = 598.574  # within the 0.01 tolerance
    predicted["invoice_date"] = "14.03.2024"  # same date, printed differently
    predicted["vendor"]["name"] = "  NORDWIND   paper gmbh "  # whitespace and case
    predicted["subtotal"] = "503,00"  # an amount as printed
    assert score(predicted)["overall"]["f1"] == 1.0
    assert not values_match(598.57, 598.6, OPTIONS)
    assert values_match("Nordwind Paper GmbH", "Nordwind Papers GmbH", CompareOptions(similarity=0.9))
    assert not values_match("Nordwind Paper GmbH", "Nordwind Papers GmbH", OPTIONS)
    assert values_match(None, "", OPTIONS) and not values_match(None, "x", OPTIONS)


def test_line_items_are_matched_as_sets() -> None:
    predicted = copy.deepcopy(GOLD)
    predicted["line_items"].reverse()
    assert score(predicted)["overall"]["f1"] == 1.0

    predicted["line_items"] = predicted["line_items"][1:]  # one item lost: its 4 fields missing
    items = {k: v for k, v in score(predicted)["fields"].items() if k.startswith("/line_items")}
    assert sum(v["fn"] for v in items.values()) == 4 and sum(v["fp"] for v in items.values()) == 0

    predicted = copy.deepcopy(GOLD)
    predicted["line_items"].append({"description": "Gift", "quantity": 1, "unit_price": 1.0, "amount": 1.0})
    items = {k: v for k, v in score(predicted)["fields"].items() if k.startswith("/line_items")}
    assert sum(v["fp"] for v in items.values()) == 4 and sum(v["tp"] for v in items.values()) == 12


@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_optimal_assignment_is_optimal(rows: int, cols: int, data: st.DataObject) -> None:
    weights = [[float(data.draw(st.integers(0, 9))) for _ in range(cols)] for _ in range(rows)]
    pairs = optimal_assignment(weights)
    if rows <= cols:
        best = max(sum(weights[i][p[i]] for i in range(rows)) for p in itertools.permutations(range(cols), rows))
    else:
        best = max(sum(weights[p[j]][j] for j in range(cols)) for p in itertools.permutations(range(rows), cols))
    assert sum(weights[i][j] for i, j in pairs) == best
    assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs) == min(rows, cols)


@pytest.mark.corpus
def test_sroie_adapter_on_real_gold(corpus: Path) -> None:
    adapter = load_adapter("sroie")
    gold_dir = corpus / "sroie/key"
    names = sorted(p.stem for p in gold_dir.glob("*.json"))
    predictions = []
    for name in names:
        raw = json.loads((gold_dir / f"{name}.json").read_text())
        data = {"vendor": {"name": raw["company"].lower(), "address": raw["address"]},
                "invoice_date": raw["date"], "total": raw["total"]}  # fmt: skip
        predictions.append({"file": f"scans/{name}.jpg", "data": data})
    predictions[0]["data"]["total"] = "999.99"
    from qvl_cli.evaluation.goldsets import load_gold

    result, missing = evaluate_predictions(predictions, load_gold(gold_dir), adapter, OPTIONS)
    assert missing == [] and result.documents == len(names)
    total = result.fields["/total"]
    assert (total.tp, total.fp, total.fn) == (len(names) - 1, 1, 1)
    assert result.fields["/vendor/name"].f1 == 1.0  # case folded


@pytest.mark.corpus
def test_invoice2data_adapter_and_cli(corpus: Path, tmp_path: Path) -> None:
    gold_dir = corpus / "invoice2data/labels"
    lines = []
    for path in sorted(gold_dir.glob("*.json")):
        raw = json.loads(path.read_text())[0]
        data = {"vendor": {"name": raw.get("issuer")}, "total": raw.get("amount"), "invoice_date": raw.get("date"),
                "invoice_number": raw.get("invoice_number"), "currency": raw.get("currency")}  # fmt: skip
        lines.append(json.dumps({"file": f"docs/{path.stem}.pdf", "data": data}))
    lines.append(json.dumps({"file": "docs/unknown.pdf", "data": {}}))
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text("\n".join(lines) + "\n")
    result = cli("eval", str(predictions), "--gold", str(gold_dir), "--adapter", "invoice2data", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    alias = cli("eval", str(predictions), "--gold", str(gold_dir), "--adapter", "invoice2data", "--json")
    assert json.loads(alias.stdout) == report  # the older spelling still works
    assert report["overall"]["f1"] == 1.0 and report["documents"] == len(lines) - 1
    assert "qvl: skipped 1 prediction without gold: unknown" in result.stderr
    table = cli("eval", str(predictions), "--gold", str(gold_dir), "--adapter", "invoice2data")
    assert "overall" in table.stdout and "/invoice_number" in table.stdout


def test_nothing_matched_is_an_error_naming_what_was_looked_for(tmp_path: Path) -> None:
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"file": "scans/a.pdf", "data": GOLD}) + "\n")
    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / "b.json").write_text(json.dumps(GOLD))
    for output in ([], ["--json"]):
        result = qvl("eval", str(predictions), "--gold", str(gold), *output)
        assert result.returncode == 2, result.stdout
        assert result.stdout == ""
        assert f"no prediction has gold to compare with: looked for a.json in {gold} (gold has b)" in result.stderr


@pytest.mark.parametrize(
    ("option", "value", "bound"),
    [("--similarity", "2", "less than or equal to 1"), ("--similarity", "-0.5", "greater than or equal to 0"),
     ("--tolerance", "-1", "greater than or equal to 0")],
)  # fmt: skip
def test_a_ratio_outside_0_to_1_or_a_negative_tolerance_is_a_usage_error(
    tmp_path: Path, option: str, value: str, bound: str
) -> None:
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"file": "a.pdf", "data": GOLD}) + "\n")
    (tmp_path / "gold").mkdir()
    (tmp_path / "gold" / "a.json").write_text(json.dumps(GOLD))
    result = qvl("eval", str(predictions), "--gold", str(tmp_path / "gold"), option, value)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(f"qvl: error: invalid value for '{option}': ") and bound in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_undefined_ratios_are_not_perfect_scores() -> None:
    """A field never predicted and never in gold has no precision; one always null has no recall."""
    gold = {"total": None, "currency": "EUR"}
    report = score({"total": None, "currency": None}, gold)
    total, currency = report["fields"]["/total"], report["fields"]["/currency"]
    assert total == {"tp": 0, "fp": 0, "fn": 0, "precision": None, "recall": None, "f1": None, "exact_match": 1.0}
    assert currency["precision"] is None and currency["recall"] == 0.0 and currency["f1"] is None
    result, _ = evaluate_predictions([], {}, None, OPTIONS)
    assert result.to_dict()["document_exact_match"] is None


def test_table_shows_undefined_ratios_as_n_a(tmp_path: Path) -> None:
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"file": "a.pdf", "data": {"total": None}}) + "\n")
    (tmp_path / "a.json").write_text(json.dumps({"total": None}))
    result = qvl("eval", str(predictions), "--gold", str(tmp_path))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "/total" in line)
    assert [cell.strip() for cell in row.split("│")[5:9]] == ["n/a", "n/a", "n/a", "1.000"]
    assert "1.000 │ 1.000 │ 1.000" not in result.stdout


def test_gold_in_another_format_without_adapter_gets_a_hint(tmp_path: Path) -> None:
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"file": "a.pdf", "data": GOLD}) + "\n")
    (tmp_path / "a.json").write_text(json.dumps([{"issuer": "ACME", "amount": 10.0, "date": "2024-01-02"}]))
    result = qvl("eval", str(predictions), "--gold", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert "gold keys never found in any prediction: amount, date, issuer (pass --adapter invoice2data" in (
        result.stderr
    )


def test_an_unknown_adapter_lists_the_built_ins_and_says_what_a_mapping_file_is(tmp_path: Path) -> None:
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(json.dumps({"file": "a.pdf", "data": GOLD}) + "\n")
    result = qvl("eval", str(predictions), "--gold", str(tmp_path), "--adapter", "nope")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "qvl: error: --adapter 'nope' is neither a built-in adapter (invoice2data, sroie) nor a mapping file ("
    )
    assert "Errno" not in result.stderr and len(result.stderr.splitlines()) == 1
    with pytest.raises(GoldError, match="is a folder, not a mapping file"):
        load_adapter(str(tmp_path))
    with pytest.raises(GoldError, match=r"invoice.pdf: a PDF document, not an adapter mapping file"):
        load_adapter(str(EXAMPLES / "invoice.pdf"))
    broken = tmp_path / "map.json"
    broken.write_text("{fields")
    with pytest.raises(GoldError, match=r"map.json: adapter is not valid JSON: "):
        load_adapter(str(broken))
    assert load_adapter("sroie").name == "sroie"


def test_predictions_from_stdin_score_as_from_a_file(tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    gold.mkdir()
    (gold / "a.json").write_text(json.dumps({"total": 8.2}))
    line = json.dumps({"file": "docs/a.pdf", "data": {"total": 8.2}}) + "\n"
    (tmp_path / "pred.jsonl").write_text(line)
    from_file = cli("eval", str(tmp_path / "pred.jsonl"), "--gold", str(gold), "--format", "json")
    piped = cli("eval", "-", "--gold", str(gold), "--format", "json", stdin=line)
    assert piped.exit_code == 0, piped.stderr
    assert json.loads(piped.stdout) == json.loads(from_file.stdout)
    assert json.loads(piped.stdout)["documents"] == 1
    bad = cli("eval", "-", "--gold", str(gold), stdin="{not json\n")
    assert bad.exit_code == 2 and bad.stderr.startswith("qvl: error: stdin:1: not valid JSON")
