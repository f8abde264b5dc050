"""Structured decoding: answers that are valid JSON of the schema's shape by construction.

A single logits processor does four jobs at every generated token:

1. records the probability the model gave the token it wrote (for per-field confidence);
2. masks every token the JSON Schema's grammar forbids (xgrammar), when constrained;
3. closes the JSON when the token budget is about to run out: it forces the shortest completion
   (open strings closed, required keys filled with null or minimal values, brackets closed);
4. stops runaway repetition the same way, and says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from qvl_cli.answers.jsonclose import close, complete
from qvl_cli.answers.jsonscan import JsonScanner, ScanError
from qvl_cli.schemas.keywords import without_qvl_keywords

SEPARATORS = (", ", ": ")
# Schema keywords the grammar leaves to validation after decoding: xgrammar lets raw control
# characters through strings that have length limits.
GRAMMAR_DROPPED_KEYWORDS = ("minLength", "maxLength")
LOOP_CHECK_EVERY = 8
LOOP_MIN_SPAN = 192  # tokens of exact repetition that count as a loop
LOOP_MAX_PERIOD = 48
CLOSING_MARGIN = 4
CLOSING_SLACK = 1.25  # re-tokenizing a suffix step by step can take more tokens than at once
UTF8_MAX_CONTINUATION = 3


@dataclass(frozen=True)
class Closing:
    """How an answer was closed early: why, and which values were cut or filled in."""

    reason: str  # "budget" or "repetition"
    cut: tuple[str, ...]
    added: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "cut": list(self.cut), "added": list(self.added)}


def grammar_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema the grammar enforces: the user's, less string length limits and qvl's keywords."""
    stripped: dict[str, Any] = without_qvl_keywords(schema, also=GRAMMAR_DROPPED_KEYWORDS)
    return stripped


