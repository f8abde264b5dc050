"""Guards that keep the model from inventing or running away: blank pages, token budgets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qvl_cli.schemas.navigation import SchemaNode, branches, item_schema, property_schema, resolve, types_of

if TYPE_CHECKING:
    from PIL import Image

# A page is blank when fewer than 1 in 20,000 pixels stand out from its background: a single
# printed digit is more than that, dust on a scan usually less. Erring towards "not blank" only
# costs a model call; the other way would lose a page.
BLANK_INK_FRACTION = 0.00005
INK_CONTRAST = 64  # grey levels a pixel must differ from the background to count as ink

ASSUMED_ARRAY_ITEMS = 20
TOKENS_PER = {"string": 24, "number": 6, "integer": 5, "boolean": 2, "null": 2}
MIN_BUDGET, MAX_BUDGET = 256, 4096


def ink_fraction(image: Image.Image) -> float:
    """Share of pixels that stand out from the page's background (its most common grey)."""
    histogram = image.convert("L").histogram()
    background = max(range(256), key=histogram.__getitem__)
    ink = sum(count for level, count in enumerate(histogram) if abs(level - background) > INK_CONTRAST)
    return ink / max(1, image.width * image.height)


def is_blank(image: Image.Image, ink: float | None = None) -> bool:
    """True for an empty page (see ``BLANK_INK_FRACTION``); ``ink``: its :func:`ink_fraction`,
    when it was measured where the page was rendered."""
    return (ink_fraction(image) if ink is None else ink) < BLANK_INK_FRACTION


def token_budget(schema: SchemaNode) -> int:
    """A generous number of new tokens for a full answer to ``schema`` (256 to 4096).

    Strings are allowed 24 tokens, numbers 6, and every array 20 items; a model that needs far
    more than that for a document is usually repeating itself.
    """
    estimate = _estimate(schema, schema, depth=0)
    return max(MIN_BUDGET, min(MAX_BUDGET, int(estimate * 1.5) + 32))


def _estimate(root: SchemaNode, schema: Any, depth: int) -> int:
    if depth > 8:
        return TOKENS_PER["string"]
    options = branches(root, schema) or [{}]
    return max(_estimate_branch(root, option, depth) for option in options)


def _estimate_branch(root: SchemaNode, schema: SchemaNode, depth: int) -> int:
    schema = resolve(root, schema)
    types = types_of(schema) or {"string"}
    if "object" in types:
        properties = schema.get("properties", {})
        keys = sum(len(key) // 3 + 3 for key in properties)
        return 2 + keys + sum(_estimate(root, property_schema(root, schema, k), depth + 1) for k in properties)
    if "array" in types:
        items = min(int(schema.get("maxItems", ASSUMED_ARRAY_ITEMS)), ASSUMED_ARRAY_ITEMS)
        return 2 + items * (1 + _estimate(root, item_schema(root, schema, 0), depth + 1))
    if "enum" in schema:
        return 4
    return max(TOKENS_PER.get(t, TOKENS_PER["string"]) for t in types)
