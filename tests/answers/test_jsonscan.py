"""Any prefix of a JSON answer can be closed into valid JSON of the schema's shape."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st

from qvl_cli.answers.jsonclose import complete
from qvl_cli.answers.jsonscan import ScanError, leaf_spans
from qvl_cli.answers.validation import make_validator
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.navigation import minimal_instance

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(value=json_values, data=st.data())
def test_every_prefix_of_any_json_completes_to_json(value: object, data: st.DataObject) -> None:
    text = json.dumps(value, ensure_ascii=data.draw(st.booleans()))
    cut = data.draw(st.integers(0, len(text)))
    completion = complete(text[:cut])
    json.loads(text[:cut] + completion.text, strict=True)
    if cut == len(text):
        assert completion.text == ""


@pytest.mark.parametrize("name", ["invoice", "form", "chart"])
def test_every_prefix_of_a_real_answer_completes_to_a_schema_valid_document(name: str) -> None:
    schema = load_schema(name)
    validate = make_validator(schema)
    text = json.dumps(json.loads((EXAMPLES / f"{name}.expected.json").read_text()), ensure_ascii=False)
    failures = []
    for cut in range(len(text) + 1):
        completion = complete(text[:cut], schema.document)
        data = json.loads(text[:cut] + completion.text, strict=True)
        issues = [issue for issue in validate(data) if issue.path not in completion.cut]
        if issues:
            failures.append((text[:cut][-30:], completion.text, issues))
    assert failures == []


def test_completion_names_what_it_cut_and_filled_in() -> None:
    schema = load_schema("invoice").document
    completion = complete('{"vendor": {"name": "Nordw', schema)
    assert completion.cut == ("/vendor/name",)
    assert completion.added[:2] == ("/vendor/address", "/vendor/tax_id")
    assert "/total" in completion.added
    data = json.loads('{"vendor": {"name": "Nordw' + completion.text)
    assert data["vendor"] == {"name": "Nordw", "address": None, "tax_id": None}
    assert data["line_items"] == [] and data["total"] is None


def test_partial_keys_enums_and_literals_are_finished_not_invented() -> None:
    chart = load_schema("chart").document
    completion = complete('{"chart_type": "pi', chart)
    assert json.loads('{"chart_type": "pi' + completion.text)["chart_type"] == "pie"
    assert "/chart_type" not in completion.cut
    completion = complete('{"chart_type": "bar", "tit', chart)
    assert json.loads('{"chart_type": "bar", "tit' + completion.text)["title"] is None
    completion = complete('{"chart_type": "bar", "title": nu', chart)
    assert completion.text.startswith("ll")


@pytest.mark.parametrize(
    ("prefix", "expected_start"),
    [('{"a": "x\\', '\\"'), ('{"a": "\\u00', '00"'), ('{"a": 1.', "0"), ('{"a": -', "0"), ('{"a": 1e+', "0")],
)
def test_escapes_and_numbers_in_progress(prefix: str, expected_start: str) -> None:
    completion = complete(prefix)
    assert completion.text.startswith(expected_start)
    json.loads(prefix + completion.text)


def test_separator_in_progress_is_finished() -> None:
    assert complete('{"a": 1,', {"required": ["a", "b"]}).text == ' "b": null}'
    assert complete('{"a":', {"required": ["a"]}).text == " null}"
    assert complete('{"a": ', {"required": ["a"]}).text == "null}"


def test_not_json_is_rejected() -> None:
    with pytest.raises(ScanError):
        complete("Sure, here is")
    with pytest.raises(ScanError):
        complete('{"a" 1')


def test_minimal_instance_prefers_null_and_fills_required() -> None:
    assert minimal_instance(load_schema("form").document) == {
        "title": None,
        "fields": [],
        "checkboxes": [],
        "signatures": [],
    }
    schema = {"type": "object", "required": ["n", "tags", "ok"], "properties": {
        "n": {"type": "integer", "minimum": 5}, "tags": {"type": "array", "minItems": 1, "items": {"enum": ["x"]}},
        "ok": {"type": "boolean"}}}  # fmt: skip
    assert minimal_instance(schema) == {"n": 5, "tags": ["x"], "ok": False}


def test_leaf_spans_cover_every_leaf() -> None:
    text = '{"a": [1, {"b": "x y"}, [], {}], "c": null, "d/e": true}'
    leaves = {leaf.pointer: text[leaf.start : leaf.end] for leaf in leaf_spans(text)}
    assert leaves == {"/a/0": "1", "/a/1/b": '"x y"', "/a/2": "[]", "/a/3": "{}", "/c": "null", "/d~1e": "true"}
