"""The settings records: every option of qvl, declared once (type, default, env, flag, help).

A field's name is also its key in ``.qvl.toml`` / ``[tool.qvl]``; names are unique across the
records. Records check themselves when built, so a bad value never reaches torch or a server.

Adding an option is adding one field, for example to :class:`RenderSettings`::

    render_workers: int = setting(1, "Processes rendering PDF pages.", BUDGETS, env="QVL_RENDER_WORKERS", minimum=1)

It is then a flag of every command decorated with ``@setting_options(RenderSettings)``, shown
with its env var in the help panel, a key of the configuration file (top level and per rule),
read from the environment, checked, and in ``Settings.render.render_workers``. A new group of
options is a new record added to ``RECORDS`` and ``Settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from qvl_cli.settings.declare import SettingsError, check_record, setting
from qvl_cli.settings.urls import server_url_problem

if TYPE_CHECKING:
    from qvl_cli.pages.budgets import PixelBudget
    from qvl_cli.pages.rasterize import InputLimits
    from qvl_cli.pages.windows import WindowSettings

DEFAULT_MODEL = "Qwen/Qwen2-VL-2B-Instruct"
PATCH_PIXELS = 28 * 28  # one visual token: the smallest budget that means anything

MODEL = "Model"
SERVER = "Server (--backend openai)"
BUDGETS = "Pixel budgets"
INPUT = "Input"
ANSWERS = "Answers"
RESULTS = "Results"


@dataclass(frozen=True)
class ModelSettings:
    """How to load and run the model."""

    model: str = setting(
        DEFAULT_MODEL, "Hub id or local folder.", MODEL, env="QVL_MODEL", flags=("--model", "-m"), metavar="ID|DIR"
    )
    revision: str | None = setting(None, "Hub branch, tag or commit to pin.", MODEL, metavar="REV")
    quant: str = setting(
        "none", "Load the weights quantized.", MODEL, env="QVL_QUANT", choices=("none", "4bit", "8bit")
    )
    dtype: str = setting(
        "auto", "Weights' precision.", MODEL, env="QVL_DTYPE", choices=("auto", "bfloat16", "float16", "float32")
    )
    device: str = setting("auto", "Where to run.", MODEL, env="QVL_DEVICE", choices=("auto", "cpu", "cuda", "mps"))
    attention: str = setting(
        "auto",
        "Attention implementation.",
        MODEL,
        env="QVL_ATTENTION",
        choices=("auto", "sdpa", "flash_attention_2", "eager"),
    )
    backend: str = setting(
        "transformers", "transformers (local) or openai (a server).", MODEL, env="QVL_BACKEND", metavar="NAME"
    )
    base_url: str | None = setting(None, "OpenAI-compatible server URL.", SERVER, env="QVL_BASE_URL", metavar="URL")
    api_key: str | None = setting(
        None, "Key for the server, if any.", SERVER, env="OPENAI_API_KEY", metavar="KEY", secret=True
    )
    concurrency: int = setting(
        4, "Documents at the server at once.", SERVER, env="QVL_CONCURRENCY", minimum=1, metavar="N"
    )
    timeout: float = setting(
        120.0,
        "Seconds per request to the server.",
        SERVER,
        env="QVL_TIMEOUT",
        more_than=0,
        unit="seconds",
        metavar="SECONDS",
    )
    retries: int = setting(4, "Retries on 429, 5xx and timeouts.", SERVER, env="QVL_RETRIES", minimum=0, metavar="N")

    def __post_init__(self) -> None:
        check_record(self)
        from qvl_cli.backends.contract import backend_names, is_backend

        if not is_backend(self.backend):
            raise SettingsError(f"{self.backend!r} is not one of {', '.join(backend_names())}", key="backend")
        if self.base_url is not None and (problem := server_url_problem(self.base_url)):
            raise SettingsError(problem, key="base_url")
        if self.backend == "openai" and self.quant != "none":
            raise SettingsError(
                f"{self.quant} cannot apply with the openai backend ({{backend}}): the server loads the model",
                key="quant",
                hint="quantize on the server, e.g. vllm serve --quantization, or leave --quant out",
                refers=("backend",),
            )
        if self.backend == "openai" and not self.base_url:
            reason = "the openai backend needs --base-url (env QVL_BASE_URL), e.g. http://127.0.0.1:8000/v1"
            raise SettingsError(reason)

    def identity(self) -> dict[str, Any]:
        """What decides the answers (for cache keys and sidecars): which model, and how it runs
        where qvl runs it; never where a server lives, how it is reached, or the secret.

        A server loads the model itself, so there only the model's name counts. The default name
        also stands for a server's only model (see the openai backend), which then only the
        server's address tells apart: name the model to share results across addresses.
        """
        if self.backend == "openai":
            return {"model": self.model} | ({"server": self.base_url} if self.model == DEFAULT_MODEL else {})
        return {
            "model": self.model,
            "revision": self.revision,
            "quant": self.quant,
            "dtype": self.dtype,
            "device": self.device,
            "attention": self.attention,
        }


@dataclass(frozen=True)
class RenderSettings:
    """How documents become page images: budgets, resolution, page selection, limits."""

    min_pixels: int = setting(
        56 * 56, "Smallest page size in pixels.", BUDGETS, env="QVL_MIN_PIXELS", minimum=PATCH_PIXELS, metavar="N"
    )
    max_pixels: int = setting(
        28 * 28 * 1280,
        "Largest page size in pixels (28x28 pixels = 1 visual token).",
        BUDGETS,
        env="QVL_MAX_PIXELS",
        minimum=PATCH_PIXELS,
        metavar="N",
    )
    max_total_pixels: int = setting(
        28 * 28 * 16384,
        "Cap for all pages of a document together; pages shrink evenly to fit (0: no cap).",
        BUDGETS,
        env="QVL_MAX_TOTAL_PIXELS",
        minimum=0,
        metavar="N",
    )
    min_page_pixels: int = setting(
        28 * 28 * 512,
        "Legibility floor: no page is sent smaller; long documents are read in windows of pages instead.",
        BUDGETS,
        env="QVL_MIN_PAGE_PIXELS",
        minimum=28 * 28 * 256,
        metavar="N",
    )
    window_pages: int = setting(
        0,
        "At most this many pages a window (0: as many as fit --max-total-pixels at the floor).",
        BUDGETS,
        env="QVL_WINDOW_PAGES",
        minimum=0,
        metavar="N",
    )
    window_overlap: int = setting(
        1,
        "Pages shared by neighbouring windows (items read twice there are kept once).",
        BUDGETS,
        env="QVL_WINDOW_OVERLAP",
        minimum=0,
        metavar="N",
    )
    dpi: float = setting(
        200.0, "Native resolution of PDF pages before budgets apply.", BUDGETS, minimum=1, metavar="DPI"
    )
    pages: str | None = setting(None, "Pages to use, e.g. '1-3,7' or '2-'.", INPUT, metavar="RANGES")
    password: str | None = setting(
        None, "Password of encrypted PDFs.", INPUT, env="QVL_PDF_PASSWORD", in_file=False, metavar="PW", secret=True
    )
    max_pages: int = setting(
        2000,
        "Refuse documents with more selected pages (0: no limit).",
        INPUT,
        env="QVL_MAX_PAGES",
        minimum=0,
        metavar="N",
    )
    max_file_size: int = setting(
        1024,
        "Refuse files larger than this many MiB (0: no limit).",
        INPUT,
        env="QVL_MAX_FILE_SIZE",
        minimum=0,
        metavar="MIB",
    )
    render_workers: int | None = setting(
        None,
        "Processes that render pages (default: the cores, at most 8; 0: render in the qvl process).",
        INPUT,
        env="QVL_RENDER_WORKERS",
        minimum=0,
        metavar="N",
    )
    render_timeout: float = setting(
        120.0,
        "Seconds a page may take to render (or to OCR) before its document fails (0: no limit; needs workers).",
        INPUT,
        env="QVL_RENDER_TIMEOUT",
        minimum=0,
        metavar="SECONDS",
    )
    png_compression: int = setting(
        1,
        "zlib level of the PNG files: 1 fastest, 9 smallest, 0 none (the pixels are the same at every level).",
        RESULTS,
        env="QVL_PNG_COMPRESSION",
        minimum=0,
        maximum=9,
        metavar="0-9",
    )

    def __post_init__(self) -> None:
        check_record(self)
        if self.max_pixels < self.min_pixels:
            reason = f"{self.max_pixels} is smaller than the smallest page size {self.min_pixels} ({{min_pixels}})"
            converse = f"{self.min_pixels} is larger than the largest page size {self.max_pixels} ({{max_pixels}})"
            raise SettingsError(reason, key="max_pixels", refers=("min_pixels",), converse=("min_pixels", converse))
        if 0 < self.max_total_pixels < PATCH_PIXELS:
            raise SettingsError(f"must be 0 (no cap) or at least {PATCH_PIXELS}", key="max_total_pixels")
        if self.window_pages and self.window_overlap >= self.window_pages:
            length = f"the window length {self.window_pages} ({{window_pages}})"
            reason = f"{self.window_overlap} must be smaller than {length}"
            converse = f"{self.window_pages} must be larger than the overlap {self.window_overlap} ({{window_overlap}})"
            raise SettingsError(
                reason, key="window_overlap", refers=("window_pages",), converse=("window_pages", converse)
            )

    def budget(self) -> PixelBudget:
        from qvl_cli.pages.budgets import PixelBudget

        return PixelBudget(self.min_pixels, self.max_pixels, self.max_total_pixels or None)

    def windows(self) -> WindowSettings:
        from qvl_cli.pages.windows import WindowSettings

        return WindowSettings(self.min_page_pixels, self.window_pages or None, self.window_overlap)

    def limits(self) -> InputLimits:
        from qvl_cli.pages.rasterize import InputLimits

        return InputLimits(self.max_pages or None, self.max_file_size * 2**20 or None)


@dataclass(frozen=True)
class DecodingSettings:
    """How the answer is asked for, decoded and checked."""

    prompt: str | None = setting(
        None, "Built-in prompt name or a text file (default: by schema).", ANSWERS, metavar="NAME|FILE"
    )
    max_new_tokens: int | None = setting(
        None, "Most tokens the model may write (default: derived from the schema).", ANSWERS, minimum=1, metavar="N"
    )
    constrain: bool = setting(
        True, "Decode under the schema's grammar, so the answer is always valid JSON of its shape.", ANSWERS
    )
    reasks: int = setting(
        1, "Times to re-ask with the validation errors.", ANSWERS, flags=("--reask",), minimum=0, metavar="N"
    )
    min_confidence: float | None = setting(
        None, "Warn about fields whose confidence is below this.", ANSWERS, minimum=0, maximum=1, metavar="P"
    )
    evidence: str = setting(
        "auto",
        "Locate every value on its page: text layer, else OCR (auto) | text | ocr | off.",
        ANSWERS,
        env="QVL_EVIDENCE",
        choices=("auto", "text", "ocr", "off"),
    )
    require_evidence: bool = setting(
        False, "Values not found in the document are errors (the result is invalid).", ANSWERS
    )

    def __post_init__(self) -> None:
        check_record(self)
        if self.require_evidence and self.evidence == "off":
            reason = "needs evidence auto, text or ocr, not off ({evidence})"
            raise SettingsError(reason, key="require_evidence", refers=("evidence",))


@dataclass(frozen=True)
class RunSettings:
    """How a batch runs: documents per model call, result cache."""

    batch_size: int = setting(
        1,
        "Documents per generate call (faster on a GPU); records keep input order.",
        MODEL,
        env="QVL_BATCH_SIZE",
        minimum=1,
        metavar="N",
    )
    cache: bool = setting(True, "Reuse results for unchanged documents (cache folder: env QVL_CACHE_DIR).", RESULTS)

    def __post_init__(self) -> None:
        check_record(self)


@dataclass(frozen=True)
class Settings:
    """Every setting of a run, by record."""

    model: ModelSettings = field(default_factory=ModelSettings)
    render: RenderSettings = field(default_factory=RenderSettings)
    decoding: DecodingSettings = field(default_factory=DecodingSettings)
    run: RunSettings = field(default_factory=RunSettings)


RECORDS: dict[str, type] = {
    "model": ModelSettings,
    "render": RenderSettings,
    "decoding": DecodingSettings,
    "run": RunSettings,
}
