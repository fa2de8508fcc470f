"""Result and parameter dataclasses shared by every pipeline stage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Grid:
    """A cell grid laid over an image.

    ``xs``/``ys`` are cell boundaries in pixel-edge coordinates (the boundary between pixel
    columns k-1 and k is k), strictly increasing, one more than the number of cells.  The
    uniform model (``cell_w``, ``cell_h``, ``offset_x``, ``offset_y``) is the best straight fit;
    the boundaries may deviate from it where the image drifts.
    """

    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    xs: np.ndarray
    ys: np.ndarray
    width: int
    height: int

    @property
    def cells_x(self) -> int:
        return len(self.xs) - 1

    @property
    def cells_y(self) -> int:
        return len(self.ys) - 1

    @property
    def shape(self) -> tuple[int, int]:
        """(cells_y, cells_x), the sprite's array shape."""
        return self.cells_y, self.cells_x


@dataclass(frozen=True)
class GridCandidate:
    """One candidate grid (both axes): from the spectrum, a user override or a proposer.

    ``score`` is the selection stage's 0..1 judgement of it (``grid.select.score_grid``);
    ``right`` its calibrated probability of being the right grid (``grid.right``), when the
    selection computed one (candidates from proposers).
    """

    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    source: str = "spectrum"
    score: float = 0.0
    right: float | None = None


@dataclass(frozen=True)
class GridDetection:
    """What grid detection found: a grid, or ``grid is None`` and a ``reason``."""

    grid: Grid | None
    confidence: float
    reason: str | None = None
    # Every candidate the selection stage scored, best first (the chosen grid's among them).
    candidates: tuple[GridCandidate, ...] = ()
    warnings: tuple[str, ...] = ()
    # Which candidate the grid is: "spectrum" (the detector's own), "override" (the user's), or
    # the source of a proposal that won the selection ("model#1", "count-1x", ...).
    source: str = "spectrum"

    @property
    def found(self) -> bool:
        return self.grid is not None


