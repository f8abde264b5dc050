"""Ground truth for ``qvl eval``: a folder of ``<name>.json`` or a JSONL, mapped by an adapter.

An adapter is a small JSON file naming, for each field of qvl's schema (a JSON Pointer), the key
of the gold format that holds it; ``first_of_list`` takes the first element of a gold file that
is a list. Built-ins: ``sroie`` and ``invoice2data``; any other value is a path to such a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qvl_cli.errors import QvlError
from qvl_cli.runs.sources import Expected
from qvl_cli.schemas import pointers


class GoldError(QvlError):
    kind = "gold"


@dataclass(frozen=True)
class Adapter:
    name: str
    fields: dict[str, str]  # qvl pointer -> gold key
    first_of_list: bool = False

    def gold(self, raw: Any) -> dict[str, Any]:
        """The gold record in qvl's shape, holding only the mapped fields."""
        if self.first_of_list and isinstance(raw, list):
            raw = raw[0] if raw else {}
        source = raw if isinstance(raw, dict) else {}
        return _nest({pointer: source.get(key) for pointer, key in self.fields.items()})

    def predicted(self, data: Any) -> dict[str, Any]:
        """The prediction reduced to the mapped fields."""
        return _nest({pointer: pointers.resolve(data, pointer)[1] for pointer in self.fields})


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for pointer, value in flat.items():
        parts = pointers.split(pointer)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


ADAPTERS = Path(__file__).parent / "adapters"
ADAPTER_HINT = "a mapping file is JSON with 'fields': a map from qvl's JSON Pointers to the gold format's keys"
ADAPTER_FILE = Expected("adapter", "an adapter mapping file", ADAPTER_HINT, GoldError)
GOLD = Expected("gold", "gold data", "give JSON or JSON Lines saved as UTF-8", GoldError)


def builtin_adapters() -> list[str]:
    """The names of the built-in adapters (``invoice2data``, ``sroie``)."""
    return sorted(path.stem for path in ADAPTERS.glob("*.json"))


def load_adapter(ref: str) -> Adapter:
    """A built-in adapter by name, or a mapping file by path; anything else is a :class:`GoldError`
    that lists the built-ins."""
    from qvl_cli.runs.sources import parse_json, read_input

    names = builtin_adapters()
    path = ADAPTERS / f"{ref}.json" if ref in names else Path(ref)
    if not path.is_file():
        known = ", ".join(names)
        if path.is_dir():
            raise GoldError(f"--adapter {ref!r} is a folder, not a mapping file", hint=f"built-in adapters: {known}")
        raise GoldError(
            f"--adapter {ref!r} is neither a built-in adapter ({known}) nor a mapping file", hint=ADAPTER_HINT
        )
    spec = parse_json(read_input(path, ADAPTER_FILE), str(path), ADAPTER_FILE)
    fields = spec.get("fields") if isinstance(spec, dict) else None
    if not isinstance(fields, dict) or not all(isinstance(k, str) and k.startswith("/") for k in fields):
        raise GoldError(f"adapter {ref!r} needs 'fields': a map from JSON Pointers to gold keys", path=path)
    return Adapter(path.stem, {k: str(v) for k, v in fields.items()}, bool(spec.get("first_of_list")))


def load_gold(source: Path) -> dict[str, Any]:
    """Gold values by document name (file stem)."""
    from qvl_cli.runs.sources import parse_json, parse_json_lines, read_input

    if source.is_dir():
        return {
            path.stem: parse_json(read_input(path, GOLD), str(path), GOLD) for path in sorted(source.glob("*.json"))
        }
    gold = {}
    for number, record in parse_json_lines(read_input(source, GOLD), str(source), GOLD):
        if not isinstance(record, dict) or "file" not in record:
            raise GoldError(f"line {number} needs a 'file' key", path=source)
        gold[Path(str(record["file"])).stem] = record.get("data", {k: v for k, v in record.items() if k != "file"})
    return gold
