"""The Python API: what ``qvl extract`` does, in your own program.

>>> from qvl_cli import Extractor, extract
>>> envelope = extract("invoice.pdf", schema="invoice")          # doctest: +SKIP
>>> extractor = Extractor("invoice", max_pixels=500_000)          # doctest: +SKIP
>>> [e.valid for e in extractor.extract_many(["a.pdf", "b.png"])]  # doctest: +SKIP

Settings are keyword arguments named as in ``.qvl.toml`` (``model``, ``backend``, ``base_url``,
``max_pixels``, ``max_new_tokens``...), checked like any other layer; the API itself reads no
setting from the environment or a configuration file (pass ``settings=`` to use them; only the
result cache's folder follows ``QVL_CACHE_DIR``). The command
line runs on this same class.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qvl_cli.backends.contract import create_backend
from qvl_cli.pages.pool import Renderer, open_renderer
from qvl_cli.runs.batch import BatchRunner
from qvl_cli.runs.cache import ResultCache, default_cache_dir, document_key, run_identity
from qvl_cli.runs.document import ExtractOptions
from qvl_cli.runs.document import Extractor as DocumentExtractor
from qvl_cli.runs.records import Envelope
from qvl_cli.schemas.catalog import load_schema
from qvl_cli.schemas.prompts import load_prompt
from qvl_cli.settings import Layer, Settings, SettingsError, all_settings, build_settings

if TYPE_CHECKING:
    from PIL import Image

Source = str | Path | Sequence["Image.Image"]


class Extractor:
    """Extracts documents against one schema; the model loads once, when first needed."""

    def __init__(self, schema: str | Path, *, settings: Settings | None = None, **options: Any) -> None:
        if settings is not None and options:
            raise SettingsError("pass either settings= or keyword settings, not both")
        self.settings = settings if settings is not None else keyword_settings(options)
        schema_doc = load_schema(str(schema))
        prompt = load_prompt(self.settings.decoding.prompt, schema_doc)
        extract_options = ExtractOptions.from_settings(self.settings.render, self.settings.decoding)
        model = self.settings.model
        server = model.backend == "openai"
        self.engine = DocumentExtractor(
            schema_doc,
            prompt,
            extract_options,
            lambda: create_backend(model.backend, model),
            self._renderer(),
            png_data=server,  # the render workers encode the pages the client sends
        )
        self.identity = run_identity(
            schema_doc.sha256, prompt.sha256, model.backend, model, extract_options, self.engine.max_new_tokens
        )
        self.batch_size = self.settings.run.batch_size  # documents per generate call of a local model
        self.in_flight = model.concurrency if server else 1  # documents at a server at once

    def close(self) -> None:
        """Stop the render worker processes (a later document starts new ones)."""
        self.engine.renderer.close()
        self.engine.renderer = self._renderer()

    def _renderer(self) -> Renderer:
        """Render workers, started on first use."""
        render = self.settings.render
        return open_renderer(render.render_workers, render.render_timeout or None)

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def extract(self, source: Source, *, name: str = "<images>") -> Envelope:
        """One document: a path (PDF or image), or its pages as PIL images (named ``name``), read
        in windows of pages when they do not fit ``max_total_pixels`` at ``min_page_pixels``."""
        if isinstance(source, str | Path):
            [envelope] = list(self.extract_many([source]))
            return envelope
        from qvl_cli.evidence.grounding import with_page_text
        from qvl_cli.pages.memory import images_document
        from qvl_cli.pages.workers import plan_document
        from qvl_cli.runs.window_evidence import drawn_here
        from qvl_cli.runs.windows import LoadedDocument, WindowedDocument

        started = time.perf_counter()
        options = self.engine.options
        pages, sha256 = images_document(source, name)  # in this process: images do not go to the workers
        windows = plan_document(pages, options.budget, options.windows)
        document: LoadedDocument = WindowedDocument(pages, windows, drawn_here(pages, options.evidence, sha256))
        if len(windows) == 1:
            document = with_page_text(pages.rendered(0, windows[0].plan), options.evidence, None, sha256)
        envelope = self.engine.extract_document(document, started, sha256)
        return replace(envelope, key=document_key(sha256, self.identity))

    def extract_many(self, paths: Iterable[str | Path]) -> list[Envelope]:
        """Envelopes in input order (the next document renders while the model works; cache and
        ``batch_size`` apply). To handle each as soon as it is ready, see :meth:`runner`."""
        records: list[Envelope] = []
        self.runner(_ListSink(records)).run(Path(path) for path in paths)
        return records

    def runner(
        self,
        sink: Any,
        recorded: dict[str, int] | None = None,
        on_record: Callable[[Envelope], None] | None = None,
    ) -> BatchRunner:
        """A batch runner over this extractor writing into ``sink`` (what the CLI uses)."""
        cache = ResultCache(default_cache_dir()) if self.settings.run.cache else None
        return BatchRunner(
            self.engine, self.identity, sink, cache, recorded, on_record, self.batch_size, in_flight=self.in_flight
        )


def extract(source: Source, schema: str | Path, **options: Any) -> Envelope:
    """Extract one document in one call (the model is loaded for it and released after)."""
    with Extractor(schema, **options) as extractor:
        return extractor.extract(source)


def keyword_settings(options: dict[str, Any]) -> Settings:
    """Settings from keyword arguments named as the configuration file's keys."""
    known = all_settings()
    for name in options:
        if name not in known:
            raise SettingsError(f"unknown setting {name!r}", hint=f"known: {', '.join(known)}")
    return build_settings(Layer(options, {name: name for name in options}))


class _ListSink:
    def __init__(self, records: list[Envelope]) -> None:
        self.records = records

    def write(self, record: Envelope) -> None:
        self.records.append(record)