class GrammarCache:
    """Compiles each schema once per tokenizer (compilation is the expensive part)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int]):
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids)
        self._compiler = xgr.GrammarCompiler(info)
        self._compiled: dict[str, Any] = {}

    def compile(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._compiled:
            self._compiled[key] = self._compiler.compile_json_schema(
                json.dumps(grammar_schema(schema)), any_whitespace=False, separators=SEPARATORS, strict_mode=True
            )
        return self._compiled[key]


def find_loop(tokens: list[int], min_span: int = LOOP_MIN_SPAN, max_period: int = LOOP_MAX_PERIOD) -> int | None:
    """The period of an exact repetition covering the last ``min_span`` tokens, if any."""
    if len(tokens) < min_span:
        return None
    tail = tokens[-min_span:]
    for period in range(1, max_period + 1):
        if all(tail[i] == tail[i - period] for i in range(period, min_span)):
            return period
    return None


class StructuredDecoder:
    """A transformers logits processor for one ``generate`` call (batch size 1).

    ``schema`` enables budget-aware closing; ``compiled_grammar`` enables the grammar mask.
    Without a schema, a detected loop ends generation and the answer is repaired afterwards.
    """

    def __init__(
        self,
        tokenizer: Any,
        max_new_tokens: int,
        stop_token_ids: list[int],
        schema: dict[str, Any] | None = None,
        compiled_grammar: Any | None = None,
    ):
        import torch

        self._torch = torch
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.stop_token_ids = stop_token_ids
        self.schema = schema
        self.generated: list[int] = []
        self.logprobs: list[float] = []
        self.closing: Closing | None = None
        self.stopped_by_loop = False
        self.finished = False  # a stop token was written; later calls only see padding
        self._closing_reason: str | None = None
        self._previous_logprobs: Any = None
        self._scanner = JsonScanner(schema, SEPARATORS) if schema is not None else None
        self._pending: list[int] = []  # tokens whose characters are not complete yet
        self._matcher: Any = None
        self._bitmask: Any = None
        self._banned: Any = None
        if compiled_grammar is not None:
            import xgrammar as xgr

            self._matcher = xgr.GrammarMatcher(compiled_grammar)
            self._bitmask = xgr.allocate_token_bitmask(1, compiled_grammar.tokenizer_info.vocab_size)
            # Control tokens (<|vision_start|> and the like) are no part of any JSON text.
            banned = sorted(set(tokenizer.all_special_ids) - set(stop_token_ids))
            self._banned = torch.tensor(banned, dtype=torch.long)
        self._closing_window = self._window()

    def _window(self) -> int:
        """How near the end of the budget closing is considered: twice the emptiest answer."""
        if self.schema is None:
            return 0
        empty = complete("", self.schema, SEPARATORS).text
        return max(64, 2 * len(self.tokenizer.encode(empty, add_special_tokens=False)) + 16)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[0] != 1:
            raise ValueError("a StructuredDecoder decodes one row; use BatchDecoder for several")
        if self.finished:
            return scores
        if self._previous_logprobs is not None:
            self._accept(int(input_ids[0, -1]))
            if self.finished:
                return scores
        self._previous_logprobs = self._torch.log_softmax(scores[0].float(), dim=-1)
        if self._matcher is not None and self._matcher.is_terminated():
            return self._force(scores, self.stop_token_ids[0])
        self._detect_loop()
        if self._scanner is not None and (self._closing_reason or self._near_budget_end()):
            forced = self._closing_token(self._scanner)
            if forced is not None:
                return self._force(scores, forced)
        elif self._closing_reason == "repetition":
            self.stopped_by_loop = True
            return self._force(scores, self.stop_token_ids[0])
        return self._mask(scores)

    def finish(self, new_tokens: list[int]) -> None:
        """Record the last token, which ``generate`` chose after the final processor call."""
        if not self.finished and self._previous_logprobs is not None and len(new_tokens) > len(self.generated):
            self._accept(int(new_tokens[len(self.generated)]), advance=False)
        self._previous_logprobs = None

    def _accept(self, token: int, advance: bool = True) -> None:
        self.logprobs.append(float(self._previous_logprobs[token]))
        self.generated.append(token)
        self.finished = token in self.stop_token_ids
        if advance and self._matcher is not None and not self._matcher.is_terminated():
            self._matcher.accept_token(token)
        if advance and self._scanner is not None:
            self._scan_new_text(self._scanner, token)

    def _scan_new_text(self, scanner: JsonScanner, token: int) -> None:
        """Feed the token's text to the scanner once its characters are complete."""
        self._pending.append(token)
        text = self.tokenizer.decode(self._pending, skip_special_tokens=True)
        if text.endswith("\ufffd") and len(self._pending) <= UTF8_MAX_CONTINUATION:
            return  # a multi-byte character is not finished yet
        self._pending = []
        try:
            scanner.feed(text)
        except ScanError:
            self._scanner = None  # not JSON (unconstrained output): repaired afterwards, if at all

    def _detect_loop(self) -> None:
        if self._closing_reason is None and len(self.generated) % LOOP_CHECK_EVERY == 0:
            if find_loop(self.generated) is not None:
                self._closing_reason = "repetition"

    def _near_budget_end(self) -> bool:
        return self.max_new_tokens - len(self.generated) <= self._closing_window

    def _closing_token(self, scanner: JsonScanner) -> int | None:
        """The next token of the shortest completion, once closing is due; else ``None``."""
        if self._pending:
            return None  # in the middle of a multi-byte character: let the model finish it
        completion = close(scanner)
        if not completion.text:
            return self.stop_token_ids[0] if self._closing_reason else None
        tokens = self.tokenizer.encode(completion.text, add_special_tokens=False)
        remaining = self.max_new_tokens - len(self.generated)
        if self._closing_reason is None and len(tokens) * CLOSING_SLACK + CLOSING_MARGIN < remaining:
            return None
        self._closing_reason = self._closing_reason or "budget"
        if self.closing is None:
            self.closing = Closing(self._closing_reason, completion.cut, completion.added)
        candidates = [tokens[0], *self.tokenizer.encode(completion.text[0], add_special_tokens=False)[:1]]
        return next((token for token in candidates if self._allowed(token)), None)

    def _allowed(self, token: int) -> bool:
        if self._matcher is None:
            return True
        self._matcher.fill_next_token_bitmask(self._bitmask, 0)
        word = int(self._bitmask[0, token // 32])
        return bool((word >> (token % 32)) & 1)

    def _mask(self, scores: Any) -> Any:
        if self._matcher is None:
            return scores
        import xgrammar as xgr

        self._matcher.fill_next_token_bitmask(self._bitmask, 0)
        device = scores.device
        masked = scores if device.type in ("cpu", "cuda") else scores.to("cpu")
        xgr.apply_token_bitmask_inplace(masked, self._bitmask.to(masked.device))
        masked[:, self._banned.to(masked.device)] = -math.inf
        return masked.to(device)

    def _force(self, scores: Any, token: int) -> Any:
        forced = self._torch.full_like(scores, -math.inf)
        forced[:, token] = 0.0
        return forced


class BatchDecoder:
    """One :class:`StructuredDecoder` per row of a batched ``generate`` call."""

    def __init__(self, decoders: list[StructuredDecoder]):
        self.decoders = decoders

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        for row, decoder in enumerate(self.decoders):
            scores[row : row + 1] = decoder(input_ids[row : row + 1], scores[row : row + 1])
        return scores
