"""Validate extracted data against its JSON Schema (formats such as ``date`` checked)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qvl_cli.schemas import pointers
from qvl_cli.schemas.catalog import Schema


@dataclass(frozen=True)
class Issue:
    """One validation problem: a JSON Pointer into the data and a message."""

    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


Validator = Callable[[Any], list[Issue]]


def make_validator(schema: Schema) -> Validator:
    """A function returning every issue of a value, sorted by location."""
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    cls = validator_for(schema.document, default=Draft202012Validator)
    validator = cls(schema.document, format_checker=cls.FORMAT_CHECKER)

    def validate(data: Any) -> list[Issue]:
        errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
        return [Issue(pointers.join(e.absolute_path), e.message) for e in errors]

    return validate
