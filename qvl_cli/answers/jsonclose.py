"""Close a JSON prefix that was cut short with the shortest text that makes it valid JSON of the
schema's shape.

Open strings are closed (or finished as the enum value or property name they were spelling),
missing required keys get null or minimal values, open arrays and objects are closed. The pointers
of the values that were cut or added are reported, so nothing invented passes unmarked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from qvl_cli.answers.jsonscan import LITERALS, Frame, JsonScanner, Scalar, innermost_value, scan
from qvl_cli.schemas import pointers
from qvl_cli.schemas.navigation import SchemaNode, item_schema, minimal_json, property_schema, required_keys, resolve


@dataclass(frozen=True)
class Completion:
    """Text that closes a JSON prefix, and what it had to cut short or fill in."""

    text: str
    cut: tuple[str, ...]  # values that were being written when the text ended
    added: tuple[str, ...]  # required keys and items filled with minimal values


def close(scanner: JsonScanner) -> Completion:
    """The shortest text that turns what ``scanner`` has read into a complete JSON value.

    The scanner itself is left as it was, so scanning can go on afterwards.
    """
    return _Closer(scanner).completion()


def complete(text: str, schema: SchemaNode | None = None, separators: tuple[str, str] = (", ", ": ")) -> Completion:
    """The shortest completion of a JSON prefix (see the module docstring)."""
    return close(scan(text, schema, separators))


class _Closer:
    """Works on copies of a scanner's open containers and pending value."""

    def __init__(self, scanner: JsonScanner):
        self.root = scanner.root
        self.item_separator, self.key_separator = scanner.item_separator, scanner.key_separator
        self.whitespace = scanner.whitespace
        self.done = scanner.done
        self.stack = [replace(frame, keys=list(frame.keys)) for frame in scanner.stack]
        pending = scanner.scalar
        self.scalar = replace(pending, text=list(pending.text)) if pending is not None else None

    def completion(self) -> Completion:
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

    def _pending_path(self) -> tuple[str | int, ...]:
        return innermost_value(self.root, self.stack, -1)[0]

    def _pending_schema(self) -> SchemaNode:
        return innermost_value(self.root, self.stack, -1)[1]

    def _close_scalar(self, scalar: Scalar, cut: list[str]) -> str:
        if scalar.kind == "string":
            text = _close_escape(scalar.escape) + '"'
            if scalar.is_key:
                return self._close_key(scalar, cut)
            partial = "".join(scalar.text)
            enum = resolve(self.root, self._pending_schema()).get("enum", [])
            choices = [v for v in enum if isinstance(v, str)]
            match = next((v for v in choices if v.startswith(partial)), None)
            if match is not None and not scalar.escape:  # the enum value it was spelling
                return json.dumps(match[len(partial) :], ensure_ascii=False)[1:]
            cut.append(pointers.join(self._pending_path()))
            return text
        word = "".join(scalar.text)
        if scalar.kind == "literal":  # a literal's prefix is unambiguous: nothing was lost
            return next(literal for literal in LITERALS if literal.startswith(word))[len(word) :]
        cut.append(pointers.join(self._pending_path()))  # more digits may have been coming
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

    def _close_key(self, scalar: Scalar, cut: list[str]) -> str:
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
            cut.append(pointers.join((*frame.path, key)))
        frame.keys.append(key)
        frame.state = "next"
        value = self._minimal(property_schema(self.root, frame.schema, key))
        return rest + self.key_separator + value

    def _close_frame(self, frame: Frame, added: list[str]) -> str:
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

    def _fill(self, frame: Frame, key: str | int, added: list[str]) -> str:
        added.append(pointers.join((*frame.path, key)))
        if frame.kind == "object":
            return self._minimal(property_schema(self.root, frame.schema, str(key)))
        return self._minimal(item_schema(self.root, frame.schema, int(key)))

    def _minimal(self, schema: SchemaNode) -> str:
        return minimal_json(self.root, schema, (self.item_separator, self.key_separator))

    def _next_key(self, frame: Frame) -> str:
        """A key to write after a trailing comma: a missing required one, else any unused one."""
        schema = resolve(self.root, frame.schema)
        candidates = [*required_keys(self.root, frame.schema), *schema.get("properties", {})]
        for key in candidates:
            if key not in frame.keys:
                return str(key)
        return candidates[0] if candidates else "_"


def _close_escape(escape: str) -> str:
    """Characters that finish a pending escape sequence validly."""
    if not escape:
        return ""
    if escape.startswith("\\u"):
        return "0" * (6 - len(escape))
    return "\\"  # "\" + "\" is an escaped backslash
