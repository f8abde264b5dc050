"""A schema-aware scanner for JSON text that may stop anywhere.

One pass over the text gives two things qvl needs:

- the character span of every leaf value, so per-field confidence can be computed from the
  tokens that wrote it;
- for a prefix cut short (token budget, runaway repetition), the shortest completion that makes
  it valid JSON of the schema's shape: open strings are closed, missing required keys get null
  or minimal values, open arrays and objects are closed. The pointers of the values that were cut
  or added are reported, so nothing invented passes unmarked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from qvl_cli.answers.validation import json_pointer
from qvl_cli.schemas.navigation import (
    Schema,
    branch_of_kind,
    item_schema,
    minimal_json,
    property_schema,
    required_keys,
    resolve,
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


@dataclass(frozen=True)
class Completion:
    """Text that closes a JSON prefix, and what it had to cut short or fill in."""

    text: str
    cut: tuple[str, ...]  # values that were being written when the text ended
    added: tuple[str, ...]  # required keys and items filled with minimal values


@dataclass
class _Frame:
    kind: str  # "object" or "array"
    schema: Schema
    path: tuple[str | int, ...]
    start: int
    state: str  # object: first|key|colon|value|next; array: first|value|next
    keys: list[str] = field(default_factory=list)
    items: int = 0


@dataclass
class _Scalar:
    kind: str  # "string", "number" or "literal"
    start: int
    is_key: bool = False
    text: list[str] = field(default_factory=list)
    escape: str = ""  # pending escape: "\\" or "\\u" plus hex digits read so far


class JsonScanner:
    """Scan JSON text against a schema; see :func:`scan`."""

    def __init__(self, schema: Schema | None = None, separators: tuple[str, str] = (", ", ": ")):
        self.root: Schema = schema if isinstance(schema, dict) else {}
        self.item_separator, self.key_separator = separators
        self.stack: list[_Frame] = []
        self.scalar: _Scalar | None = None
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

    def _string_char(self, scalar: _Scalar, char: str) -> None:
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

    def _literal_char(self, scalar: _Scalar, char: str) -> None:
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
                self.scalar = _Scalar("string", self.position, is_key=True)
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
                _Frame("object", branch_of_kind(self.root, schema, "object"), path, self.position, "first")
            )
        elif char == "[":
            self.stack.append(_Frame("array", branch_of_kind(self.root, schema, "array"), path, self.position, "first"))
        elif char == '"':
            self.scalar = _Scalar("string", self.position)
        elif char in "-0123456789":
            self.scalar = _Scalar("number", self.position, text=[char])
        elif char in "tfn":
            self.scalar = _Scalar("literal", self.position, text=[char])
        else:
            raise ScanError(f"unexpected {char!r} where a value should start")
        if self.stack and char not in "{[":
            self._begin_value(self.stack[-1])
        elif len(self.stack) > 1 and char in "{[":
            self._begin_value(self.stack[-2])

    def _begin_value(self, parent: _Frame) -> None:
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
            _check_number("".join(scalar.text))
        self.leaves.append(Leaf(json_pointer(self._scalar_path()), scalar.start, end))
        if not self.stack:
            self.done = True

    def _close(self, frame: _Frame, char: str) -> None:
        self.stack.pop()
        if not frame.keys and not frame.items:
            self.leaves.append(Leaf(json_pointer(frame.path), frame.start, self.position + 1))
        if not self.stack:
            self.done = True

    # Paths and schemas -----------------------------------------------------------------------

    def _child(self, offset: int) -> tuple[tuple[str | int, ...], Schema]:
        """Path and schema of the value being written in the innermost container.

        ``offset`` is 0 before an array item is counted (a value starting) and -1 after.
        """
        if not self.stack:
            return (), self.root
        frame = self.stack[-1]
        if frame.kind == "object":
            key = frame.keys[-1]
            return (*frame.path, key), property_schema(self.root, frame.schema, key)
        index = frame.items + offset
        return (*frame.path, index), item_schema(self.root, frame.schema, index)

    def _value_path(self) -> tuple[str | int, ...]:
        return self._child(0)[0]

    def _value_schema(self) -> Schema:
        return self._child(0)[1]

    def _scalar_path(self) -> tuple[str | int, ...]:
        return self._child(-1)[0]

    def _scalar_schema(self) -> Schema:
        return self._child(-1)[1]

    # Completion ------------------------------------------------------------------------------

    def completion(self) -> Completion:
        """The shortest text that turns what was scanned into a complete JSON value.

        The scanner itself is left as it was, so scanning can go on afterwards.
        """
        saved_stack, saved_scalar = self.stack, self.scalar
        self.stack = [replace(frame, keys=list(frame.keys)) for frame in saved_stack]
        self.scalar = replace(saved_scalar, text=list(saved_scalar.text)) if saved_scalar else None
        try:
            return self._completion()
        finally:
            self.stack, self.scalar = saved_stack, saved_scalar

    def _completion(self) -> Completion:
        if self.done:
            return Completion("", (), ())
        if not self.stack and self.scalar is None:
            return Completion(self._minimal(self.root), (), ("",))
        pieces: list[str] = []
        cut: list[str] = []
        added: list[str] = []
        if self.scalar is not None:
            pieces.append(self._close_scalar(self.scalar, cut))
        else:
            pieces.append(self._separator_rest())
        for frame in reversed(self.stack):
            pieces.append(self._close_frame(frame, added))
        return Completion("".join(pieces), tuple(cut), tuple(added))

    def _close_scalar(self, scalar: _Scalar, cut: list[str]) -> str:
        if scalar.kind == "string":
            text = _close_escape(scalar.escape) + '"'
            if scalar.is_key:
                return self._close_key(scalar, cut)
            partial = "".join(scalar.text)
            choices = [v for v in resolve(self.root, self._scalar_schema()).get("enum", []) if isinstance(v, str)]
            match = next((v for v in choices if v.startswith(partial)), None)
            if match is not None and not scalar.escape:  # the enum value it was spelling
                return json.dumps(match[len(partial) :], ensure_ascii=False)[1:]
            cut.append(json_pointer(self._scalar_path()))
            return text
        word = "".join(scalar.text)
        if scalar.kind == "literal":  # a literal's prefix is unambiguous: nothing was lost
            return next(literal for literal in LITERALS if literal.startswith(word))[len(word) :]
        cut.append(json_pointer(self._scalar_path()))  # more digits may have been coming
        return "0" if word[-1] in "+-.eE" else ""

    def _separator_rest(self) -> str:
        """The part of a separator (", " or ": ") still unwritten after its comma or colon."""
        frame = self.stack[-1]
        if frame.state == "key" or (frame.kind == "array" and frame.state == "value"):
            tail = self.item_separator[1:]
        elif frame.state == "value":
            tail = self.key_separator[1:]
        else:
            return ""
        return tail[len(self.whitespace) :] if tail.startswith(self.whitespace) else ""

    def _close_key(self, scalar: _Scalar, cut: list[str]) -> str:
        """Finish a key being written: the property it was spelling, else the text so far."""
        frame = self.stack[-1]
        partial = "".join(scalar.text)
        names = [*required_keys(self.root, frame.schema), *resolve(self.root, frame.schema).get("properties", {})]
        match = next((name for name in names if name.startswith(partial) and name not in frame.keys), None)
        if match is not None and not scalar.escape:
            rest = json.dumps(match[len(partial) :], ensure_ascii=False)[1:]
            key = match
        else:
            rest = _close_escape(scalar.escape) + '"'
            key = partial
            cut.append(json_pointer((*frame.path, key)))
        frame.keys.append(key)
        frame.state = "next"
        value = self._minimal(property_schema(self.root, frame.schema, key))
        return rest + self.key_separator + value

    def _close_frame(self, frame: _Frame, added: list[str]) -> str:
        pieces: list[str] = []
        if frame.state == "colon":
            key = frame.keys[-1]
            pieces.append(self.key_separator + self._fill(frame, key, added))
        elif frame.state == "value":
            key_or_index = frame.keys[-1] if frame.kind == "object" else frame.items
            pieces.append(self._fill(frame, key_or_index, added))
            if frame.kind == "array":
                frame.items += 1
        elif frame.state == "key":
            key = self._next_key(frame)
            frame.keys.append(key)
            pieces.append(json.dumps(key, ensure_ascii=False) + self.key_separator + self._fill(frame, key, added))
        if frame.kind == "object":
            for key in required_keys(self.root, frame.schema):
                if key not in frame.keys:
                    separator = self.item_separator if frame.keys else ""
                    frame.keys.append(key)
                    fill = self._fill(frame, key, added)
                    pieces.append(f"{separator}{json.dumps(key, ensure_ascii=False)}{self.key_separator}{fill}")
            pieces.append("}")
        else:
            minimum = int(resolve(self.root, frame.schema).get("minItems", 0))
            while frame.items < minimum:
                separator = self.item_separator if frame.items else ""
                pieces.append(separator + self._fill(frame, frame.items, added))
                frame.items += 1
            pieces.append("]")
        return "".join(pieces)

    def _fill(self, frame: _Frame, key: str | int, added: list[str]) -> str:
        added.append(json_pointer((*frame.path, key)))
        if frame.kind == "object":
            return self._minimal(property_schema(self.root, frame.schema, str(key)))
        return self._minimal(item_schema(self.root, frame.schema, int(key)))

    def _minimal(self, schema: Schema) -> str:
        return minimal_json(self.root, schema, (self.item_separator, self.key_separator))

    def _next_key(self, frame: _Frame) -> str:
        """A key to write after a trailing comma: a missing required one, else any unused one."""
        schema = resolve(self.root, frame.schema)
        candidates = [*required_keys(self.root, frame.schema), *schema.get("properties", {})]
        for key in candidates:
            if key not in frame.keys:
                return str(key)
        return candidates[0] if candidates else "_"


def scan(text: str, schema: Schema | None = None, separators: tuple[str, str] = (", ", ": ")) -> JsonScanner:
    """Scan ``text`` (a JSON value or a prefix of one) and return the scanner's final state."""
    scanner = JsonScanner(schema, separators)
    scanner.feed(text)
    return scanner


def leaf_spans(text: str, schema: Schema | None = None) -> list[Leaf]:
    """Spans of every leaf of a complete JSON value."""
    scanner = scan(text, schema)
    if scanner.scalar is not None and scanner.scalar.kind == "number":
        scanner._finish_scalar(len(text))  # a top-level number has no closing character
    return scanner.leaves


def complete(text: str, schema: Schema | None = None, separators: tuple[str, str] = (", ", ": ")) -> Completion:
    """The shortest completion of a JSON prefix (see the module docstring)."""
    return scan(text, schema, separators).completion()


def _close_escape(escape: str) -> str:
    """Characters that finish a pending escape sequence validly."""
    if not escape:
        return ""
    if escape.startswith("\\u"):
        return "0" * (6 - len(escape))
    return "\\"  # "\" + "\" is an escaped backslash


def _check_number(word: str) -> None:
    try:
        json.loads(word)
    except json.JSONDecodeError:
        raise ScanError(f"invalid number {word!r}") from None
