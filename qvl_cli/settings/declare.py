"""Declaring a setting once: its type and default (a dataclass field), and with them its
environment variable, flag, choices or range, and help text.

``setting(default, ...)`` is used in place of a dataclass default; :func:`declared` reads the
declarations back, and :func:`parse_text` / :func:`check_value` turn a value from any source
into a checked Python value, or raise :class:`SettingsError` with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from qvl_cli.errors import QvlError

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false", Path: "a path"}


class SettingsError(QvlError):
    """A setting's value does not fit its declaration (exit 2).

    ``reason`` says what is wrong with the value; ``where`` names its source and key
    (``.qvl.toml: rules[0].dtype``, ``QVL_DTYPE``, ``--dtype``), else ``key`` the setting.
    """

    kind = "config"

    def __init__(
        self,
        reason: str,
        key: str | None = None,
        where: str | None = None,
        *,
        path: str | Path | None = None,
        hint: str | None = None,
        refers: tuple[str, ...] = (),
        labels: Mapping[str, str] | None = None,
        converse: tuple[str, str] | None = None,
    ):
        self.template = reason
        self.refers = refers  # other settings the reason names: ``{name}`` fields in ``reason``
        # A conflict between ``key`` and another setting, said from the other one's side:
        # ``(its name, reason)``, the reason naming ``key`` as ``{key}``.
        self.converse = converse
        self.reason = reason.format_map({name: (labels or {}).get(name, name) for name in refers}) if refers else reason
        self.key = key
        self.where = where
        label = where or key
        super().__init__(f"{label}: {self.reason}" if label else self.reason, path=path, hint=hint)

    def at(self, where: str, labels: Mapping[str, str] | None = None) -> SettingsError:
        """The same problem, naming the source of the value (and as ``labels`` say, of the
        other settings its reason names)."""
        return SettingsError(
            self.template, self.key, where, hint=self.hint, refers=self.refers, labels=labels, converse=self.converse
        )

    def conversely(self) -> SettingsError:
        """The same conflict said from the other setting's side (itself when it has no other side)."""
        if self.converse is None or self.key is None:
            return self
        other, reason = self.converse
        return SettingsError(reason, other, hint=self.hint, refers=(self.key,), converse=(self.key, self.template))


@dataclass(frozen=True)
class Spec:
    """Everything about a setting besides its type and default."""

    help: str
    panel: str
    env: str | None = None
    flags: tuple[str, ...] = ()  # default: ("--name-with-dashes",); bools get "--no-..." too
    choices: tuple[str, ...] = ()
    minimum: float | None = None  # the least value allowed
    maximum: float | None = None
    more_than: float | None = None  # values must be more than this (a timeout of 0 s is no timeout)
    unit: str | None = None  # the unit values are in ("seconds"), for messages
    metavar: str | None = None
    in_file: bool = True  # may be set in .qvl.toml / [tool.qvl]
    negative: str | None = None  # bool flags: the flag that turns it off


def setting(default: Any, help: str, panel: str, *, secret: bool = False, **spec: Any) -> Any:
    """A dataclass field with its declaration attached (a ``secret`` is left out of ``repr``)."""
    return dataclasses.field(default=default, repr=not secret, metadata={"qvl": Spec(help, panel, **spec)})


@dataclass(frozen=True)
class Declared:
    """One declared setting, resolved: where it lives and what values it takes."""

    name: str
    record: type
    kind: type  # str, int, float, bool or Path
    optional: bool  # None is a value (for example "derived from the schema")
    default: Any
    spec: Spec

    @property
    def flag(self) -> str:
        return self.spec.flags[0] if self.spec.flags else "--" + self.name.replace("_", "-")

    @property
    def negative_flag(self) -> str:
        return self.spec.negative or "--no-" + self.flag.removeprefix("--")

    def describe(self) -> str:
        """What values it takes, for help and error messages."""
        if self.spec.choices:
            return " | ".join(self.spec.choices)
        return _TYPE_NAMES[self.kind]


def declared(record: type) -> tuple[Declared, ...]:
    """The declared settings of a settings record, in field order."""
    return _declared(record)


@cache
def _declared(record: type) -> tuple[Declared, ...]:
    hints = typing.get_type_hints(record)
    found = []
    for f in dataclasses.fields(record):
        spec = f.metadata.get("qvl")
        if isinstance(spec, Spec):
            kind, optional = _split_optional(hints[f.name])
            found.append(Declared(f.name, record, kind, optional, f.default, spec))
    return tuple(found)


def _split_optional(hint: Any) -> tuple[type, bool]:
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union else ()
    if args:
        kinds = [arg for arg in args if arg is not type(None)]
        return kinds[0], len(kinds) < len(args)
    return hint, False


def parse_text(setting: Declared, text: str) -> Any:
    """A value given as text (environment, command line), converted and checked."""
    kind = setting.kind
    stripped = text.strip()
    if setting.optional and stripped.lower() in ("", "none"):
        return None
    try:
        if kind is bool:
            if stripped.lower() not in TRUE | FALSE:
                raise ValueError
            value: Any = stripped.lower() in TRUE
        elif kind is int:
            value = int(stripped)
        elif kind is float:
            value = float(stripped)
        elif kind is Path:
            value = Path(text)
        else:
            value = text
    except ValueError:
        raise SettingsError(f"{text!r} is not {_TYPE_NAMES[kind]}") from None
    return check_value(setting, value, shown=stripped)


def check_value(setting: Declared, value: Any, shown: str | None = None) -> Any:
    """A typed value (from a file, or a record being built) checked against its declaration;
    ``shown`` is the value as the user wrote it, for messages (default: its ``repr``)."""
    if value is None:
        if setting.optional:
            return None
        raise SettingsError(f"must be {setting.describe()}, not empty")
    kind = setting.kind
    given = value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is Path and isinstance(value, str):
        value = Path(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise SettingsError(f"must be {_TYPE_NAMES[kind]}, got {_toml_type(value)} {value!r}")
    _check_range(setting.spec, value, given, shown)
    return value


def _check_range(spec: Spec, value: Any, given: Any, shown: str | None) -> None:
    if spec.choices and value not in spec.choices:
        raise SettingsError(f"{given!r} is not one of {', '.join(spec.choices)}")
    if spec.minimum is not None and value < spec.minimum:
        raise SettingsError(f"{given!r} is less than the minimum {spec.minimum:g}")
    if spec.more_than is not None and value <= spec.more_than:
        unit = f" {spec.unit}" if spec.unit else ""
        raise SettingsError(f"{shown or repr(given)} must be more than {spec.more_than:g}{unit}")
    if spec.maximum is not None and value > spec.maximum:
        raise SettingsError(f"{given!r} is more than the maximum {spec.maximum:g}")


def check_record(record: Any) -> None:
    """Check every declared field of a record (called from its ``__post_init__``)."""
    for setting in declared(type(record)):
        try:
            check_value(setting, getattr(record, setting.name))
        except SettingsError as exc:
            raise SettingsError(exc.reason, key=setting.name) from None


def _toml_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}
    return names.get(type(value), type(value).__name__)
