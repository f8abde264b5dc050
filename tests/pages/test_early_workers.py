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


PDF = ["render", "a.pdf", "--out", "o"]


@pytest.mark.parametrize(
    ("args", "env", "count"),
    [
        (PDF, {}, "default"),
        (["-v", "render", "A.PDF", "--out", "o"], {}, "default"),
        (["render", "photo.png", "--out", "o"], {}, 1),
        (["render", "photo.png", "--out", "pages.pdf"], {}, 1),  # an option's value is no input
        (["render", "-v", "a.pdf", "--out", "o"], {}, 1),  # it may be: one worker, the pool starts the rest
        ([*PDF, "--render-workers", "1"], {}, 1),
        ([*PDF, "--render-workers=0"], {}, 0),
        ([*PDF, "--render-workers", "2", "--render-workers", "1"], {}, 1),  # the last one counts
        ([*PDF, "--render-workers", "99999"], {}, "default"),  # at most the default now
        (["render", "photo.png", "--render-workers", "8"], {}, 1),
        (PDF, {"QVL_RENDER_WORKERS": "1"}, 1),
        ([*PDF, "--render-workers", "1"], {"QVL_RENDER_WORKERS": "0"}, 1),
        ([*PDF, "--render-workers", "many"], {}, 0),
        ([*PDF, "--render-workers"], {}, 0),
        (PDF, {"QVL_RENDER_WORKERS": "-1"}, 0),
        ([*PDF, "--help"], {}, 0),
        (["--version", "render", "a.pdf"], {}, 0),
        (["extract", "a.pdf"], {}, 0),
        (["--help"], {}, 0),
        ([], {}, 0),
    ],
)
def test_how_many_workers_start_early(
    args: list[str], env: dict[str, str], count: int | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no configuration file
    expected = default_workers() if count == "default" else count
    assert spawn.early_workers(args, env) == expected


@pytest.mark.parametrize(("config", "count"), [("render_workers = 0", 0), ("render_workers = 1", 1), ("[[[", 0)])
def test_the_configuration_file_counts_too(
    config: str, count: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".qvl.toml").write_text(config + "\n")
    monkeypatch.chdir(tmp_path)
    assert spawn.early_workers(PDF, {}) == count
    assert spawn.early_workers(PDF, {"QVL_RENDER_WORKERS": "2"}) == min(2, default_workers())


def test_workers_that_cannot_start_early_are_left_to_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """The second start fails (no processes left): the first worker is stopped, nothing raised."""
    started: list[spawn.Spawned] = []
    real = spawn.spawn

    def one_then_none() -> spawn.Spawned:
        if started:
            raise OSError(11, "Resource temporarily unavailable")
        started.append(real())
        return started[0]

    monkeypatch.setattr(spawn, "spawn", one_then_none)
    spawn.prestart(["render", "a.pdf", "--render-workers", "2"])
    assert not spawn._early and started[0].process.returncode is not None


@pytest.mark.skipif(default_workers() < 2, reason="needs 2 cores: one worker adopted, one left over")
def test_the_pool_adopts_the_early_workers_and_sets_them_up(tmp_path: Path) -> None:
    """A worker started early renders a long document with the pool's own setup (its hook runs
    in it); the other started early and not needed is stopped at exit."""
    spawn.prestart(["render", "doc.pdf", "--render-workers", "2"])
    early = [started.process.pid for started in spawn._early]
    log = tmp_path / "tasks.log"
    path = long_pdf(tmp_path / "doc.pdf", 24)
    with ProcessRenderer(1, hook=partial(log_task, str(log))) as pool:
        pool.start()
        adopted = [worker.process.pid for worker in pool._workers]
        document = pool.render(RenderRequest(str(path), BUDGET))
    assert len(early) == 2 and adopted == early[:1]
    assert [page.number for page in document.pages] == list(range(1, 25))
    assert {int(line.split()[0]) for line in log.read_text().splitlines()} == set(adopted)
    [left] = spawn._early
    spawn.stop_early()
    assert not spawn._early and not alive(left.process.pid)


def test_qvl_render_adopts_its_early_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command as users start it (``qvl``, :mod:`qvl_cli.launch`): its pool's workers are the
    ones started early."""
    import sys

    from qvl_cli import launch

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
        launch.main()
    assert exit_.value.code == 0
    assert len(pids) == 2 and 0 not in pids[: default_workers()]  # started before the command ran
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
