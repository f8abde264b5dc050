"""``qvl eval``: field-level precision, recall, F1 and exact match of extractions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from qvl_cli.evaluation.goldsets import Adapter, GoldError, load_adapter, load_gold
from qvl_cli.evaluation.scoring import CompareOptions, Evaluation, compare_documents


def read_predictions(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise GoldError(f"cannot read predictions: {exc.strerror or exc}", path=path) from None
    records = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise GoldError(f"line {number} is not valid JSON: {exc}", path=path) from None
    return records


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


def run_eval(
    predictions: Path, gold: Path, adapter: str | None, tolerance: float, similarity: float, as_json: bool, diff: bool
) -> int:
    options = CompareOptions(tolerance=tolerance, similarity=similarity)
    chosen = load_adapter(adapter) if adapter else None
    result, missing = evaluate_predictions(read_predictions(predictions), load_gold(gold), chosen, options)
    if missing:
        sys.stderr.write(f"qvl: {len(missing)} predictions have no gold and were skipped: {', '.join(missing[:5])}\n")
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(with_differences=diff), ensure_ascii=False, indent=2) + "\n")
    else:
        print_table(result, diff)
    return 0


def print_table(result: Evaluation, diff: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.documents} documents", title_justify="left")
    for column in ("field", "TP", "FP", "FN", "precision", "recall", "F1", "exact"):
        table.add_column(column, justify="left" if column == "field" else "right")

    def row(name: str, score: Any, style: str | None = None) -> None:
        numbers = (score.precision, score.recall, score.f1, score.exact_match)
        table.add_row(name, str(score.tp), str(score.fp), str(score.fn), *(f"{n:.3f}" for n in numbers), style=style)

    for name, score in sorted(result.fields.items()):
        row(name, score)
    row("overall", result.overall(), style="bold")
    console = Console()
    console.print(table)
    exact = result.exact_documents / result.documents if result.documents else 1.0
    console.print(f"documents entirely correct: {result.exact_documents}/{result.documents} ({exact:.3f})")
    if diff:
        for name, differences in result.differences.items():
            console.print(f"[bold]{name}[/]", highlight=False)
            for d in differences:
                line = f"  {d.pointer}: gold {d.gold!r}, predicted {d.predicted!r}"
                console.print(line, highlight=False, markup=False)
