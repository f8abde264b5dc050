"""``qvl schemas``: the built-in schemas and what they are for."""

from __future__ import annotations

from qvl_cli.schemas.catalog import builtin_schema_names, load_schema


def list_schemas() -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_header=True, pad_edge=False)
    table.add_column("schema", style="bold")
    table.add_column("description")
    for name in builtin_schema_names():
        table.add_row(name, load_schema(name).description)
    Console().print(table)
