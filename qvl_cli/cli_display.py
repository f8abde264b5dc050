"""How the command line shows errors and help: every error is one line on stderr, usage errors
(a missing argument, an unknown option, a bad value) included, and help fills the terminal.

Typer prints its usage errors (click's, vendored in typer since 0.26 and derived from the public
:class:`typer.TyperException` since 0.28) as a usage line, a hint and a boxed message, and lays
help out in 80 columns whenever stdout is not a terminal, cutting long option names. :class:`QvlGroup`
(the ``qvl`` group's class) turns usage errors into qvl's one-line form, keeping their exit code
(2); :func:`wide_help` makes help use the terminal's width, or at least :data:`HELP_WIDTH`
(:mod:`qvl_cli.widths`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from typer import TyperException  # the public base of typer's usage errors (its click is private)
from typer.core import TyperGroup

from qvl_cli.widths import help_width


def print_error(message: str) -> None:
    """``qvl: error: message`` as one line on stderr."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]qvl: error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def usage_message(error: TyperException) -> str:
    """Click's message as one line in qvl's style (lower case, no final full stop), pointing to help."""
    text = " ".join(error.format_message().split()).rstrip(".")
    if text[:1].isupper() and not text[1:2].isupper():
        text = text[0].lower() + text[1:]
    ctx: Any = getattr(error, "ctx", None)
    if ctx is not None and ctx.help_option_names:
        see = f"see {ctx.command_path} {max(ctx.help_option_names, key=len)}"
        text = f"{text[:-1]}; {see})" if text.endswith(")") else f"{text} ({see})"
    return text


@contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """A usage error raised inside becomes one line on stderr and its exit code."""
    try:
        yield
    except TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `qvl` alone: click shows the help
            raise
        print_error(usage_message(exc))
        raise typer.Exit(exc.exit_code) from None


class QvlGroup(TyperGroup):
    """The ``qvl`` group: its own options and every command's are parsed with one-line errors."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        with one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)


def wide_help() -> None:
    """Lay out every command's help (``--help``) at :func:`help_width`, decided when it is shown."""
    from typer import core

    for cls in (core.TyperCommand, core.TyperGroup):
        original = cls.format_help
        if getattr(original, "_qvl_wide", False):
            continue

        def format_help(self: Any, ctx: Any, formatter: Any, _original: Any = original) -> None:
            from typer import rich_utils

            rich_utils.MAX_WIDTH = help_width()
            _original(self, ctx, formatter)

        format_help._qvl_wide = True  # type: ignore[attr-defined]
        cls.format_help = format_help  # type: ignore[method-assign]