@dataclass(frozen=True)
class ReconstructParams:
    """User overrides and switches for one reconstruction.

    ``None`` means "detect".  ``cell_size`` sets both axes; ``cell_w``/``cell_h`` win over it.
    ``target_cells`` is (cells_x, cells_y) for the output size.
    """

    cell_size: float | None = None
    cell_w: float | None = None
    cell_h: float | None = None
    offset_x: float | None = None
    offset_y: float | None = None
    target_cells: tuple[int, int] | None = None
    snap_lines: bool = True
    cleanup_colors: bool = True
    binarize_alpha: bool = True
    alpha_threshold: int = 128
    # Oklab distance within which a cell snaps to its palette cluster (see core.palette).
    palette_snap: float = 0.02
    # Colour reduction after unify (core.quantize): at most ``max_colors``; ``colors_auto`` the
    # count auto's error rule picks; ``palette`` a fixed palette (a file, or a batch's shared one)
    # each cell maps to, named ``palette_source`` in the metrics.  All off by default.
    max_colors: int | None = None
    colors_auto: bool = False
    palette: tuple[tuple[int, int, int], ...] | None = None
    palette_source: str = "file"

    @property
    def reduces_colors(self) -> bool:
        return self.palette is not None or self.max_colors is not None or self.colors_auto
    # Background removal (core.background): None off, "auto" or a colour "#rrggbb".
    transparent: str | None = None
    # With ``transparent``: also remove enclosed background-coloured regions (holes).
    holes: bool = False

    @property
    def forced_cell_w(self) -> float | None:
        return self.cell_w if self.cell_w is not None else self.cell_size

    @property
    def forced_cell_h(self) -> float | None:
        return self.cell_h if self.cell_h is not None else self.cell_size

    def with_overrides(self, **changes: object) -> "ReconstructParams":
        return replace(self, **changes)  # type: ignore[arg-type]  # field types are checked by the dataclass users

    def overrides(self) -> dict[str, object]:
        """Only the fields that differ from the defaults (for logs and metrics)."""
        base = ReconstructParams()
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if value != getattr(base, name):
                out[name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Thresholds:
    """Limits beyond which a result is flagged as suspicious."""

    # Right grids stay under ~0.2% (see metrics.confidence_with_fit); 1% is clearly wrong somewhere.
    max_diff_pct: float = 1.0
    min_confidence: float = 0.5
    min_cell: float = 4.0
    max_cell: float = 64.0
    max_pixels: int = 64_000_000


@dataclass(frozen=True)
class PaletteReport:
    """What the colour reduction did: where the palette came from, its colours, the cost."""

    source: str  # "auto", "max N", "file" or "shared"
    colors: tuple[tuple[int, int, int], ...]  # most used first (a fixed palette: its own order)
    # Largest Oklab distance x 100 between a cell's colour before and after the reduction.
    max_error: float

    def describe(self) -> str:
        return f"{self.source} ({len(self.colors)} colours, max error {self.max_error:.1f})"


@dataclass(frozen=True)
class Metrics:
    """One row of ``metrics.csv``."""

    cell_w: float
    cell_h: float
    offset_x: float
    offset_y: float
    cells_x: int
    cells_y: int
    diff_pct: float
    confidence: float
    n_colors: int
    seconds: float
    warnings: tuple[str, ...] = ()
    # Set when a colour reduction ran: its source ("auto", "max 16", "file", "shared") and the
    # largest Oklab distance x 100 it moved a cell's colour.
    palette: str = ""
    palette_error: float | None = None
    # Background removal: the colour removed ("#rrggbb", "none" when refused; "" when off) and
    # how many cells it made transparent.
    background: str = ""
    transparent_cells: int = 0

    def flags(self, thresholds: Thresholds) -> tuple[str, ...]:
        """Names of the metrics that cross a threshold."""
        out = []
        if self.diff_pct > thresholds.max_diff_pct:
            out.append("diff_pct")
        if self.confidence < thresholds.min_confidence:
            out.append("confidence")
        if min(self.cell_w, self.cell_h) < thresholds.min_cell:
            out.append("cell_small")
        if max(self.cell_w, self.cell_h) > thresholds.max_cell:
            out.append("cell_large")
        return tuple(out)

    def as_row(self) -> dict[str, object]:
        return {
            "cell_w": round(self.cell_w, 3),
            "cell_h": round(self.cell_h, 3),
            "offset_x": round(self.offset_x, 3),
            "offset_y": round(self.offset_y, 3),
            "cells_x": self.cells_x,
            "cells_y": self.cells_y,
            "diff_pct": round(self.diff_pct, 3),
            "confidence": round(self.confidence, 3),
            "n_colors": self.n_colors,
            "seconds": round(self.seconds, 4),
            "warnings": "; ".join(self.warnings),
            "palette": self.palette,
            "palette_error": "" if self.palette_error is None else round(self.palette_error, 2),
            "background": self.background,
            "transparent_cells": self.transparent_cells if self.background else "",
        }


class FromDetection:
    """What a result made from a ``GridDetection`` says about it: its grid, and why it failed."""

    detection: GridDetection

    @property
    def ok(self) -> bool:
        raise NotImplementedError

    @property
    def grid(self) -> Grid | None:
        return self.detection.grid

    @property
    def error(self) -> str | None:
        return None if self.ok else (self.detection.reason or "no grid found")


@dataclass
class Reconstruction(FromDetection):
    """Everything one run of the pipeline produced for one image.

    ``sprite`` is the true-resolution RGBA result (cells_y, cells_x, 4), ``cell_error`` the
    per-cell disagreement with the input (0..255, mean L-inf over the cell core).
    """

    image: np.ndarray
    params: ReconstructParams
    detection: GridDetection
    sprite: np.ndarray | None
    cell_error: np.ndarray | None
    metrics: Metrics | None
    has_alpha: bool = False
    source: Path | None = None
    warnings: list[str] = field(default_factory=list)
    palette: PaletteReport | None = None

    @property
    def ok(self) -> bool:
        return self.sprite is not None
