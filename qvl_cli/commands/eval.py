"""``qvl eval``: field-level precision, recall, F1 and exact match of extractions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from qvl_cli.evaluation.goldsets import Adapter, GoldError, load_adapter, load_gold
from qvl_cli.evaluation.scoring import CompareOptions, Evaluation, compare_documents
from qvl_cli.wording import plural

BUILTIN_ADAPTERS = ("invoice2data", "sroie")
TAKES = "qvl eval takes the JSON Lines written by `qvl extract -o`"


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file of predictions (``-``: stdin); a folder, a file that is
    not text records or a line that is not JSON is an error naming it."""
    from dataclasses import replace

    from qvl_cli.runs.sources import RECORDS, parse_json_lines, read_input, source_name

    expected = replace(RECORDS, takes=TAKES)
    data = read_input(path, expected, stdin=True)
    return [record for _, record in parse_json_lines(data, source_name(str(path)), expected)]


def evaluate_predictions(
    predictions: list[dict[str, Any]], gold: dict[str, Any], adapter: Adapter | None, options: CompareOptions
) -> tuple[Evaluation, list[str]]:
    """Score every prediction that has gold; also return the names that had none."""
    result = Evaluation()
    missing = []
    for record in predictions:
        name = Path(str(record.get("file", ""))).stem
        if name not in gold:
            missing.append(name)
            continue
        expected, data = gold[name], record.get("data")
        if adapter is not None:
            expected, data = adapter.gold(expected), adapter.predicted(data)
        compare_documents(expected, data, options, name, result)
    return result, missing


def unmatched_error(predictions: Path, gold: Path, names: list[str], gold_names: list[str]) -> GoldError:
    """Nothing was scored: say which names were looked for and which the gold has."""
    looked = ", ".join(f"{name}.json" for name in names[:5]) + (", ..." if len(names) > 5 else "")
    if not names:
        return GoldError("has no predictions to score", path=predictions)
    have = ", ".join(gold_names[:5]) + (", ..." if len(gold_names) > 5 else "") if gold_names else "nothing"
    return GoldError(
        f"no prediction has gold to compare with: looked for {looked} in {gold} (gold has {have})",
        hint="gold files are matched by the file stem of each prediction's 'file'",
    )


def never_matching_keys(predictions: list[dict[str, Any]], gold: dict[str, Any], names: set[str]) -> list[str]:
    """Top-level gold keys that no prediction has (a gold format without its --adapter)."""
    gold_keys: set[str] = set()
    for name in names:
        value = gold[name]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                gold_keys |= set(item)
    predicted_keys: set[str] = set()
    for record in predictions:
        if isinstance(record.get("data"), dict):
            predicted_keys |= set(record["data"])
    return sorted(gold_keys - predicted_keys)


def adapter_hint(keys: list[str]) -> str:
    """Which built-in adapter maps these gold keys, if one does."""
    for name in BUILTIN_ADAPTERS:
        if set(keys) & set(load_adapter(name).fields.values()):
            return f"pass --adapter {name}"
    return "pass --adapter with a mapping file"


def run_eval(
    predictions: Path, gold: Path, adapter: str | None, tolerance: float, similarity: float, as_json: bool, diff: bool
) -> int:
    options = CompareOptions(tolerance=tolerance, similarity=similarity)
    chosen = load_adapter(adapter) if adapter else None
    records, gold_values = read_predictions(predictions), load_gold(gold)
    result, missing = evaluate_predictions(records, gold_values, chosen, options)
    if result.documents == 0:
        names = [Path(str(record.get("file", ""))).stem for record in records]
        raise unmatched_error(predictions, gold, names, sorted(gold_values))
    if missing:
        sys.stderr.write(f"qvl: skipped {plural(len(missing), 'prediction')} without gold: {', '.join(missing[:5])}\n")
    if chosen is None:
        scored = {Path(str(r.get("file", ""))).stem for r in records} & set(gold_values)
        never = never_matching_keys(records, gold_values, scored)
        if never:
            sys.stderr.write(
                f"qvl: warning: gold keys never found in any prediction: {', '.join(never[:8])} "
                f"({adapter_hint(never)} to map a gold format onto the schema)\n"
            )
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(with_differences=diff), ensure_ascii=False, indent=2) + "\n")
    else:
        print_table(result, diff)
    return 0


def print_table(result: Evaluation, diff: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from qvl_cli.widths import stdout_console

    table = Table(title=plural(result.documents, "document"), title_justify="left")
    for column in ("field", "TP", "FP", "FN", "precision", "recall", "F1", "exact"):
        table.add_column(column, justify="left" if column == "field" else "right")

    def row(name: str, score: Any, style: str | None = None) -> None:
        numbers = (score.precision, score.recall, score.f1, score.exact_match)
        table.add_row(name, str(score.tp), str(score.fp), str(score.fn), *map(ratio, numbers), style=style)

    for name, score in sorted(result.fields.items()):
        row(name, score)
    row("overall", result.overall(), style="bold")
    console = stdout_console(table)
    console.print(table)
    exact = result.exact_documents / result.documents if result.documents else None
    console.print(f"documents entirely correct: {result.exact_documents}/{result.documents} ({ratio(exact)})")
    if diff:
        for name, differences in result.differences.items():
            console.print(f"[bold]{escape(name)}[/]", highlight=False, soft_wrap=True)
            for d in differences:
                line = f"  {d.pointer}: gold {d.gold!r}, predicted {d.predicted!r}"
                console.print(line, highlight=False, markup=False, soft_wrap=True)  # one line each


def ratio(value: float | None) -> str:
    """A score with three decimals, or ``n/a`` where it is undefined (nothing to divide by)."""
    return "n/a" if value is None else f"{value:.3f}"
