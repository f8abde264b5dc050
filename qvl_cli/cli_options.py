"""Typer options generated from the settings declarations (see :mod:`qvl_cli.settings`).

``@setting_options(ModelSettings, ...)`` adds one option per declared setting to a command, with
its flag, env var (shown in help), help panel and default, and hands the command one ``flags``
:class:`~qvl_cli.settings.Layer` holding only what was given on the command line. Values are
converted and checked by the settings builder, so every layer reports errors the same way.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Annotated, Any

import typer

from qvl_cli.settings import Declared, declared, flag_layer

Command = Callable[..., None]
CONTEXT = "qvl_context"
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


def setting_options(
    *records: type, exclude: tuple[str, ...] = (), helps: Mapping[str, str] | None = None
) -> Callable[[Command], Command]:
    """Give a command (which takes ``flags: Layer``) an option for each setting of ``records``;
    ``helps`` replaces the help text of settings the command uses in its own way."""
    settings = [s for record in records for s in declared(record) if s.name not in exclude]
    own_help = dict(helps or {})

    def decorate(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "flags"]
        generated = [
            inspect.Parameter(s.name, KEYWORD_ONLY, annotation=_annotation(s, own_help.get(s.name)), default=s.default)
            for s in settings
        ]
        context = inspect.Parameter(CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)

        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> None:
            ctx = kwargs.pop(CONTEXT)
            given = {s.name: kwargs.pop(s.name) for s in settings}
            typed = {name: value for name, value in given.items() if _from_command_line(ctx, name)}
            command(*args, flags=flag_layer(typed), **kwargs)

        run.__signature__ = signature.replace(parameters=[*own, *generated, context])  # type: ignore[attr-defined]
        return run

    return decorate


def _from_command_line(ctx: typer.Context, name: str) -> bool:
    """Whether the user typed the option (not its default, nor its env var: the builder reads those)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _annotation(setting: Declared, help_text: str | None = None) -> Any:
    spec = replace(setting.spec, help=help_text) if help_text else setting.spec
    if setting.kind is bool:
        option = typer.Option(f"{setting.flag}/{setting.negative_flag}", help=spec.help, rich_help_panel=spec.panel)
        return Annotated[bool, option]
    metavar = spec.metavar or ("|".join(spec.choices) if spec.choices else "VALUE")
    option = typer.Option(
        *spec.flags or (setting.flag,),
        envvar=spec.env,
        help=spec.help,
        rich_help_panel=spec.panel,
        metavar=metavar,
        show_default=setting.default is not None,
    )
    return Annotated[str | None, option]


def tidy_help() -> None:
    """Show metavars in help as click does, instead of Python types (``<bool>``, ``<list[str]>``)
    and braces (``{paths}``), which typer 0.29 prints for options and arguments without them."""
    from typer import core

    def option_type(self: Any, ctx: Any) -> str | None:
        if self.metavar is not None:
            return str(self.metavar)
        return None if self.is_flag else str(self.type.name).upper()

    def argument_type(self: Any, ctx: Any) -> str | None:
        return None  # the name column already shows the argument's metavar

    def usage_name(self: Any) -> str:
        name = str(self.metavar or self.name).upper()
        name = name if self.required else f"[{name}]"
        return f"{name}..." if self.nargs != 1 else name

    option: Any = getattr(core, "TyperOption", None)
    argument: Any = getattr(core, "TyperArgument", None)
    if option is not None and argument is not None:
        option.display_type_rich = option_type
        argument.display_type_rich = argument_type
        argument._usage_display_name = usage_name
