"""A schema-aware scanner for JSON text that may stop anywhere.

One pass over the text gives the character span of every leaf value, so per-field confidence can
be computed from the tokens that wrote it, and a state (open containers, the value being written,
each with its path and schema) from which :mod:`qvl_cli.answers.jsonclose` closes a prefix that
was cut short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from qvl_cli.schemas import pointers
from qvl_cli.schemas.navigation import (
    SchemaNode,
    branch_of_kind,
    item_schema,
    property_schema,
)

WHITESPACE = " \t\n\r"
NUMBER_CHARS = "0123456789+-.eE"
LITERALS = ("true", "false", "null")


class ScanError(ValueError):
    """The text is not a prefix of a JSON value."""


@dataclass(frozen=True)
class Leaf:
    """A scalar (or empty container) and where its text lies."""

    pointer: str
    start: int
    end: int


@dataclass
class Frame:
    """An open object or array."""

    kind: str  # "object" or "array"
    schema: SchemaNode
    path: tuple[str | int, ...]
    start: int
    state: str  # object: first|key|colon|value|next; array: first|value|next
    keys: list[str] = field(default_factory=list)
    items: int = 0


@dataclass
class Scalar:
    """A string, number or literal being read."""

    kind: str  # "string", "number" or "literal"
    start: int
    is_key: bool = False
    text: list[str] = field(default_factory=list)
    escape: str = ""  # pending escape: "\\" or "\\u" plus hex digits read so far


class JsonScanner:
    """Scan JSON text against a schema; see :func:`scan`."""

    def __init__(self, schema: SchemaNode | None = None, separators: tuple[str, str] = (", ", ": ")):
        self.root: SchemaNode = schema if isinstance(schema, dict) else {}
        self.item_separator, self.key_separator = separators
        self.stack: list[Frame] = []
        self.scalar: Scalar | None = None
        self.leaves: list[Leaf] = []
        self.done = False
        self.position = 0
        self.whitespace = ""  # written since the last structural character

    # Scanning --------------------------------------------------------------------------------

    def feed(self, text: str) -> None:
        for char in text:
            self._char(char)
            self.position += 1

    def _char(self, char: str) -> None:
        scalar = self.scalar
        if scalar is not None:
            if scalar.kind == "string":
                self._string_char(scalar, char)
                return
            if scalar.kind == "number" and char in NUMBER_CHARS:
                scalar.text.append(char)
                return
            if scalar.kind == "literal":
                self._literal_char(scalar, char)
                return
            self._finish_scalar(self.position)
        if char in WHITESPACE:
            self.whitespace += char
            return
        self.whitespace = ""
        if self.done:
            raise ScanError(f"unexpected {char!r} after the end of the JSON value")
        self._structural(char)

    def _string_char(self, scalar: Scalar, char: str) -> None:
        if scalar.escape:
            scalar.escape += char
            if scalar.escape.startswith("\\u") and len(scalar.escape) < 6:
                return
            scalar.text.append(json.loads(f'"{scalar.escape}"'))
            scalar.escape = ""
        elif char == "\\":
            scalar.escape = "\\"
        elif char == '"':
            self._finish_scalar(self.position + 1)
        else:
            scalar.text.append(char)

    def _literal_char(self, scalar: Scalar, char: str) -> None:
        word = "".join(scalar.text) + char
        if any(literal.startswith(word) for literal in LITERALS):
            scalar.text.append(char)
            if word in LITERALS:
                self._finish_scalar(self.position + 1)
        else:
            raise ScanError(f"invalid literal {word!r}")

    def _structural(self, char: str) -> None:
        frame = self.stack[-1] if self.stack else None
        if frame is not None and frame.kind == "object" and frame.state in ("first", "key"):
            if char == "}" and frame.state == "first":
                self._close(frame, "}")
            elif char == '"':
                self.scalar = Scalar("string", self.position, is_key=True)
            else:
                raise ScanError(f"expected a key, got {char!r}")
        elif frame is not None and frame.state == "colon":
            if char != ":":
                raise ScanError(f"expected ':', got {char!r}")
            frame.state = "value"
        elif frame is not None and frame.state == "next":
            if char == ",":
                frame.state = "key" if frame.kind == "object" else "value"
            elif char == ("}" if frame.kind == "object" else "]"):
                self._close(frame, char)
            else:
                raise ScanError(f"expected ',' or a closing bracket, got {char!r}")
        elif frame is not None and frame.kind == "array" and frame.state == "first" and char == "]":
            self._close(frame, "]")
        else:
            self._value_start(char)

    def _value_start(self, char: str) -> None:
        path = self._value_path()
        schema = self._value_schema()
        if char == "{":
            self.stack.append(
                Frame("object", branch_of_kind(self.root, schema, "object"), path, self.position, "first")
            )
        elif char == "[":
            self.stack.append(Frame("array", branch_of_kind(self.root, schema, "array"), path, self.position, "first"))
        elif char == '"':
            self.scalar = Scalar("string", self.position)
        elif char in "-0123456789":
            self.scalar = Scalar("number", self.position, text=[char])
        elif char in "tfn":
            self.scalar = Scalar("literal", self.position, text=[char])
        else:
            raise ScanError(f"unexpected {char!r} where a value should start")
        if self.stack and char not in "{[":
            self._begin_value(self.stack[-1])
        elif len(self.stack) > 1 and char in "{[":
            self._begin_value(self.stack[-2])

    def _begin_value(self, parent: Frame) -> None:
        if parent.kind == "array":
            parent.items += 1
        parent.state = "next"

    def _finish_scalar(self, end: int) -> None:
        scalar = self.scalar
        if scalar is None:
            return
        self.scalar = None
        if scalar.is_key:
            frame = self.stack[-1]
            frame.keys.append("".join(scalar.text))
            frame.state = "colon"
            return
        if scalar.kind == "number":
            _require_number("".join(scalar.text))
        self.leaves.append(Leaf(pointers.join(self._scalar_path()), scalar.start, end))
        if not self.stack:
            self.done = True

    def _close(self, frame: Frame, char: str) -> None:
        self.stack.pop()
        if not frame.keys and not frame.items:
            self.leaves.append(Leaf(pointers.join(frame.path), frame.start, self.position + 1))
        if not self.stack:
            self.done = True

    # Paths and schemas -----------------------------------------------------------------------

    def _child(self, offset: int) -> tuple[tuple[str | int, ...], SchemaNode]:
        return innermost_value(self.root, self.stack, offset)

    def _value_path(self) -> tuple[str | int, ...]:
        return self._child(0)[0]

    def _value_schema(self) -> SchemaNode:
        return self._child(0)[1]

    def _scalar_path(self) -> tuple[str | int, ...]:
        return self._child(-1)[0]

    def _scalar_schema(self) -> SchemaNode:
        return self._child(-1)[1]


def innermost_value(root: SchemaNode, stack: list[Frame], offset: int) -> tuple[tuple[str | int, ...], SchemaNode]:
    """Path and schema of the value being written in the innermost open container.

    ``offset`` is 0 before an array item is counted (a value starting) and -1 after.
    """
    if not stack:
        return (), root
    frame = stack[-1]
    if frame.kind == "object":
        key = frame.keys[-1]
        return (*frame.path, key), property_schema(root, frame.schema, key)
    index = frame.items + offset
    return (*frame.path, index), item_schema(root, frame.schema, index)


def scan(text: str, schema: SchemaNode | None = None, separators: tuple[str, str] = (", ", ": ")) -> JsonScanner:
    """Scan ``text`` (a JSON value or a prefix of one) and return the scanner's final state."""
    scanner = JsonScanner(schema, separators)
    scanner.feed(text)
    return scanner


def leaf_spans(text: str, schema: SchemaNode | None = None) -> list[Leaf]:
    """Spans of every leaf of a complete JSON value."""
    scanner = scan(text, schema)
    if scanner.scalar is not None and scanner.scalar.kind == "number":
        scanner._finish_scalar(len(text))  # a top-level number has no closing character
    return scanner.leaves


def _require_number(word: str) -> None:
    try:
        json.loads(word)
    except json.JSONDecodeError:
        raise ScanError(f"invalid number {word!r}") from None
