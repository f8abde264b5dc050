"""JSON Pointers (RFC 6901): the one way qvl names a place in a JSON value or a schema.

A pointer is ``""`` (the whole value) or ``/token/token...``, each token a key or an array index with
``~`` written ``~0`` and ``/`` written ``~1``. Build pointers with :func:`join` or :func:`child`, take
them apart with :func:`split`, look them up with :func:`resolve`, and walk a value's leaves with
:func:`leaves`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

_INDEX = re.compile(r"0|[1-9][0-9]*")


def escape(token: object) -> str:
    """One key or index as a pointer token (``a/b`` -> ``a~1b``, ``~`` -> ``~0``)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """The key a pointer token stands for (``~1`` -> ``/``, then ``~0`` -> ``~``)."""
    return token.replace("~1", "/").replace("~0", "~")


def join(tokens: Iterable[object]) -> str:
    """The pointer for a path of keys and indices (``("items", 0, "a/b")`` -> ``/items/0/a~1b``)."""
    return "".join("/" + escape(token) for token in tokens)


def child(pointer: str, token: object) -> str:
    """The pointer one step below ``pointer``."""
    return f"{pointer}/{escape(token)}"


def split(pointer: str) -> list[str]:
    """The keys of a pointer, unescaped (``""`` -> ``[]``); ValueError when it does not start with ``/``."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON Pointer: {pointer!r} (it must be empty or start with '/')")
    return [unescape(token) for token in pointer[1:].split("/")]


def is_within(pointer: str, ancestor: str) -> bool:
    """Whether ``pointer`` is ``ancestor`` or a place inside it."""
    return ancestor == "" or pointer == ancestor or pointer.startswith(ancestor + "/")


def resolve(value: Any, pointer: str) -> tuple[bool, Any]:
    """``(True, the value at pointer)``, or ``(False, None)`` when there is nothing there.

    An array index must be written as RFC 6901 says (``0``, ``12``; not ``012``, ``-`` or ``+1``).
    """
    node = value
    for key in split(pointer):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and _INDEX.fullmatch(key) and int(key) < len(node):
            node = node[int(key)]
        else:
            return False, None
    return True, node


def leaves(value: Any, pointer: str = "", any_index: str | None = None) -> Iterator[tuple[str, Any]]:
    """``(pointer, value)`` for every value below ``value`` that is neither an object nor an array,
    in document order; empty objects and arrays have no leaves.

    With ``any_index`` (for example ``"*"``) every array index is written as that token, so the leaves
    of all items of a list share one name: a field template rather than a pointer.
    """
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, child(pointer, key), any_index)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            token = any_index if any_index is not None else str(index)
            yield from leaves(item, f"{pointer}/{token}", any_index)
    else:
        yield pointer, value
