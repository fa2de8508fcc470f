"""Labelled real images (``../shared/realworld``) and the contact sheet of zoomed crops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..runner import one_line as _one_line
from .results import RealLabel, RealResult, parse_labels

if TYPE_CHECKING:
    from ..core.types import Reconstruction

SHEET_CROP = 160
SHEET_ZOOM = 2
SHEET_PANEL = SHEET_CROP * SHEET_ZOOM
SHEET_GAP = 8
SHEET_LABEL_H = 26
SHEET_HEADER_H = 34
SHEET_ROW_H = SHEET_LABEL_H + SHEET_PANEL + SHEET_GAP
SHEET_TITLES = ("original (busiest 160px crop x2)", "grid overlay", "diff overlay (red = mismatch)", "reconstruction (whole)")
SHEET_WIDTH = SHEET_GAP + len(SHEET_TITLES) * (SHEET_PANEL + SHEET_GAP)
SHEET_BG = (24, 24, 28)


def sheet_height(n_rows: int) -> int:
    """Pixel height of a contact sheet with ``n_rows`` image rows."""
    return SHEET_HEADER_H + n_rows * SHEET_ROW_H


@dataclass
class RealOutcome:
    result: RealResult
    panels: list[np.ndarray]  # SHEET_TITLES order, each (SHEET_PANEL, SHEET_PANEL, 3) uint8 RGB


def find_realworld_dir(explicit: Path | None = None) -> Path | None:
    """``explicit``, else ``../shared/realworld`` beside the repo root or the cwd, if it exists."""
    if explicit is not None:
        return explicit
    repo_root = Path(__file__).resolve().parents[3]
    for base in (repo_root, Path.cwd()):
        candidate = (base / ".." / "shared" / "realworld").resolve()
        if (candidate / "labels.jsonl").is_file():
            return candidate
    return None


def load_labels(directory: Path) -> list[RealLabel]:
    path = directory / "labels.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no labels.jsonl in the real-world folder")
    return parse_labels(path.read_text(encoding="utf-8"), str(path))


def evaluate_real(job: tuple[str, RealLabel, float]) -> RealOutcome:
    """Reconstruct one labelled image and draw its contact-sheet panels (run in pool workers)."""
    from ..core.pipeline import reconstruct_file

    path, label, tolerance = job
    base: dict[str, Any] = dict(file=label.file, kind=label.kind, confidence=label.confidence,
                label_cell_w=label.cell_w, label_cell_h=label.cell_h, cell_tolerance=tolerance)
    try:
        result = reconstruct_file(path)
    except Exception as exc:
        failed = RealResult(**base, cell_w=None, cell_h=None, diff_pct=None, error=_one_line(exc))
        return RealOutcome(failed, [_placeholder("cannot load")] * len(SHEET_TITLES))
    grid = result.grid
    real = RealResult(
        **base,
        cell_w=None if grid is None else grid.cell_w,
        cell_h=None if grid is None else grid.cell_h,
        diff_pct=None if result.metrics is None else result.metrics.diff_pct,
        error=None if result.ok else (result.error or "no grid"),
    )
    return RealOutcome(real, sheet_panels(result))


def sheet_panels(result: Reconstruction) -> list[np.ndarray]:
    """Original crop, grid overlay crop, diff overlay crop (all zoomed) and the whole reconstruction."""
    from ..core import render

    image = result.image
    shown = _on_checker(image)
    x0, y0 = busiest_crop_origin(shown)
    panels = [_crop_panel(shown, x0, y0)]
    if result.grid is None or result.sprite is None:
        return panels + [_placeholder("no grid")] * 3
    panels.append(_crop_panel(render.grid_overlay(image, result.grid)[..., :3], x0, y0))
    panels.append(_crop_panel(render.diff_overlay(image, result.grid, result.sprite)[..., :3], x0, y0))
    panels.append(_fit_panel(_on_checker(result.sprite)))
    return panels


def busiest_crop_origin(rgb: np.ndarray, size: int = SHEET_CROP, step: int = 16) -> tuple[int, int]:
    """Top-left of the ``size`` square with the most colour edges, preferring the centre on ties.

    A plain centre crop often lands on empty background (icon sheets, small sprites), where
    a grid overlay shows nothing; the busiest square shows the cells best.
    """
    h, w = rgb.shape[:2]
    if h <= size and w <= size:
        return 0, 0
    grey = rgb.astype(np.float32).mean(axis=2)
    edges = np.zeros((h + 1, w + 1), np.float64)
    edges[1:, 1:] = np.abs(np.diff(grey, axis=1, prepend=grey[:, :1])) + np.abs(np.diff(grey, axis=0, prepend=grey[:1]))
    integral = edges.cumsum(axis=0).cumsum(axis=1)
    ys = np.unique(np.r_[np.arange(0, max(1, h - size + 1), step), max(0, h - size)])
    xs = np.unique(np.r_[np.arange(0, max(1, w - size + 1), step), max(0, w - size)])
    y1 = np.minimum(ys + size, h)[:, None]
    x1 = np.minimum(xs + size, w)[None, :]
    sums = integral[y1, x1] - integral[ys[:, None], x1] - integral[y1, xs[None, :]] + integral[ys[:, None], xs[None, :]]
    # A mild pull to the centre so that equally busy squares resolve to the middle.
    cy, cx = (h - size) / 2, (w - size) / 2
    dist = np.hypot((ys[:, None] - cy) / max(h, 1), (xs[None, :] - cx) / max(w, 1))
    iy, ix = np.unravel_index(np.argmax((sums + 1.0) * (1.0 - 0.25 * dist)), sums.shape)
    return int(xs[ix]), int(ys[iy])


def _on_checker(rgba: np.ndarray, square: int = 8) -> np.ndarray:
    """RGB with transparency shown as a light checkerboard."""
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where(((yy // square + xx // square) % 2) == 0, 200.0, 235.0)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + checker[..., None] * (1 - alpha)
    shown: np.ndarray = np.clip(rgb, 0, 255).round().astype(np.uint8)
    return shown


def _blank_panel() -> np.ndarray:
    return np.full((SHEET_PANEL, SHEET_PANEL, 3), 60, np.uint8)


def _crop_panel(rgb: np.ndarray, x0: int, y0: int) -> np.ndarray:
    crop = rgb[y0 : y0 + SHEET_CROP, x0 : x0 + SHEET_CROP]
    zoomed = np.repeat(np.repeat(crop, SHEET_ZOOM, axis=0), SHEET_ZOOM, axis=1)
    panel = _blank_panel()
    panel[: zoomed.shape[0], : zoomed.shape[1]] = zoomed
    return panel


def _fit_panel(rgb: np.ndarray) -> np.ndarray:
    """Nearest-neighbour scale to fit the panel (integer factor when it fits), centred."""
    import cv2

    h, w = rgb.shape[:2]
    factor = SHEET_PANEL / max(h, w)
    if factor >= 1:
        factor = int(factor)
    new_w, new_h = max(1, int(w * factor)), max(1, int(h * factor))
    scaled = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_NEAREST)
    panel = _blank_panel()
    top, left = (SHEET_PANEL - new_h) // 2, (SHEET_PANEL - new_w) // 2
    panel[top : top + new_h, left : left + new_w] = scaled
    return panel


def _placeholder(text: str) -> np.ndarray:
    panel = _blank_panel()
    _put_text(panel, text, (SHEET_PANEL // 2 - 40, SHEET_PANEL // 2), (230, 230, 230))
    return panel


def _put_text(canvas: np.ndarray, text: str, origin: tuple[int, int], colour: tuple[int, int, int], scale: float = 0.5) -> None:
    import cv2

    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def sheet_label(result: RealResult) -> str:
    ours = "no grid" if result.cell_w is None or result.cell_h is None else f"{result.cell_w:.2f}x{result.cell_h:.2f}"
    err = result.cell_error
    verdict = "OK" if result.ok else "WRONG"
    err_text = "" if err is None else f" ({err * 100:.2f}%)"
    name = result.file if len(result.file) <= 70 else result.file[:67] + "..."
    return f"{name} | label {result.label_cell_w:.2f}x{result.label_cell_h:.2f} | ours {ours} | {verdict}{err_text} | {result.group}"


def build_contact_sheet(outcomes: Sequence[RealOutcome]) -> np.ndarray:
    """One row per image: a label strip, then the panels side by side (RGB uint8)."""
    sheet = np.zeros((sheet_height(len(outcomes)), SHEET_WIDTH, 3), np.uint8)
    sheet[:] = SHEET_BG
    for i, title in enumerate(SHEET_TITLES):
        _put_text(sheet, title, (SHEET_GAP + i * (SHEET_PANEL + SHEET_GAP), SHEET_HEADER_H - 12), (255, 255, 255))
    for row, outcome in enumerate(outcomes):
        top = SHEET_HEADER_H + row * SHEET_ROW_H
        colour = (120, 230, 120) if outcome.result.ok else (255, 110, 110)
        _put_text(sheet, sheet_label(outcome.result), (SHEET_GAP, top + SHEET_LABEL_H - 8), colour, 0.45)
        for i, panel in enumerate(outcome.panels):
            left = SHEET_GAP + i * (SHEET_PANEL + SHEET_GAP)
            sheet[top + SHEET_LABEL_H : top + SHEET_LABEL_H + SHEET_PANEL, left : left + SHEET_PANEL] = panel
    return sheet


def write_contact_sheet(path: Path, outcomes: Sequence[RealOutcome]) -> Path:
    from ..core.io import save_png

    rgb = build_contact_sheet(outcomes)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return save_png(path, rgba, keep_alpha=False)


# The README's palette figure: sprites scaled up this many times, palette swatches this big.
PALETTE_FIGURE_ZOOM = 4
PALETTE_SWATCH = 12


def palette_figure(image: Path, out: Path, settings: Sequence[str | int | None] = (None, "auto", 16, 8)) -> Path:
    """``docs/palette_before_after.png``: the input, then the sprite under each ``--colors`` setting
    (None: no reduction), each zoomed nearest-neighbour with its colour count and palette."""
    import cv2

    from ..core import quantize
    from ..core.io import load_image, save_png
    from ..core.pipeline import reconstruct
    from ..core.types import ReconstructParams

    loaded = load_image(image)
    panels: list[tuple[str, np.ndarray, np.ndarray]] = []
    for setting in settings:
        params = ReconstructParams(max_colors=setting if isinstance(setting, int) else None, colors_auto=setting == "auto")
        rec = reconstruct(loaded.rgba, params, has_alpha=loaded.has_alpha)
        if rec.sprite is None or rec.metrics is None:
            raise ValueError(f"{image}: no grid found")
        colors, counts = quantize.colour_counts([rec.sprite])
        ranked = colors[np.lexsort((np.arange(len(counts)), -counts))]
        name = "no reduction" if setting is None else f"--colors {setting}"
        err = f", max error {rec.metrics.palette_error:.1f}" if rec.metrics.palette_error is not None else ""
        panels.append((f"{name}: {rec.metrics.n_colors} colours{err}", rec.sprite, ranked))
    sprite_h, sprite_w = panels[0][1].shape[:2]
    pw, ph = sprite_w * PALETTE_FIGURE_ZOOM, sprite_h * PALETTE_FIGURE_ZOOM
    per_row = max(1, pw // PALETTE_SWATCH)
    strip_h = PALETTE_SWATCH * int(np.ceil(max(len(p[2]) for p in panels) / per_row))
    label_h, gap = 28, 12
    source = cv2.resize(loaded.rgba[..., :3], (pw, ph), interpolation=cv2.INTER_AREA)
    width = gap + (len(panels) + 1) * (pw + gap)
    sheet = np.full((label_h + ph + gap + strip_h + gap, width, 3), SHEET_BG, np.uint8)
    _put_text(sheet, f"input {loaded.width}x{loaded.height} (scaled)", (gap, label_h - 9), (255, 255, 255), 0.45)
    sheet[label_h : label_h + ph, gap : gap + pw] = source
    for i, (title, sprite, ranked) in enumerate(panels, start=1):
        left = gap + i * (pw + gap)
        _put_text(sheet, title, (left, label_h - 9), (255, 255, 255), 0.45)
        rgb = np.repeat(np.repeat(sprite[..., :3], PALETTE_FIGURE_ZOOM, axis=0), PALETTE_FIGURE_ZOOM, axis=1)
        sheet[label_h : label_h + ph, left : left + pw] = rgb
        for k, colour in enumerate(ranked):
            y = label_h + ph + gap + (k // per_row) * PALETTE_SWATCH
            x = left + (k % per_row) * PALETTE_SWATCH
            sheet[y : y + PALETTE_SWATCH - 1, x : x + PALETTE_SWATCH - 1] = colour
    rgba = np.concatenate([sheet, np.full(sheet.shape[:2] + (1,), 255, np.uint8)], axis=2)
    return save_png(out, rgba, keep_alpha=False)
TRANSPARENCY_TITLES = ("input", "reconstruction", "--transparent auto (over a checkerboard)")


def transparency_figure(paths: Sequence[Path]) -> np.ndarray:
    """Before/after of background removal (docs/transparency_before_after.png): per image the
    input, the reconstruction and the reconstruction with ``--transparent auto``, nearest-neighbour."""
    from ..core.pipeline import reconstruct_file
    from ..core.types import ReconstructParams

    rows = []
    for path in paths:
        plain = reconstruct_file(path, ReconstructParams())
        clear = reconstruct_file(path, ReconstructParams(transparent="auto"))
        if plain.sprite is None or clear.sprite is None or clear.metrics is None:
            continue
        cells = clear.sprite.shape[0] * clear.sprite.shape[1]
        label = f"{path.name[:48]} | background {clear.metrics.background} | {clear.metrics.transparent_cells / cells:.0%} of {cells} cells clear"
        rows.append((label, [_fit_panel(_on_checker(plain.image)), _fit_panel(_on_checker(plain.sprite, 1)), _fit_panel(_on_checker(clear.sprite, 1))]))
    width = SHEET_GAP + len(TRANSPARENCY_TITLES) * (SHEET_PANEL + SHEET_GAP)
    sheet = np.zeros((SHEET_HEADER_H + len(rows) * SHEET_ROW_H, width, 3), np.uint8)
    sheet[:] = SHEET_BG
    for i, title in enumerate(TRANSPARENCY_TITLES):
        _put_text(sheet, title, (SHEET_GAP + i * (SHEET_PANEL + SHEET_GAP), SHEET_HEADER_H - 12), (255, 255, 255))
    for row, (label, panels) in enumerate(rows):
        top = SHEET_HEADER_H + row * SHEET_ROW_H
        _put_text(sheet, label, (SHEET_GAP, top + SHEET_LABEL_H - 8), (230, 230, 230), 0.45)
        for i, panel in enumerate(panels):
            left = SHEET_GAP + i * (SHEET_PANEL + SHEET_GAP)
            sheet[top + SHEET_LABEL_H : top + SHEET_LABEL_H + SHEET_PANEL, left : left + SHEET_PANEL] = panel
    return sheet
# --------------------------------------------------------------------------- sprite sheets

SHEET_FIGURE_ROW = 360  # px height of one row of the README's sheet figure
SHEET_FIGURE_GAP = 12


def _fit_nearest(rgb: np.ndarray, height: int) -> np.ndarray:
    import cv2

    scale = height / rgb.shape[0]
    size = (max(1, int(round(rgb.shape[1] * scale))), height)
    fitted: np.ndarray = cv2.resize(rgb, size, interpolation=cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA)
    return fitted


def _on_grey(rgba: np.ndarray) -> np.ndarray:
    """RGBA over mid grey (the sheet's gaps are transparent)."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    out: np.ndarray = (rgba[..., :3].astype(np.float32) * alpha + 128.0 * (1 - alpha)).round().astype(np.uint8)
    return out


def sheet_figure_row(rgba: np.ndarray, label: str) -> np.ndarray:
    """One row of the sheet figure: the input with each sprite's box and grid (thick box: the
    sprite left the global grid), the single-grid sprite (before), the re-assembled sheet of
    per-sprite grids (after), each scaled to one height, nearest neighbour when enlarged."""
    import cv2

    from ..core import sheet
    from ..core.pipeline import reconstruct

    rec = reconstruct(rgba)
    result = sheet.reconstruct_sheet(rec)
    if rec.sprite is None or result is None:
        raise ValueError(f"{label}: no grid found")
    assembled, _ = sheet.sheet_outputs(result, "figure")
    h = SHEET_FIGURE_ROW
    panels = [_fit_nearest(sheet.regions_overlay(rgba, result), h), _fit_nearest(_on_grey(rec.sprite), h),
              _fit_nearest(_on_grey(assembled), h)]
    own = sum(not r.agrees for r in result.regions)
    titles = [f"{label}: {len(result.regions)} sprites, {own} on own grid", f"before: one grid {rec.grid.cell_w:.2f} px" if rec.grid else "before",
              "after: a grid per sprite (--sheet)"]
    gap = SHEET_FIGURE_GAP
    width = sum(p.shape[1] for p in panels) + gap * (len(panels) + 1)
    row = np.full((h + 34, width, 3), 255, np.uint8)
    x = gap
    for panel, title in zip(panels, titles):
        row[30:30 + h, x:x + panel.shape[1]] = panel
        cv2.putText(row, title, (x, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        x += panel.shape[1] + gap
    return row


def sheet_figure(rows: Sequence[tuple[np.ndarray, str]]) -> np.ndarray:
    """``sheet_figure_row`` for each (RGBA image, label), stacked (white padding on the right)."""
    made = [sheet_figure_row(rgba, label) for rgba, label in rows]
    width = max(r.shape[1] for r in made)
    out = np.full((sum(r.shape[0] for r in made), width, 3), 255, np.uint8)
    y = 0
    for r in made:
        out[y:y + r.shape[0], :r.shape[1]] = r
        y += r.shape[0]
    return out
