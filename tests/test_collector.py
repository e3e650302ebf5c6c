"""The garbage collector is paused while the command line starts and runs for its work."""

from __future__ import annotations

import gc

import click
import pytest
from conftest import DATA

from melogit_cli import collector
from melogit_cli import estimate as estimate_module
from melogit_cli.cli import _run_cli

EX1 = "melogit c_use i.urban age i.children || district:"


@pytest.fixture(autouse=True)
def collector_restored():
    yield
    gc.unfreeze()
    gc.enable()
    collector._paused = False


def test_pause_then_resume() -> None:
    collector.pause()
    assert not gc.isenabled()
    collector.resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    collector.resume()  # once only
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    collector.pause()
    collector.resume()
    assert not gc.isenabled()


def test_off_while_starting_on_for_the_fit_and_after(monkeypatch, capsys) -> None:
    seen: dict[str, bool] = {}
    parse_args, estimate = click.Command.parse_args, estimate_module.estimate

    def parsing(*args: object) -> object:
        seen["options"] = gc.isenabled()
        return parse_args(*args)

    def fitting(*args: object, **kwargs: object) -> object:
        seen["fit"] = gc.isenabled()
        return estimate(*args, **kwargs)

    monkeypatch.setattr(click.Command, "parse_args", parsing)
    monkeypatch.setattr(estimate_module, "estimate", fitting)
    assert _run_cli(["--data", str(DATA / "bangladesh.csv"), EX1]) == 0
    assert "Log likelihood = -1206.6742" in capsys.readouterr().out
    assert seen == {"options": False, "fit": True}
    assert gc.isenabled()


def test_on_after_a_usage_error(capsys) -> None:
    assert _run_cli(["--no-such-option"]) == 2
    assert "Error: No such option '--no-such-option'." in capsys.readouterr().err
    assert gc.isenabled()
