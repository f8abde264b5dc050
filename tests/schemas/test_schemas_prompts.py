"""Built-in schemas are valid, described, and render into prompts; user files work the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EXAMPLES

from qvl_cli.answers.validation import make_validator
from qvl_cli.errors import SchemaError
from qvl_cli.schemas.catalog import builtin_schema_names, load_schema
from qvl_cli.schemas.prompts import load_prompt


def leaf_properties(node: dict, path: str = ""):
    """Every property schema, with its JSON path, following $defs references."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}/{name}", child
        yield from leaf_properties(child, f"{path}/{name}")
    if isinstance(node.get("items"), dict):
        yield from leaf_properties(node["items"], f"{path}/*")


def test_builtins() -> None:
    assert builtin_schema_names() == ["chart", "form", "invoice", "multilingual"]


@pytest.mark.parametrize("name", ["chart", "form", "invoice", "multilingual"])
def test_every_property_is_described(name: str) -> None:
    schema = load_schema(name)
    assert schema.description and schema.source == "builtin"
    described = [
        path for path, prop in leaf_properties(schema.document) if not prop.get("description") and "$ref" not in prop
    ]
    assert described == []
    for definition in schema.document.get("$defs", {}).values():
        assert all(prop.get("description") for prop in definition["properties"].values())


@pytest.mark.parametrize("name", ["chart", "form", "invoice", "multilingual"])
def test_example_ground_truth_is_valid(name: str) -> None:
    expected = json.loads((EXAMPLES / f"{name}.expected.json").read_text())
    assert make_validator(load_schema(name))(expected) == []


SUBJECTS = {"chart": "chart", "form": "form", "invoice": "invoice", "multilingual": "multilingual text"}
RULES = {
    "chart": "Use null for anything the chart does not show. Never invent series or points.",
    "form": "Use null for fields left empty. Never invent values.",
    "invoice": "Use null for any value that is not printed on the invoice. Never invent values.",
    "multilingual": "Tag each block with its ISO 639-1 language code",
}


@pytest.mark.parametrize("name", ["chart", "form", "invoice", "multilingual"])
def test_prompt_by_schema_embeds_the_schema(name: str) -> None:
    schema = load_schema(name)
    prompt = load_prompt(None, schema)
    assert prompt.name == f"{name}-v1"
    text = prompt.render(schema, page_count=3)
    assert schema.prompt_text in text and "x-qvl-" not in text
    instructions = text.replace(schema.prompt_text, "")
    assert "3" in instructions and "$" not in instructions  # the page count filled in, no placeholder left
    # Each schema's own prompt: its subject named, its own rule against invention (the word "null"
    # proves nothing: every schema's types contain it), and no other built-in schema embedded.
    assert SUBJECTS[name] in instructions.splitlines()[0]
    assert RULES[name] in instructions
    for other in {"chart", "form", "invoice", "multilingual"} - {name}:
        assert load_schema(other).prompt_text not in text


def test_user_schema_gets_the_generic_prompt(tmp_path: Path) -> None:
    path = tmp_path / "invoice.json"  # same name as a built-in, but a user file
    path.write_text(json.dumps({"type": "object"}))
    schema = load_schema(str(path))
    assert schema.source == str(path)
    assert load_prompt(None, schema).name == "generic-v1"


def test_prompt_family_name_picks_latest_version() -> None:
    assert load_prompt("invoice", load_schema("form")).name == "invoice-v1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "schema is not valid JSON"),
        ("[1, 2]", "schema must be a JSON object"),
        ('{"type": "nonsense"}', "not a valid JSON Schema"),
        ('{"properties": {"x": {"type": "strin"}}}', r"'strin' is not a type \(types: .*\) at /properties/x/type$"),
        ('{"type": ["string", "numbr"]}', r"'numbr' is not a type .* at /type/1$"),
        ('{"properties": {"a": {"minLength": -1}}}', r"-1 is less than the minimum of 0 at /properties/a/minLength$"),
        ('{"properties": {"type": 5}}', r"5 is not of type 'object', 'boolean' at /properties/type$"),
    ],
)
def test_broken_user_schemas(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(SchemaError, match=message):
        load_schema(str(path))


def test_prompt_with_unknown_placeholder(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("Costs $price")
    prompt = load_prompt(str(path), load_schema("invoice"))
    with pytest.raises(SchemaError, match="unknown placeholder"):
        prompt.render(load_schema("invoice"), 1)


@pytest.mark.parametrize("document", ["invoice.pdf", "form.png"])
def test_a_document_given_as_the_schema_is_named_as_such(document: str) -> None:
    path = EXAMPLES / document
    kind = path.suffix[1:].upper()
    with pytest.raises(SchemaError, match=rf"^{path}: a {kind} document, not a JSON Schema \(-s takes a built-in"):
        load_schema(str(path))
