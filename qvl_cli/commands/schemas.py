"""``qvl schemas``: the built-in schemas and what they are for, or one of them in full."""

from __future__ import annotations

from qvl_cli.schemas.catalog import builtin_schema_names, load_schema


def list_schemas() -> None:
    from rich.table import Table

    from qvl_cli.widths import stdout_console

    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("schema", style="bold")
    table.add_column("description")
    for name in builtin_schema_names():
        table.add_row(name, load_schema(name).description)
    stdout_console(table).print(table)


def print_schema(name: str) -> None:
    """Print a built-in schema (or a schema file) as JSON."""
    import json
    import sys

    sys.stdout.write(json.dumps(load_schema(name).document, ensure_ascii=False, indent=2) + "\n")
