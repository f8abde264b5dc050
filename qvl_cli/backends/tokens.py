"""Where each generated token's text lies in the decoded answer."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's byte-to-unicode table used by byte-level BPE vocabularies."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


def token_spans(tokenizer: Any, ids: list[int]) -> list[tuple[int, int]]:
    """Character span of each token in ``tokenizer.decode(ids, skip_special_tokens=True)``.

    Byte-level vocabularies (Qwen2's) are mapped in one pass; others by decoding prefixes.
    Special tokens get empty spans.
    """
    text = tokenizer.decode(ids, skip_special_tokens=True)
    spans = _byte_level_spans(tokenizer, ids, text)
    return spans if spans is not None else _prefix_spans(tokenizer, ids)


def _byte_level_spans(tokenizer: Any, ids: list[int], text: str) -> list[tuple[int, int]] | None:
    decoder = _byte_decoder()
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens(ids)
    data = bytearray()
    byte_spans = []
    for token, piece in zip(ids, pieces, strict=True):
        start = len(data)
        if token not in special:
            try:
                data.extend(decoder[char] for char in piece)
            except (KeyError, TypeError):
                return None
        byte_spans.append((start, len(data)))
    if data.decode("utf-8", errors="replace") != text:
        return None
    return char_spans(byte_spans, text)


def char_spans(byte_spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]] | None:
    """Turn byte offsets into ``text`` (UTF-8) into character offsets; ``None`` if they disagree."""
    char_at = []  # char index of every byte
    for index, char in enumerate(text):
        char_at.extend([index] * len(char.encode("utf-8")))
    if byte_spans and byte_spans[-1][1] != len(char_at):
        return None
    char_at.append(len(text))
    return [(char_at[start], char_at[end - 1] + 1 if end > start else char_at[start]) for start, end in byte_spans]


def _prefix_spans(tokenizer: Any, ids: list[int]) -> list[tuple[int, int]]:
    spans = []
    previous = 0
    for count in range(1, len(ids) + 1):
        length = len(tokenizer.decode(ids[:count], skip_special_tokens=True))
        spans.append((min(previous, length), length))
        previous = length
    return spans
