"""``qvl check``: the pre-commit / CI gate for documents kept in a repository.

Each document is matched to the first rule whose globs fit it, extracted (or its result reused
from a sidecar ``<document>.qvl.json`` or the result cache, when content and settings are
unchanged, so the model is not even loaded), and judged against the rule.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from qvl_cli.commands.extract import ExtractRun
from qvl_cli.errors import EXIT_INVALID, EXIT_USAGE, EXIT_VALID, InputError, SchemaError
from qvl_cli.gate.config import CheckConfig, ConfigError, Rule, find_config
from qvl_cli.gate.report import write_report
from qvl_cli.gate.rules import ERROR, Finding, evaluate
from qvl_cli.pages.discover import find_documents
from qvl_cli.pages.inputs import file_sha256
from qvl_cli.runs.cache import document_key
from qvl_cli.runs.records import Envelope
from qvl_cli.runs.targets import write_output
from qvl_cli.runs.writers import dumps
from qvl_cli.settings import Layer, env_layer

log = logging.getLogger(__name__)
SIDECAR_SUFFIX = ".qvl.json"


class Collect:
    """A sink that keeps records by file name."""

    def __init__(self) -> None:
        self.records: dict[str, Envelope] = {}

    def write(self, record: Envelope) -> None:
        self.records[record.file] = record


def sidecar_path(document: Path) -> Path:
    return document.with_name(document.name + SIDECAR_SUFFIX)


def rule_run(config: CheckConfig, rule: Rule, *later: Layer) -> ExtractRun:
    """The extraction a rule asks for: its settings over the configuration's, under ``later``
    layers (the environment, the command line). A schema or prompt the rule names that cannot be
    loaded is a configuration error naming the configuration file and the rule."""
    try:
        return ExtractRun.prepare(config.schema_ref(rule), config.settings(rule, *later))
    except SchemaError as exc:
        raise ConfigError(f"rules[{config.rules.index(rule)}]: {exc}", path=config.source) from None


def _opens(run: ExtractRun, document: Path) -> bool:
    """Whether the document opens and is not password-protected (else no sidecar is used and
    extraction reports the problem)."""
    try:
        return not run.extractor.engine.probe(document)
    except InputError:
        return False


def reuse_sidecar(document: Path, identity: dict[str, Any]) -> Envelope | None:
    """The sidecar's record when it belongs to this very content and configuration."""
    import json

    sidecar = sidecar_path(document)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        key = document_key(file_sha256(document), identity)
    except (OSError, ValueError):
        return None
    return Envelope.from_dict(record) if isinstance(record, dict) and record.get("key") == key else None


def results_for(run: ExtractRun, documents: Sequence[Path], write_sidecars: bool) -> dict[str, Envelope]:
    """Records for the documents of one rule: sidecars first, then cache or model."""
    collected = Collect()
    missing = []
    for document in documents:
        record = reuse_sidecar(document, run.identity) if _opens(run, document) else None
        if record is not None:
            collected.records[str(document)] = replace(record, file=str(document), cached=True)
        else:
            missing.append(document)
    if missing:
        try:
            run.extractor.runner(collected).run(missing)
        finally:
            run.extractor.close()  # no render worker outlives the rule
    if write_sidecars:
        for document in missing:
            record = collected.records.get(str(document))
            if record is not None and not record.failed:
                write_output(sidecar_path(document), dumps(record.to_dict(), pretty=True) + "\n")
    return collected.records


def check_documents(
    paths: Sequence[Path], config_file: Path | None, fmt: str, write_sidecars: bool, flags: Layer | None = None
) -> int:
    """Judge every document that a rule covers; 1 when any check fails, 2 when a named file is
    missing or nothing was found, else 0. Folders are searched recursively.

    Settings come from the configuration (top level, then the rule), then the environment, then
    ``flags``; every rule's settings are built (and checked) before any document is extracted.
    """
    config = find_config(Path.cwd(), config_file)
    later = (env_layer(), flags or Layer())
    groups: dict[int, list[Path]] = {}
    findings: list[Finding] = []
    names: list[str] = []
    uncovered: list[Path] = []
    missing = False
    for path in find_documents(paths, recursive=True):
        if not path.exists():
            missing = True
            names.append(str(path))
            findings.append(Finding(str(path), "", "no such file" + (" (a broken link)" if path.is_symlink() else "")))
            continue
        rule = config.rule_for(path)
        if rule is None:
            log.info("no rule covers %s", path)
            uncovered.append(path)
            continue
        groups.setdefault(config.rules.index(rule), []).append(path)
    runs = {index: rule_run(config, config.rules[index], *later) for index in groups}
    for index, documents in groups.items():
        rule = config.rules[index]
        records = results_for(runs[index], documents, write_sidecars)
        for document in documents:
            names.append(str(document))
            findings += evaluate(records[str(document)], rule, str(document))
    if uncovered and not groups:
        patterns = ", ".join(pattern for rule in config.rules for pattern in rule.files)
        listed = ", ".join(map(str, uncovered[:5])) + (", ..." if len(uncovered) > 5 else "")
        sys.stderr.write(f"qvl: no rule in {config.source} covers {listed} (rules cover {patterns})\n")
    write_report(findings, names, fmt, sys.stdout)
    if missing:
        return EXIT_USAGE
    return EXIT_INVALID if any(f.severity == ERROR for f in findings) else EXIT_VALID
