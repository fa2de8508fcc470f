"""The optional ML-suggestions hook, against the documented signature
``pixelperfecter_ml.inference.suggest_parameters(image_path, top_k=3)`` (faked here)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from pixelperfecter.core.feedback import read_feedback
from pixelperfecter.tui import ml_hook

from .conftest import TERMINAL, make_app, text_of
from .test_app import settle


@dataclass
class Candidate:
    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    confidence: float


def fake_suggest(image_path, top_k=3):  # type: ignore[no-untyped-def]
    assert isinstance(image_path, Path)
    return [Candidate(8.0, 8.0, 0.0, 0.0, 0.9), {"cell_w": 16.0, "cell_h": 16.0, "offset_x": 0.0, "offset_y": 0.0, "confidence": 0.4},
            (4.0, 4.0, 0.0, 0.0, 0.1), Candidate(99, 99, 0, 0, 0.01)][:top_k]


@pytest.fixture
def fake_ml_module(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    module = types.ModuleType("pixelperfecter_ml.inference")
    module.suggest_parameters = fake_suggest  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pixelperfecter_ml.inference", module)
    monkeypatch.setattr(ml_hook.importlib.util, "find_spec", lambda name: object())
    return module


def test_load_provider_finds_the_documented_function(fake_ml_module, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    provider = ml_hook.load_provider()
    assert provider is not None
    got = provider(tmp_path / "x.png", 3)
    assert [s.rank for s in got] == [1, 2, 3]
    assert (got[1].cell_w, got[2].cell_h, got[0].confidence) == (16.0, 4.0, 0.9)


def test_no_model_means_no_provider(fake_ml_module) -> None:  # type: ignore[no-untyped-def]
    fake_ml_module.model_available = lambda: False
    assert ml_hook.load_provider() is None


def test_no_torch_means_no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ml_hook.importlib.util, "find_spec", lambda name: None)
    assert ml_hook.load_provider() is None


def test_missing_module_means_no_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ml_hook.importlib.util, "find_spec", lambda name: object())

    def refuse(name: str):  # type: ignore[no-untyped-def]
        raise ImportError(name)

    monkeypatch.setattr(ml_hook.importlib, "import_module", refuse)
    assert ml_hook.load_provider() is None


async def test_suggestions_panel_apply_accept_reject(workdir: Path) -> None:
    log = workdir / "notes" / "feedback_log.csv"
    app = make_app(workdir, workdir / "input" / "a_knight.png", ml=ml_hook.wrap(fake_suggest))
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        main = app.main
        assert main.query_one("#ml").display
        assert len(main.suggestions) == 3 and "#1 8.00×8.00" in text_of(main.query_one("#ml"))
        await pilot.press("u", "u")  # apply #1 then #2
        await settle(pilot, app)
        assert main.shown.params.cell_w == 16.0 and main.shown.suggestion_rank == 2
        await pilot.press("d")  # reject #2
        await settle(pilot, app)
        await pilot.press("u", "u")  # #3, then wrap around to #1
        await settle(pilot, app)
        assert main.selected_suggestion == 0 and main.shown.params.cell_w == 8.0
        await pilot.press("a")  # accept #1
        await settle(pilot, app)
    entries = read_feedback(log).entries
    assert [(e.verdict, e.source, e.suggestion_rank, e.cell_w) for e in entries] == [
        ("incorrect", "ml-suggestion", 2, 16.0),
        ("correct", "ml-suggestion", 1, 8.0),
    ]


async def test_a_failing_model_is_reported_not_fatal(workdir: Path) -> None:
    def broken(path: Path, top_k: int = 3) -> list[ml_hook.Suggestion]:
        raise FileNotFoundError("no checkpoint at models/grid.pt")

    app = make_app(workdir, workdir / "input" / "a_knight.png", ml=broken)
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        assert "unavailable" in app.main.ml_status and app.main.suggestions == []
        await pilot.press("a")
        await pilot.pause()
        assert app.is_running and app.main.shown.ok


async def test_auto_probe_shows_the_panel_when_the_module_is_there(workdir: Path, fake_ml_module) -> None:  # type: ignore[no-untyped-def]
    app = make_app(workdir, workdir / "input" / "a_knight.png", ml="auto")
    async with app.run_test(size=TERMINAL) as pilot:
        await settle(pilot, app)
        await settle(pilot, app)
        assert app.main.settings.ml_provider is not None and app.main.query_one("#ml").display
        assert len(app.main.suggestions) == 3


def test_missing_default_model_means_no_provider(fake_ml_module, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fake_ml_module.DEFAULT_MODEL = tmp_path / "not_trained.pt"
    assert ml_hook.load_provider() is None
    fake_ml_module.DEFAULT_MODEL.write_bytes(b"x")
    assert ml_hook.load_provider() is not None


def test_suggestions_show_the_right_grid_probability_when_given() -> None:
    with_p = ml_hook.to_suggestion({"cell_w": 14.7, "cell_h": 14.7, "offset_x": 1.0, "offset_y": 2.0, "confidence": 0.2, "right": 0.93}, 1)
    assert with_p.right == pytest.approx(0.93) and "right p=0.93" in with_p.describe() and "conf" not in with_p.describe()
    assert ml_hook.to_suggestion((42.8, 42.8, 0.0, 0.0, 0.3, 0.04), 2).describe().endswith("right p=0.04")
    plain = ml_hook.to_suggestion(Candidate(8.0, 8.0, 0.0, 0.0, 0.9), 3)
    assert plain.right is None and plain.describe().endswith("conf 0.90")


def test_suggestions_are_ordered_by_the_right_grid_probability() -> None:
    raw = [
        {"cell_w": 42.8, "cell_h": 42.8, "offset_x": 0, "offset_y": 0, "confidence": 0.9, "right": 0.05},
        {"cell_w": 14.7, "cell_h": 14.7, "offset_x": 1, "offset_y": 2, "confidence": 0.3, "right": 0.93},
        {"cell_w": 29.4, "cell_h": 29.4, "offset_x": 1, "offset_y": 2, "confidence": 0.5, "right": 0.20},
    ]
    got = ml_hook.wrap(lambda path, top_k=3: raw)(Path("x.png"), 3)
    assert [s.cell_w for s in got] == [14.7, 29.4, 42.8] and [s.rank for s in got] == [1, 2, 3]
    # Without probabilities for all of them, the model's order stays.
    raw[0].pop("right")
    kept = ml_hook.wrap(lambda path, top_k=3: raw)(Path("x.png"), 3)
    assert [s.cell_w for s in kept] == [42.8, 14.7, 29.4]
