"""One exception family: every error a user can meet carries a message and an exit code."""

from __future__ import annotations

from pathlib import Path

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_MODEL = 3
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a process stopped by a closed pipe


class QvlError(Exception):
    """Base class: ``str(error)`` is the one-line message shown to users."""

    exit_code = EXIT_USAGE
    kind = "error"

    def __init__(self, message: str, *, path: str | Path | None = None, hint: str | None = None):
        self.path = str(path) if path is not None else None
        self.hint = hint
        self.message = message
        super().__init__(self.render())

    def for_file(self, path: str | Path) -> QvlError:
        """The same error, naming the file it happened to."""
        return type(self)(self.message, path=path, hint=self.hint)

    def render(self) -> str:
        prefix = f"{self.path}: " if self.path else ""
        suffix = f" ({self.hint})" if self.hint else ""
        return f"{prefix}{self.message}{suffix}"


class InputError(QvlError):
    """A document cannot be read: missing, unsupported, corrupt, empty."""

    kind = "input"


class EncryptedDocumentError(InputError):
    """A PDF needs a password that was not given or is wrong."""

    kind = "encrypted"


class PageSelectionError(InputError):
    """``--pages`` does not fit the document."""

    kind = "pages"


class BudgetError(InputError):
    """A page cannot be sized under the pixel budgets (for example, an extreme aspect ratio)."""

    kind = "budget"


class RenderCrashError(InputError):
    """The worker process rendering a document died (a native crash, an abort, the OOM killer)."""

    kind = "crash"


class RenderTimeoutError(InputError):
    """A page took longer than ``--render-timeout`` to render; its worker was stopped."""

    kind = "timeout"


class SchemaError(QvlError):
    """A schema or prompt cannot be found, read or used."""

    kind = "schema"


class ModelError(QvlError):
    """The model cannot be loaded or run."""

    exit_code = EXIT_MODEL
    kind = "model"


class DeviceMemoryError(ModelError):
    """The accelerator ran out of memory on one document."""

    kind = "out_of_memory"


class OutputError(QvlError):
    """Results cannot be written."""

    exit_code = EXIT_MODEL
    kind = "output"


def exit_code_of(kind: str) -> int:
    """The exit code of an error kind as recorded in a result (``"model"`` -> 3), from the classes."""
    pending: list[type[QvlError]] = [QvlError]
    while pending:
        cls = pending.pop()
        if cls.kind == kind:
            return cls.exit_code
        pending += cls.__subclasses__()
    return EXIT_USAGE
