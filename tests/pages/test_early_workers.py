"""``qvl render`` starts its render workers before its command line is parsed, and the pool
adopts them."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from render_helpers import BUDGET, alive, long_pdf
from render_hooks import log_task

from qvl_cli.pages import spawn
from qvl_cli.pages.pool import ProcessRenderer, default_workers
from qvl_cli.pages.workers import RenderRequest


@pytest.fixture(autouse=True)
def no_early_workers_left() -> Iterator[None]:
    yield
    spawn.stop_early()


@pytest.mark.parametrize(
    ("args", "env", "count"),
    [
        (["render", "a.pdf", "--out", "o"], None, "default"),
        (["-v", "render", "A.PDF", "--out", "o"], None, "default"),
        (["render", "photo.png", "--out", "o"], None, 1),
        (["render", "a.pdf", "--render-workers", "3"], None, 3),
        (["render", "a.pdf", "--render-workers=0"], None, 0),
        (["render", "a.pdf"], "2", 2),
        (["render", "a.pdf", "--render-workers", "1"], "4", 1),
        (["render", "a.pdf", "--render-workers", "many"], None, 0),
        (["render", "a.pdf", "--render-workers"], None, 0),
        (["render", "a.pdf"], "-1", 0),
        (["render", "a.pdf", "--help"], None, 0),
        (["extract", "a.pdf"], None, 0),
        (["--help"], None, 0),
        ([], None, 0),
    ],
)
def test_how_many_workers_start_early(args: list[str], env: str | None, count: int | str) -> None:
    expected = default_workers() if count == "default" else count
    assert spawn.early_workers(args, env) == expected


def test_the_pool_adopts_the_early_workers_and_sets_them_up(tmp_path: Path) -> None:
    """Two workers started early render a long document with the pool's own setup (its hook
    runs in them); a third started early and not needed is stopped at exit."""
    spawn.prestart(["render", "doc.pdf", "--render-workers", "3"])
    early = [started.process.pid for started in spawn._early]
    log = tmp_path / "tasks.log"
    path = long_pdf(tmp_path / "doc.pdf", 24)
    with ProcessRenderer(2, hook=partial(log_task, str(log))) as pool:
        pool.start()
        adopted = [worker.process.pid for worker in pool._workers]
        document = pool.render(RenderRequest(str(path), BUDGET))
    assert adopted == early[:2]
    assert [page.number for page in document.pages] == list(range(1, 25))
    assert {int(line.split()[0]) for line in log.read_text().splitlines()} == set(adopted)
    [left] = spawn._early
    spawn.stop_early()
    assert not spawn._early and not alive(left.process.pid)


def test_qvl_render_adopts_its_early_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command as users start it (``main``): its pool's workers are the ones started early."""
    import sys

    from qvl_cli import cli

    pids: list[int] = []
    adopt = spawn.adopt

    def adopting() -> spawn.Spawned | None:
        started = adopt()
        pids.append(started.process.pid if started else 0)
        return started

    monkeypatch.setattr("qvl_cli.pages.pool.adopt", adopting)
    pdf = long_pdf(tmp_path / "doc.pdf", 20)
    args = ["render", str(pdf), "--out", str(tmp_path / "out"), "--render-workers", "2"]
    monkeypatch.setattr(sys, "argv", ["qvl", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 0
    assert len(pids) == 2 and 0 not in pids  # both workers were started before the command ran
    assert len(list((tmp_path / "out").glob("*.png"))) == 20
    assert not spawn._early


def test_an_early_worker_that_died_is_replaced(tmp_path: Path) -> None:
    spawn.prestart(["render", "doc.pdf", "--render-workers", "1"])
    [started] = spawn._early
    started.process.kill()
    started.process.wait()
    with ProcessRenderer(1) as pool:
        document = pool.render(RenderRequest(str(long_pdf(tmp_path / "doc.pdf", 3)), BUDGET))
        assert [worker.process.pid for worker in pool._workers] != [started.process.pid]
    assert [page.number for page in document.pages] == [1, 2, 3]
