"""Shared fixtures for the TUI tests.

The textual-image cell size is pinned BEFORE ``textual_image.widget`` is imported, so the
geometry is the same everywhere and no terminal is queried (see tools/TUI_TESTING.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from textual_image._terminal import CellSize, get_cell_size

get_cell_size._result = CellSize(10, 20)  # type: ignore[attr-defined]

from pixelperfecter.core import synth  # noqa: E402
from pixelperfecter.core.io import save_png  # noqa: E402

TERMINAL = (160, 48)
CELL = 8


def make_sprite_image(path: Path, seed: int = 1, cells: tuple[int, int] = (16, 12), cell: int = CELL,
                      transparent: bool = False) -> synth.SynthCase:
    """A clean integer-scale fake pixel-art image (deterministic grid) written to ``path``."""
    rng = np.random.default_rng(seed)
    sprite = synth.random_sprite(rng, cells[0], cells[1], transparent)
    deg = synth.Degradation(cell_w=float(cell), cell_h=float(cell), offset_x=0.0, offset_y=0.0)
    case = synth.degrade(sprite, deg, cells[0] * cell, cells[1] * cell, rng)
    save_png(path, case.image, keep_alpha=transparent)
    return case


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder with input/ (three images + a broken one), empty output/ and notes/."""
    (tmp_path / "input").mkdir()
    for i, name in enumerate(("a_knight.png", "b_potion.png", "c_shield.png")):
        make_sprite_image(tmp_path / "input" / name, seed=10 + i)
    return tmp_path


def make_app(workdir: Path, path: Path | None, **kwargs):  # type: ignore[no-untyped-def]
    from pixelperfecter.tui.app import PerfecterApp

    kwargs.setdefault("graphics", "halfblock")
    kwargs.setdefault("ml", "off")
    kwargs.setdefault("browse_root", workdir / "input")
    return PerfecterApp(path, output_dir=workdir / "output", log_path=workdir / "notes" / "feedback_log.csv", **kwargs)


def pytest_collection_modifyitems(config, items) -> None:  # type: ignore[no-untyped-def]
    # textual-image 0.12 calls Pillow's deprecated getdata(); harmless, and not ours to fix.
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:Image.Image.getdata is deprecated:DeprecationWarning"))


def text_of(widget) -> str:  # type: ignore[no-untyped-def]
    """The text a widget draws (what a user reads)."""
    from textual.geometry import Region

    return "\n".join("".join(seg.text for seg in strip) for strip in widget.render_lines(Region(0, 0, *widget.outer_size)))
