"""``qvl render``: the page images the model would see, to tune budgets."""

from __future__ import annotations

from pathlib import Path

from qvl_cli.errors import OutputError
from qvl_cli.pages.pool import open_renderer
from qvl_cli.pages.workers import RenderRequest
from qvl_cli.settings import RenderSettings


def render_pages(path: Path, out: Path, settings: RenderSettings) -> list[Path]:
    """Save every selected page as ``<stem>-p<NNN>.png`` in ``out`` and print a size table.

    The render workers encode the PNGs too, so only the page records come back to this process.
    """
    from rich.console import Console
    from rich.table import Table

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder: {exc.strerror or exc}", path=out) from None
    request = RenderRequest(
        str(path),
        settings.budget(),
        settings.pages,
        settings.password,
        settings.dpi,
        settings.limits(),
        png_dir=str(out),
        keep_pixels=False,
    )
    renderer = open_renderer(settings.render_workers, settings.render_timeout or None)
    try:
        document = renderer.run(request)
    finally:
        renderer.close()
    table = Table(title=f"{path} ({document.page_count} pages)", title_justify="left")
    for column in ("page", "source size", "rendered size", "visual tokens", "file"):
        table.add_column(column, justify="left" if column == "file" else "right")
    written = []
    for page in document.pages:
        target = Path(page.extras["file"])
        written.append(target)
        table.add_row(
            str(page.number),
            "{} x {}".format(*page.source_size),
            "{} x {}".format(*page.size),
            str(page.visual_tokens),
            str(target),
        )
    total_tokens = sum(page.visual_tokens for page in document.pages)
    shrunk = ", pages shrunk to fit --max-total-pixels" if document.plan.shrunk else ""
    table.caption = f"{total_tokens} visual tokens in all{shrunk}"
    Console().print(table)
    return written
