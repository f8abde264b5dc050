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

Top-level settings (``model``, ``revision``, ``quant``, ``dtype``, ``device``, ``backend``,
``min_pixels``, ``max_pixels``, ``max_total_pixels``, ``max_new_tokens``, ``prompt``) are defaults
that a rule may override.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qvl_cli.errors import QvlError

CONFIG_FILES = (".qvl.toml", "pyproject.toml")
SETTING_TYPES: dict[str, type | tuple[type, ...]] = {
    "model": str,
    "revision": str,
    "quant": str,
    "dtype": str,
    "device": str,
    "backend": str,
    "prompt": str,
    "min_pixels": int,
    "max_pixels": int,
    "max_total_pixels": int,
    "max_new_tokens": int,
}
RULE_TYPES: dict[str, type | tuple[type, ...]] = {
    "files": list,
    "schema": str,
    "required": list,
    "min_confidence": (int, float),
    "constraints": dict,
    "grounded": bool,
    **SETTING_TYPES,
}


class ConfigError(QvlError):
    """The check configuration is missing or wrong."""

    kind = "config"


@dataclass(frozen=True)
class Rule:
    """Which documents, which schema, and what must hold for them."""

    files: tuple[str, ...]
    schema: str
    required: tuple[str, ...] = ()
    min_confidence: float | None = None
    constraints: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    grounded: bool = False  # every extracted value must be found in the document

    def matches(self, relative: str) -> bool:
        return any(_glob_match(relative, pattern) for pattern in self.files)


@dataclass(frozen=True)
class CheckConfig:
    """The rules and the folder their globs and schema paths are relative to."""

    root: Path
    source: Path
    rules: tuple[Rule, ...]

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


def _glob_match(path: str, pattern: str) -> bool:
    """``fnmatch`` with ``**/`` also matching no folder at all, as in git and pre-commit."""
    if fnmatch.fnmatch(path, pattern):
        return True
    return "**/" in pattern and fnmatch.fnmatch(path, pattern.replace("**/", ""))


def find_config(start: Path, explicit: Path | None = None) -> CheckConfig:
    """Load ``explicit``, or the nearest ``.qvl.toml`` / ``pyproject.toml`` with ``[tool.qvl]``."""
    if explicit is not None:
        return load_config(explicit)
    for folder in (start.resolve(), *start.resolve().parents):
        for name in CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file() and (name != "pyproject.toml" or "qvl" in _read(candidate).get("tool", {})):
                return load_config(candidate)
    raise ConfigError(
        "no qvl configuration found",
        hint="add [tool.qvl] rules to pyproject.toml or a .qvl.toml file (see README: Checks in pre-commit and CI)",
    )


def load_config(path: Path) -> CheckConfig:
    table = _read(path)
    if path.name == "pyproject.toml":
        table = table.get("tool", {}).get("qvl")
        if not isinstance(table, dict):
            raise ConfigError("has no [tool.qvl] table", path=path)
    defaults = _settings(table, path, "")
    raw_rules = table.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise ConfigError("needs at least one [[rules]] entry (key 'rules')", path=path)
    rules = tuple(_rule(raw, index, defaults, path) for index, raw in enumerate(raw_rules))
    return CheckConfig(path.parent, path, rules)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror or exc}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"is not valid TOML: {exc}", path=path) from None


def _settings(table: dict[str, Any], path: Path, prefix: str) -> dict[str, Any]:
    settings = {}
    for key, expected in SETTING_TYPES.items():
        if key in table:
            settings[key] = _typed(table[key], expected, f"{prefix}{key}", path)
    return settings


def _rule(raw: Any, index: int, defaults: dict[str, Any], path: Path) -> Rule:
    where = f"rules[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table", path=path)
    unknown = sorted(set(raw) - set(RULE_TYPES))
    if unknown:
        raise ConfigError(f"{where} has unknown key '{unknown[0]}'", path=path, hint=f"known: {', '.join(RULE_TYPES)}")
    for key in ("files", "schema"):
        if key not in raw:
            raise ConfigError(f"{where} is missing the key '{key}'", path=path)
    for key, expected in RULE_TYPES.items():
        if key in raw:
            _typed(raw[key], expected, f"{where}.{key}", path)
    files = tuple(str(pattern) for pattern in raw["files"])
    required = tuple(str(name) for name in raw.get("required", ()))
    confidence = raw.get("min_confidence")
    if confidence is not None and not 0 <= confidence <= 1:
        raise ConfigError(f"{where}.min_confidence must be between 0 and 1", path=path)
    settings = defaults | _settings(raw, path, f"{where}.")
    return Rule(
        files, raw["schema"], required, confidence, raw.get("constraints", {}), settings, raw.get("grounded", False)
    )


def _typed(value: Any, expected: type | tuple[type, ...], key: str, path: Path) -> Any:
    if (isinstance(value, bool) and expected is not bool) or not isinstance(value, expected):
        names = " or ".join(t.__name__ for t in (expected if isinstance(expected, tuple) else (expected,)))
        raise ConfigError(f"key '{key}' must be {names}, got {type(value).__name__}", path=path)
    return value
