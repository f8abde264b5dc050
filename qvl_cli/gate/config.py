"""Document check rules from ``[tool.qvl]`` in ``pyproject.toml`` or from ``.qvl.toml``.

```toml
[tool.qvl]                      # in .qvl.toml: top-level keys, without this header
model = "Qwen/Qwen2-VL-2B-Instruct"
max_pixels = 1003520

[[tool.qvl.rules]]
files = ["invoices/**/*.pdf"]   # globs relative to the configuration file's folder
schema = "invoice"              # built-in name or a path relative to that folder
required = ["invoice_number", "total"]
min_confidence = 0.5
grounded = true                 # every extracted value must be printed in the document
constraints = { properties = { total = { exclusiveMinimum = 0 } } }   # extra JSON Schema
```

Top-level keys are settings (any of :mod:`qvl_cli.settings`: model, backend, base_url, budgets,
decoding...) that a rule may override; they are checked when the file is loaded, and a bad one
is reported with its key (``.qvl.toml: rules[0].dtype: ...``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qvl_cli.settings import Layer, Settings, SettingsError, build_settings, file_layer, find_config_file, qvl_table
from qvl_cli.settings.layers import display_path

ConfigError = SettingsError
RULE_TYPES: dict[str, type | tuple[type, ...]] = {
    "files": list,
    "schema": str,
    "required": list,
    "constraints": dict,
    "grounded": bool,
}


@dataclass(frozen=True)
class Rule:
    """Which documents, which schema, and what must hold for them."""

    files: tuple[str, ...]
    schema: str
    required: tuple[str, ...] = ()
    min_confidence: float | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    settings: Layer = field(default_factory=Layer)  # the rule's own settings (over the top level)
    grounded: bool = False  # every extracted value must be found in the document

    def matches(self, relative: str) -> bool:
        return any(_glob_match(relative, pattern) for pattern in self.files)


@dataclass(frozen=True)
class CheckConfig:
    """The rules and the folder their globs and schema paths are relative to."""

    root: Path
    source: Path
    rules: tuple[Rule, ...]
    defaults: Layer = field(default_factory=Layer)  # top-level settings

    def rule_for(self, document: Path) -> Rule | None:
        """The first rule whose globs match the document, or ``None``."""
        try:
            relative = document.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            relative = document.as_posix()
        return next((rule for rule in self.rules if rule.matches(relative)), None)

    def schema_ref(self, rule: Rule) -> str:
        """A built-in name as is; a schema file path resolved against the configuration folder."""
        candidate = self.root / rule.schema
        return str(candidate) if candidate.suffix or candidate.exists() else rule.schema

    def settings(self, rule: Rule, *later: Layer) -> Settings:
        """A rule's settings: defaults < top level < the rule < ``later`` (environment, flags)."""
        return build_settings(self.defaults, rule.settings, *later)


def _glob_match(path: str, pattern: str) -> bool:
    """``fnmatch`` with ``**/`` also matching no folder at all, as in git and pre-commit."""
    if fnmatch.fnmatch(path, pattern):
        return True
    return "**/" in pattern and fnmatch.fnmatch(path, pattern.replace("**/", ""))


def find_config(start: Path, explicit: Path | None = None) -> CheckConfig:
    """Load ``explicit``, or the nearest ``.qvl.toml`` / ``pyproject.toml`` with ``[tool.qvl]``."""
    path = explicit or find_config_file(start)
    if path is None:
        raise ConfigError(
            "no qvl configuration found",
            hint="add [tool.qvl] rules to pyproject.toml or a .qvl.toml file (see README: Checks in pre-commit and CI)",
        )
    return load_config(path)


def load_config(path: Path) -> CheckConfig:
    table = qvl_table(path)
    source = display_path(path)
    defaults = file_layer(table, source, ignore=("rules",))
    raw_rules = table.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError("needs at least one [[rules]] entry (key 'rules')", path=source)
    rules = tuple(_rule(raw, index, defaults, source) for index, raw in enumerate(raw_rules))
    return CheckConfig(path.parent, path, rules, defaults)


def _rule(raw: Any, index: int, defaults: Layer, source: str) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table", path=source)
    for key in ("files", "schema"):
        if key not in raw:
            raise ConfigError(f"{where} is missing the key '{key}'", path=source)
    for key, expected in RULE_TYPES.items():
        if key in raw:
            _typed(raw[key], expected, f"{where}.{key}", source)
    layer = file_layer(raw, source, prefix=f"{where}.", ignore=tuple(RULE_TYPES))
    settings = build_settings(defaults, layer)  # every value checked now, naming its key
    files = tuple(str(pattern) for pattern in raw["files"])
    required = tuple(str(name) for name in raw.get("required", ()))
    confidence = settings.decoding.min_confidence
    grounded = bool(raw.get("grounded", False))
    return Rule(files, raw["schema"], required, confidence, raw.get("constraints", {}), layer, grounded)


def _typed(value: Any, expected: type | tuple[type, ...], key: str, source: str) -> Any:
    if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise ConfigError(f"must be {names}, got {type(value).__name__}", where=f"{source}: {key}")
    return value
