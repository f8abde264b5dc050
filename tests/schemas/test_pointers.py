"""JSON Pointers (RFC 6901) and qvl's keyword stripper: the small pieces every stage names places with."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qvl_cli.schemas import pointers
from qvl_cli.schemas.keywords import without_qvl_keywords

# RFC 6901 section 5, the example document and its pointers.
RFC_DOCUMENT = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, 'k"l': 6, " ": 7,
                "m~n": 8}  # fmt: skip
RFC_POINTERS = [("", RFC_DOCUMENT), ("/foo", ["bar", "baz"]), ("/foo/0", "bar"), ("/", 0), ("/a~1b", 1),
                ("/c%d", 2), ("/e^f", 3), ("/g|h", 4), ("/i\\j", 5), ('/k"l', 6), ("/ ", 7), ("/m~0n", 8)]  # fmt: skip


@pytest.mark.parametrize(("pointer", "value"), RFC_POINTERS)
def test_resolve_follows_the_rfc_examples(pointer: str, value: object) -> None:
    assert pointers.resolve(RFC_DOCUMENT, pointer) == (True, value)


def test_escaping_of_tilde_and_slash() -> None:
    assert pointers.escape("a/b") == "a~1b" and pointers.escape("m~n") == "m~0n"
    assert pointers.escape("~1") == "~01"  # not "~1" read back as "/"
    assert pointers.unescape("~01") == "~1" and pointers.unescape("a~1b~0") == "a/b~"
    assert pointers.join(["a/b", "c~d", 0]) == "/a~1b/c~0d/0"
    assert pointers.child("/items/0", "x/y") == "/items/0/x~1y"


def test_the_empty_pointer_is_the_whole_value() -> None:
    assert pointers.join([]) == ""
    assert pointers.split("") == []
    assert pointers.resolve([1, 2], "") == (True, [1, 2])
    assert pointers.split("/") == [""]  # the key "", not the root


def test_array_indices() -> None:
    data = {"items": [{"a": 1}, {"a": 2}]}
    assert pointers.resolve(data, "/items/1/a") == (True, 2)
    for missing in ("/items/2", "/items/-", "/items/01", "/items/+1", "/items/²", "/items/a", "/items/0/b"):
        assert pointers.resolve(data, missing) == (False, None), missing
    assert pointers.resolve({"0": "key"}, "/0") == (True, "key")  # digits name a key in an object


def test_split_refuses_what_is_not_a_pointer() -> None:
    with pytest.raises(ValueError, match="must be empty or start with '/'"):
        pointers.split("items/0")


def test_is_within() -> None:
    assert pointers.is_within("/a/b", "/a") and pointers.is_within("/a", "/a") and pointers.is_within("/a", "")
    assert not pointers.is_within("/ab", "/a") and not pointers.is_within("/a", "/a/b")


def test_leaves_in_document_order_with_their_pointers() -> None:
    data = {"title": "T", "a/b": {"~": None}, "items": [{"x": 1}, {"x": 2, "y": [True]}], "empty": [], "none": {}}
    assert list(pointers.leaves(data)) == [
        ("/title", "T"), ("/a~1b/~0", None), ("/items/0/x", 1), ("/items/1/x", 2), ("/items/1/y/0", True)
    ]  # fmt: skip
    assert list(pointers.leaves(3)) == [("", 3)]
    templates = [pointer for pointer, _ in pointers.leaves(data["items"], "/items", any_index="*")]
    assert templates == ["/items/*/x", "/items/*/x", "/items/*/y/*"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text("ab~/0", max_size=4), inner, max_size=3),
    max_leaves=12,
)


@given(json_values)
def test_every_leaf_pointer_resolves_to_its_value(value: object) -> None:
    for pointer, leaf in pointers.leaves(value):
        assert pointers.resolve(value, pointer) == (True, leaf)


@given(st.lists(st.text("ab~/01", max_size=5), max_size=5))
def test_split_undoes_join(keys: list[str]) -> None:
    assert pointers.split(pointers.join(keys)) == keys


def test_qvl_keywords_are_stripped_but_property_names_and_data_are_kept() -> None:
    schema = {
        "type": "object",
        "x-qvl-consistency": ["invoice"],
        "properties": {
            "x-qvl-note": {"type": "string", "maxLength": 3, "x-qvl-normalize": "whitespace"},
            "maxLength": {"const": {"x-qvl-kept": 1}, "enum": [{"maxLength": 2}]},
        },
        "$defs": {"maxLength": {"anyOf": [{"type": "null", "x-qvl-normalize": "date"}]}},
    }
    assert without_qvl_keywords(schema) == {
        "type": "object",
        "properties": {
            "x-qvl-note": {"type": "string", "maxLength": 3},
            "maxLength": {"const": {"x-qvl-kept": 1}, "enum": [{"maxLength": 2}]},
        },
        "$defs": {"maxLength": {"anyOf": [{"type": "null"}]}},
    }
    assert without_qvl_keywords(schema, also=("maxLength",))["properties"]["x-qvl-note"] == {"type": "string"}
    assert "maxLength" in without_qvl_keywords(schema, also=("maxLength",))["properties"]


def test_schema_references_are_pointers_in_uri_fragments() -> None:
    from qvl_cli.schemas.navigation import minimal_instance, resolve

    root = {
        "$defs": {"a/b": {"const": 1}, "c d": {"const": 2}, "list": [{"const": 3}]},
        "type": "object",
        "required": ["x", "y", "z"],
        "properties": {
            "x": {"$ref": "#/$defs/a~1b"},
            "y": {"$ref": "#/$defs/c%20d"},
            "z": {"$ref": "#/$defs/list/0"},
        },
    }
    assert minimal_instance(root) == {"x": 1, "y": 2, "z": 3}
    assert resolve(root, {"$ref": "#anchor"}) == {} and resolve(root, {"$ref": "#/$defs/missing"}) == {}
    assert resolve(root, {"$ref": "#"}) is root
