"""One builder for every command: defaults < configuration file < environment < command line.

Each layer maps setting names to values and says how its source names each one, so a bad value
is reported as ``.qvl.toml: rules[0].dtype: ...``, ``QVL_DTYPE: ...`` or ``--dtype: ...``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from qvl_cli.settings.declare import Declared, SettingsError, check_value, declared, parse_text
from qvl_cli.settings.records import RECORDS, Settings

CONFIG_FILES = (".qvl.toml", "pyproject.toml")


@dataclass(frozen=True)
class Layer:
    """Values from one source, by setting name, and how that source names each (for errors)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    text: bool = False  # values are text to convert (environment, command line)

    def only(self, names: Collection[str]) -> Layer:
        """The same layer without the settings a command does not use."""
        kept = {name: value for name, value in self.values.items() if name in names}
        return Layer(kept, {name: self.names[name] for name in kept if name in self.names}, self.text)


@cache
def all_settings() -> dict[str, Declared]:
    """Every declared setting by name."""
    return {setting.name: setting for record in RECORDS.values() for setting in declared(record)}


def build_settings(*layers: Layer) -> Settings:
    """Defaults, then each layer over the previous ones; every value checked, naming its source."""
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    settings = all_settings()
    for layer in layers:
        for name, raw in layer.values.items():
            label = layer.names.get(name, name)
            try:
                values[name] = parse_text(settings[name], raw) if layer.text else check_value(settings[name], raw)
            except SettingsError as exc:
                raise exc.at(label) from None
            where[name] = label
    records = {}
    for group, record in RECORDS.items():
        mine = {s.name: values[s.name] for s in declared(record) if s.name in values}
        try:
            records[group] = record(**mine)
        except SettingsError as exc:
            raise _as_set(exc, where) from None
    built = Settings(**records)
    _check_render_timeout(built, where)
    return built


def _as_set(exc: SettingsError, where: Mapping[str, str]) -> SettingsError:
    """The problem named as the user set it: at its setting's source, or, when only the other
    setting of a conflict was set, said from that one's side; a setting left at its default is
    named as a flag."""
    if exc.key not in where and exc.converse is not None and exc.converse[0] in where:
        exc = exc.conversely()
    if exc.key is None:
        return exc
    return exc.at(where.get(exc.key) or all_settings()[exc.key].flag, _labels(exc, where))


def _labels(exc: SettingsError, where: Mapping[str, str]) -> dict[str, str]:
    """How to name the other settings a problem names: by their source, else (a default) as the
    setting itself is named (a flag on the command line, a key in the Python API)."""
    keyed = exc.key is not None and where.get(exc.key) == exc.key
    settings = all_settings()
    return {name: where.get(name) or (name if keyed else settings[name].flag) for name in exc.refers}


def _check_render_timeout(settings: Settings, where: Mapping[str, str]) -> None:
    """A render timeout given for pages rendered in the qvl process, which it cannot stop, is refused."""
    render = settings.render
    if render.render_workers == 0 and render.render_timeout and "render_timeout" in where:
        workers = where.get("render_workers", "render_workers")
        raise SettingsError(
            f"{render.render_timeout:g} s cannot apply with {{render_workers}} 0: a page rendered in the qvl"
            " process cannot be stopped",
            where=where["render_timeout"],
            hint=f"set {workers} to 1 or more, or {where['render_timeout']} to 0 for no limit",
            refers=("render_workers",),
            labels={"render_workers": workers},
        )


def file_layer(table: Mapping[str, Any], source: str, prefix: str = "", ignore: Collection[str] = ()) -> Layer:
    """The settings in a configuration table; any other key (besides ``ignore``) is an error."""
    settings = all_settings()
    values, names = {}, {}
    for key, value in table.items():
        if key in ignore:
            continue
        setting = settings.get(key)
        if setting is not None and not setting.spec.in_file:
            ways = " or ".join(filter(None, (f"pass {setting.flag}", setting.spec.env and f"set {setting.spec.env}")))
            raise SettingsError("is not allowed in a configuration file", where=f"{source}: {prefix}{key}", hint=ways)
        if setting is None:
            known = ", ".join([*ignore, *(name for name, s in settings.items() if s.spec.in_file)])
            raise SettingsError("unknown key", where=f"{source}: {prefix}{key}", hint=f"known: {known}")
        values[key] = value
        names[key] = f"{source}: {prefix}{key}"
    return Layer(values, names)


def env_layer(environ: Mapping[str, str] | None = None, only: Iterable[str] | None = None) -> Layer:
    """The settings given by environment variables (empty ones count as unset)."""
    environ = os.environ if environ is None else environ
    chosen = all_settings() if only is None else {name: all_settings()[name] for name in only}
    values, names = {}, {}
    for name, setting in chosen.items():
        variable = setting.spec.env
        if variable and environ.get(variable, "").strip():
            values[name] = environ[variable]
            names[name] = variable
    return Layer(values, names, text=True)


def flag_layer(given: Mapping[str, Any]) -> Layer:
    """Values given on the command line (as text, or booleans for on/off flags)."""
    settings = all_settings()
    texts = {name: value if isinstance(value, str) else str(value).lower() for name, value in given.items()}
    return Layer(texts, {name: settings[name].flag for name in given}, text=True)


def command_settings(flags: Layer, start: Path | None = None, records: Collection[type] | None = None) -> Settings:
    """The settings of a command run in ``start``: the nearest configuration file's top level,
    then the environment, then ``flags``; only the settings of ``records`` are read."""
    names = {s.name for record in (records or RECORDS.values()) for s in declared(record)}
    config = config_layer(find_config_file(start or Path.cwd()))
    return build_settings(config.only(names), env_layer(only=names), flags.only(names))


# configuration files ---------------------------------------------------------------------------


def find_config_file(start: Path) -> Path | None:
    """The nearest ``.qvl.toml``, or ``pyproject.toml`` with a ``[tool.qvl]`` table, at or above ``start``."""
    for folder in (start.resolve(), *start.resolve().parents):
        for name in CONFIG_FILES:
            candidate = folder / name
            if candidate.is_file() and (name != "pyproject.toml" or "qvl" in read_toml(candidate).get("tool", {})):
                return candidate
    return None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsError(f"cannot read configuration: {exc.strerror or exc}", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"is not valid TOML: {exc}", path=path) from None


def qvl_table(path: Path) -> dict[str, Any]:
    """The qvl table of a configuration file: a ``.qvl.toml`` whole, or ``[tool.qvl]``."""
    table = read_toml(path)
    if path.name == "pyproject.toml":
        table = table.get("tool", {}).get("qvl")
        if not isinstance(table, dict):
            raise SettingsError("has no [tool.qvl] table", path=path)
    elif isinstance(table.get("tool"), dict) and isinstance(table["tool"].get("qvl"), dict) and "rules" not in table:
        table = table["tool"]["qvl"]  # the pyproject.toml form pasted into .qvl.toml means the same
    return table


def display_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (for messages)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def config_layer(path: Path | None, ignore: Collection[str] = ("rules",)) -> Layer:
    """The top-level settings of a configuration file (none when there is no file)."""
    if path is None:
        return Layer()
    return file_layer(qvl_table(path), display_path(path), ignore=ignore)
