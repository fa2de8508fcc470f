"""What the TUI does, free of Textual: the images, the attempt on screen, verdicts, export, frames.

``MainScreen`` owns the widgets and the workers; everything it decides goes through a
``Controller``: which parameters a key asks for, which frame a worker should build, what a
verdict writes to the log, what ``s`` saves.  Methods return plain values (``Notice`` for a
message to the user), so all of it is unit-tested without a terminal, and the frame building
(``build_frame``) is what the workers run.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..core.animation import AnimationReconstruction
from ..core.feedback import SOURCE_ML, SOURCE_TUI, FeedbackEntry, append_feedback, current_verdicts, make_entry, supersedes
from ..core.metrics import append_metrics, metrics_row
from ..core.pipeline import OutputOptions, write_outputs
from ..core.sheet import SheetResult, reconstruct_sheet
from ..core.types import ReconstructParams, Thresholds
from . import session as model
from .ml_hook import SuggestFn, Suggestion
from .paths import Batch, batch_for
from .session import Attempt, ImageSession, TypedValues, ViewGeometry, ViewOptions, Viewport

EXPORT_OPTIONS = OutputOptions()  # what ``perfecter reconstruct`` writes by default (the sprite)
METRICS_NAME = "metrics.csv"
SESSIONS_KEPT = 8
FRAMES_KEPT = 64  # encoded pane pictures kept (per attempt, view and pane size)
REGION_VIEW_MARGIN = 1.25  # j/J zoom so a sprite fills the pane with a quarter of context around it


@dataclass
class Settings:
    """What the app was started with (the CLI fills it; tests pass their own)."""

    graphics: object  # graphics.Graphics (kept untyped here: no textual-image import in the controller)
    output_dir: Path = Path("output")
    log_path: Path = Path("notes") / "feedback_log.csv"
    browse_root: Path = Path("input")
    thresholds: Thresholds = field(default_factory=Thresholds)
    ml_provider: SuggestFn | None = None
    ml_auto: bool = False  # probe for the ML package in a worker at start-up
    graphics_note: str = ""  # one line: which protocol was chosen and why


@dataclass(frozen=True)
class Notice:
    """A message for the user (the screen turns it into a notification)."""

    message: str
    severity: str = "information"
    title: str | None = None


@dataclass(frozen=True)
class Confirm:
    """An action that needs a yes first: ``question`` to ask, then call ``proceed``."""

    question: str
    proceed: Callable[[], Notice]


@dataclass(frozen=True)
class PaneFrame:
    """One pane of a frame: its encoded picture (None: nothing), title and message line."""

    encoded: object | None  # graphics.Encoded
    title: str
    message: str
    picture: np.ndarray | None  # the RGB picture (unpadded), for tests and the benchmark


@dataclass(frozen=True)
class Frame:
    """Everything the three panes show for one (attempt, view): built in a worker."""

    session: ImageSession
    attempt: Attempt | None
    viewport: Viewport  # clamped to the image
    options: ViewOptions
    size: tuple[int, int]
    geometry: ViewGeometry
    panes: tuple[PaneFrame, PaneFrame, PaneFrame]
    middle_kind: str
    message: str | None
    started: float | None
    build_seconds: float
    encoded_now: int  # panes encoded for this frame (the others came from the cache)

    @property
    def view(self) -> tuple[object, ...]:
        return (self.viewport.zoom, self.options, self.size)


PANE_TITLES = {"original": "Original", "diff": "Diff (red = mismatch)", "diff-cells": "Diff per cell (red = mismatch)",
               "heatmap": "Heatmap (per-cell error)",
               "reconstruction": "Reconstruction"}

Encoder = Callable[[np.ndarray, object], object]  # (rgb, key) -> graphics.Encoded


class Controller:
    """The state of a review and every decision the keys make (no Textual)."""

    def __init__(self, settings: Settings, encoder: Encoder) -> None:
        self.settings = settings
        self.encoder = encoder
        self.batch: Batch | None = None
        self.sessions: OrderedDict[Path, ImageSession] = OrderedDict()
        self.session: ImageSession | None = None
        self.shown: Attempt | None = None  # the attempt the panes show now
        self.target: ReconstructParams | None = None  # what the user asked for last (may be computing)
        self.frame: Frame | None = None
        self.viewport = Viewport()
        self.view_options = ViewOptions()
        self.suggestions: list[Suggestion] = []
        self.selected_suggestion: int | None = None
        self.ml_status = ""
        self.exported: list[Path] = []
        self.latencies: list[float] = []
        # Sprite-sheet regions (j / J) of the attempt ``sheet_attempt``; ``region`` is 0-based.
        self.sheet: SheetResult | None = None
        self.sheet_attempt: Attempt | None = None
        self.region: int | None = None
        self._frames: OrderedDict[tuple[object, ...], object] = OrderedDict()
        self._frames_lock = threading.Lock()

    # ------------------------------------------------------------------ images

    def open(self, path: Path) -> Batch:
        """A folder, or a file's folder positioned at it; ValueError with a one-line reason."""
        if not path.exists():
            raise ValueError(f"{path}: no such file or folder")
        self.batch = batch_for(path)
        return self.batch

    def step_image(self, step: int) -> Notice | None:
        if self.batch is None:
            return Notice("open an image or folder first (o)", "warning")
        if not self.batch.step(step):
            return Notice("first image" if step < 0 else "last image")
        return None

    def begin_image(self) -> ImageSession | None:
        """Switch to the batch's current image: its cached session, or None (it must be loaded)."""
        assert self.batch is not None
        path = self.batch.current
        self.suggestions, self.selected_suggestion, self.ml_status = [], None, ""
        self.viewport = Viewport()
        self.frame = None
        self.clear_regions()
        cached = self.sessions.get(path)
        if cached is not None:
            self.sessions.move_to_end(path)
            self.session = cached
            attempt = cached.current_attempt() or cached.ordered()[0]
            self.target = attempt.params
            return cached
        self.session, self.shown, self.target = None, None, None
        return None

    def loaded(self, session: ImageSession, attempt: Attempt) -> bool:
        """A load finished; False if the user has moved to another image meanwhile."""
        if self.batch is None or session.path != self.batch.current:
            return False
        self.sessions[session.path] = session
        while len(self.sessions) > SESSIONS_KEPT:
            self.sessions.popitem(last=False)
        self.session = session
        self.target = attempt.params
        return True

    def is_current(self, path: Path) -> bool:
        return self.batch is not None and path == self.batch.current

    # ------------------------------------------------------------------ frames

    def build_frame(self, session: ImageSession, attempt: Attempt | None, viewport: Viewport, size: tuple[int, int],
                    options: ViewOptions, started: float | None = None, cached_only: bool = False) -> Frame | None:
        """The three panes for ``attempt`` in this view, each encoded once and cached
        (thread-safe: the workers call it).  A pane whose content does not depend on what
        changed (the original when flipping attempts) comes from the cache.  ``cached_only``:
        None unless every pane is cached (then it costs well under a millisecond)."""
        start = time.perf_counter()
        geometry = model.view_geometry(session.width, session.height, viewport, *size)
        viewport = model.clamp_viewport(viewport, geometry)
        view_key = (str(session.path), id(session), session.frame_index, geometry.scale, geometry.x0, geometry.y0, geometry.out_w, geometry.out_h)
        params = attempt.params if attempt is not None else None
        drawable = model.attempt_drawable(attempt)
        encoded_now = 0
        panes: list[PaneFrame] = []
        middle_kind = "diff"
        for role in model.PANE_ROLES:
            depends: tuple[object, ...]
            if role == "original":
                depends = (params if options.show_grid and drawable else None, options.show_grid and drawable, options.regions, options.region)
            elif role == "middle":
                depends = (params, options.show_grid, options.show_heatmap)
            else:
                depends = (params, options.show_grid)
            key = (role, *view_key, *depends)
            with self._frames_lock:
                hit = self._frames.get(key)
                if hit is not None:
                    self._frames.move_to_end(key)
            picture, kind = (None, role)
            if hit is None and cached_only:
                return None  # something must be drawn and encoded: that is a worker's job
            if hit is None:
                picture, kind = model.pane_picture(role, session, attempt, geometry, options)
                encoded = None if picture is None else self.encoder(picture, key)
                encoded_now += picture is not None
                with self._frames_lock:
                    self._frames[key] = (encoded, picture, kind)
                    while len(self._frames) > FRAMES_KEPT:
                        self._frames.popitem(last=False)
            else:
                encoded, picture, kind = hit  # type: ignore[misc]
            if role == "middle":
                middle_kind = kind
            message = ""
            if role == "middle" and not drawable and attempt is not None:
                message = attempt.result.error or "no grid found"
            elif role == "reconstruction" and not drawable:
                message = "—"
            panes.append(PaneFrame(encoded, PANE_TITLES.get(kind, role), message, picture))
        frame_message: str | None = None
        if attempt is not None and not drawable:
            frame_message = attempt.result.error or "no grid found"
        return Frame(session, attempt, viewport, options, size, geometry, (panes[0], panes[1], panes[2]), middle_kind,
                     frame_message, started, time.perf_counter() - start, encoded_now)

    def accepts(self, frame: Frame) -> bool:
        """Whether a finished frame is still wanted (same image, and the attempt last asked for)."""
        if frame.session is not self.session:
            return False
        if frame.attempt is not None and self.target is not None and frame.attempt.params != self.target:
            return False
        return True

    def present(self, frame: Frame) -> bool:
        """Record ``frame`` as what is on screen.  True if the view changed meanwhile (render again)."""
        self.frame = frame
        if frame.attempt is not None and self.sheet_attempt is not None and frame.attempt is not self.sheet_attempt:
            self.clear_regions()  # another grid on screen: its regions are found again on j
        if frame.attempt is not None:
            self.shown = frame.attempt
            frame.session.current = frame.attempt.params
        self.viewport = Viewport(self.viewport.zoom, frame.viewport.center_x, frame.viewport.center_y) \
            if self.viewport.zoom == frame.viewport.zoom else self.viewport
        return frame.viewport.zoom != self.viewport.zoom or frame.options != self.view_options

    # ------------------------------------------------------------------ overrides

    def _base(self) -> tuple[ImageSession, ReconstructParams, Attempt] | Notice:
        session, attempt = self.session, self.shown
        if session is None or attempt is None:
            return Notice("open an image first (o)", "warning")
        return session, self.target or attempt.params, attempt

    def params_for(self, action: str, *args: float | str) -> ReconstructParams | Notice | None:
        """The parameters an override key asks for (None: nothing to do, e.g. no grid to scale)."""
        base = self._base()
        if isinstance(base, Notice):
            return base
        session, params, attempt = base
        limit = float(min(session.width, session.height))
        if action == "scale_cell":
            return model.scale_cell(params, attempt.result, float(args[0]), limit)
        if action == "step_cell":
            return model.step_cell(params, attempt.result, float(args[0]), limit)
        if action == "nudge":
            return model.nudge_offset(params, attempt.result, float(args[0]) * model.NUDGE_PX, float(args[1]) * model.NUDGE_PX)
        if action == "toggle_switch":
            return model.toggle(params, str(args[0]))
        if action == "cycle_colors":
            return model.cycle_colors(params)
        if action == "reset":
            return ReconstructParams()  # auto-detect, and the 1-5 switches back to the defaults
        raise ValueError(f"unknown override {action!r}")

    def typed_values(self) -> TypedValues | Notice:
        """What the ``t`` dialog starts from: forced values as typed, ``None`` (auto) for detected ones."""
        base = self._base()
        if isinstance(base, Notice):
            return base
        _, params, _ = base
        return (params.forced_cell_w, params.forced_cell_h, params.offset_x, params.offset_y, params.target_cells)

    def detected_values(self) -> TypedValues:
        grid = self.shown.result.grid if self.shown is not None else None
        if grid is None:
            return (None, None, None, None, None)
        return (round(grid.cell_w, 3), round(grid.cell_h, 3), round(grid.offset_x, 2), round(grid.offset_y, 2), (grid.cells_x, grid.cells_y))

    def typed(self, values: TypedValues) -> ReconstructParams:
        return model.typed(self.target or ReconstructParams(), *values)

    def flip(self, step: int) -> Attempt | None:
        if self.session is None:
            return None
        order = self.session.ordered()
        if not order:
            return None
        keys = [a.params for a in order]
        here = self.target if self.target in keys else (self.shown.params if self.shown else None)
        index = keys.index(here) if here in keys else 0
        target = order[(index + step) % len(order)]
        self.target = target.params
        return target

    def step_frame(self, step: int) -> Notice | None:
        """Show the next/previous frame of an animation (the reconstruction stays the joint one)."""
        session = self.session
        if session is None:
            return Notice("open an image first (o)", "warning")
        if session.animation is None:
            return Notice("not an animation (one frame)")
        session.show_frame(session.frame_index + step)
        return None

    def select_attempt(self, index: int) -> Attempt | None:
        """The attempt in row ``index`` of the attempts panel (0-based)."""
        if self.session is None:
            return None
        order = self.session.ordered()
        if not 0 <= index < len(order):
            return None
        self.target = order[index].params
        return order[index]

    # ------------------------------------------------------------------ view

    def zoomed(self, direction: int, anchor: tuple[float, float] | None = None) -> Viewport:
        """One integer zoom level in or out; ``anchor`` (fractions of the picture) stays put."""
        frame = self.frame
        if frame is None or self.session is None:
            return self.viewport
        session = self.session
        fit = model.fit_scale(session.width, session.height, *frame.size)
        new_zoom = model.next_zoom(self.viewport.zoom, fit, direction, model.max_zoom(session.width, session.height, *frame.size))
        g = frame.geometry
        cx = g.x0 + g.span[0] / 2
        cy = g.y0 + g.span[1] / 2
        if anchor is not None:
            ax = g.x0 + anchor[0] * g.span[0]
            ay = g.y0 + anchor[1] * g.span[1]
            ratio = self.viewport.zoom / new_zoom
            cx, cy = ax + (cx - ax) * ratio, ay + (cy - ay) * ratio
        self.viewport = Viewport(new_zoom, cx, cy)
        return self.viewport

    def panned(self, fx: float, fy: float) -> Viewport:
        if self.frame is not None:
            self.viewport = model.panned(self.viewport, self.frame.geometry, fx, fy)
        return self.viewport

    def dragged(self, dx_cells: float, dy_cells: float, cell_px: tuple[int, int]) -> Viewport:
        """Drag by (dx, dy) terminal cells: the picture follows the pointer."""
        if self.frame is None:
            return self.viewport
        g = self.frame.geometry
        base = model.clamp_viewport(self.viewport, g)
        self.viewport = Viewport(self.viewport.zoom, (base.center_x or 0) - dx_cells * cell_px[0] * g.scale,
                                 (base.center_y or 0) - dy_cells * cell_px[1] * g.scale)
        return self.viewport

    def toggled_view(self, name: str) -> ViewOptions:
        flipped: dict[str, bool] = {name: not getattr(self.view_options, name)}
        self.view_options = replace(self.view_options, **flipped)  # type: ignore[arg-type]  # only the bool switches are toggled
        return self.view_options

    def position(self) -> str:
        """Where the view is: zoom level and the visible part of the image."""
        frame = self.frame
        if frame is None or self.session is None:
            return ""
        g = frame.geometry
        level = model.zoom_label(g.scale, frame.viewport.zoom)
        x0, y0 = int(g.x0), int(g.y0)
        x1, y1 = int(round(g.x0 + g.span[0])), int(round(g.y0 + g.span[1]))
        slack = max(1.0, g.scale)  # the last display pixel may cover the last image pixel only partly
        if x0 == 0 and y0 == 0 and x1 >= self.session.width - slack and y1 >= self.session.height - slack:
            return f"{level} whole image"
        return f"{level} x {x0}–{x1} y {y0}–{y1} of {self.session.width}×{self.session.height}"

    # ------------------------------------------------------------------ sprite-sheet regions

    def clear_regions(self) -> None:
        self.sheet, self.sheet_attempt, self.region = None, None, None
        self.view_options = replace(self.view_options, regions=(), region=0)

    def sheet_pending(self) -> Attempt | None:
        """The attempt on screen when its sprites are still to be found (for ``j``/``J``)."""
        attempt = self.shown
        if self.session is None or attempt is None or not attempt.ok:
            return None
        return attempt if self.sheet_attempt is not attempt else None

    def sheet_found(self, attempt: Attempt, sheet: SheetResult | None) -> bool:
        """Install the sprites a worker found for ``attempt``; False when another attempt is on
        screen by now (the result is stale and dropped)."""
        if attempt is not self.shown:
            return False
        self.sheet, self.sheet_attempt, self.region = sheet, attempt, None
        return True

    def step_region(self, step: int) -> Notice:
        """``j`` / ``J``: the next / previous sprite of the sheet, boxed and zoomed onto.

        The sprites are found (``core.sheet``) the first time for the attempt on screen, with
        its grid as every sprite's prior; the notice and the info panel give the sprite's grid.
        """
        session, attempt = self.session, self.shown
        if session is None or attempt is None:
            return Notice("open an image first (o)", "warning")
        if not attempt.ok:
            return Notice("no grid on screen: no sprites to step through", "warning")
        if self.sheet_pending() is not None:
            # (The screen finds them in a worker first, ``sheet_found``; here as a fallback.)
            self.sheet_found(attempt, reconstruct_sheet(attempt.result))
        if self.sheet is None or not self.sheet.regions:
            return Notice("no sprites found on this grid", "warning")
        regions = self.sheet.regions
        if self.region is None:
            self.region = 0 if step > 0 else len(regions) - 1
        else:
            self.region = (self.region + step) % len(regions)
        r = regions[self.region]
        boxes = tuple((g.box.x0, g.box.y0, g.box.x1, g.box.y1) for g in regions)
        self.view_options = replace(self.view_options, regions=boxes, region=r.index)
        if self.frame is not None:
            max_w, max_h = self.frame.size
            fit = model.fit_scale(session.width, session.height, max_w, max_h)
            need = max(r.box.w / max(1, max_w), r.box.h / max(1, max_h)) * REGION_VIEW_MARGIN
            top = model.max_zoom(session.width, session.height, max_w, max_h)
            zoom = min(top, max(1.0, fit / max(need, 1e-9)))
            self.viewport = Viewport(zoom, (r.box.x0 + r.box.x1) / 2, (r.box.y0 + r.box.y1) / 2)
        return Notice(self.region_text() or "", title="Sprite sheet")

    def region_text(self) -> str | None:
        """The selected sprite and its grid, for the info panel (None: no region selected)."""
        if self.sheet is None or self.region is None:
            return None
        r = self.sheet.regions[self.region]
        s = r.summary()
        return (f"{r.index}/{len(self.sheet.regions)}  cell {s['cell_w']:.2f}×{s['cell_h']:.2f} @ {s['offset_x']:.1f},{s['offset_y']:.1f}"
                f"  {s['cells_x']}×{s['cells_y']} cells  {'own grid' if not r.agrees else 'global grid'}  diff {r.diff_pct:.2f}%")

    # ------------------------------------------------------------------ feedback

    def _entry_for(self, session: ImageSession, attempt: Attempt, verdict: str) -> FeedbackEntry:
        return make_entry(image=session.path, verdict=verdict, overrides=attempt.params.overrides(),
                          metrics=attempt.result.metrics, notes=session.notes, source=attempt.source,
                          suggestion_rank=attempt.suggestion_rank, app_version=__version__)

    def _superseded_by(self, entry: FeedbackEntry) -> FeedbackEntry | None:
        """The row in effect that ``entry`` replaces (the log is small: read it each time)."""
        try:
            current = current_verdicts(self.settings.log_path).entries
        except OSError:
            return None
        found = [e for e in current if supersedes(entry, e)]
        return found[-1] if found else None

    def log_verdict(self, verdict: str, attempt: Attempt | None = None, session: ImageSession | None = None) -> Notice:
        """Log ``verdict`` for the attempt ON SCREEN (or the one given): never one still computing.

        The row names the verdict it replaces in ``supersedes`` (same grid, or an earlier
        ``correct`` for the image), and the in-memory marks follow the same rule.
        """
        session = session or self.session
        attempt = attempt or self.shown
        if session is None or attempt is None:
            return Notice("open an image first (o)", "warning")
        entry = self._entry_for(session, attempt, verdict)
        previous = self._superseded_by(entry)
        if previous is not None:
            entry = replace(entry, supersedes=previous.entry_id)
        try:
            append_feedback(self.settings.log_path, [entry])
        except OSError as exc:
            return Notice(f"{self.settings.log_path}: cannot write ({exc.strerror or exc})", "error")
        if verdict == "correct":
            for other in session.ordered():
                if other is not attempt and other.verdict == "correct":
                    other.verdict = None  # one right grid per image: the older mark is replaced
        attempt.verdict = verdict
        replaced = " (replaces the earlier verdict)" if previous is not None else ""
        return Notice(f"{verdict}: {attempt.label()} → {self.settings.log_path}{replaced}", title="Feedback logged")

    def set_notes(self, session: ImageSession, text: str) -> Notice:
        session.notes = text
        attempt = self.shown if session is self.session else session.current_attempt()
        if attempt is not None and attempt.verdict is not None:
            return self.log_verdict(attempt.verdict, attempt, session)  # a new row that supersedes the old one
        return Notice("notes kept: they are saved with your verdict (c / x)")

    # ------------------------------------------------------------------ export

    def save(self) -> Notice | Confirm:
        """``s``: the attempt marked correct, else the attempt on screen; asks before saving one marked incorrect."""
        session = self.session
        if session is None or self.shown is None:
            return Notice("open an image first (o)", "warning")
        marked = [a for a in session.ordered() if a.verdict == "correct" and a.ok]
        choice = marked[-1] if marked else (self.shown if self.shown.ok else None)
        if choice is None:
            return Notice("nothing to save: this attempt found no grid", "error")
        if choice.verdict == "incorrect":
            return Confirm(f"This attempt ({choice.label()}) is marked incorrect. Save it anyway?",
                           lambda: self._write(session, choice))
        return self._write(session, choice)

    def _write(self, session: ImageSession, choice: Attempt) -> Notice:
        joint = session.joint(choice.params)
        if session.animation is not None and joint is not None and joint.ok:
            return self._write_animation(session, choice, joint)
        if self.sheet is not None and self.sheet_attempt is choice:
            return self._write_sheet(session, choice, self.sheet)

        def write(out: Path) -> Path:
            files = write_outputs(choice.result, out, session.path.stem, EXPORT_OPTIONS)
            row = metrics_row(str(session.path), choice.result.metrics, self.settings.thresholds, output=str(files.sprite))
            append_metrics(out / METRICS_NAME, [row])
            return files.sprite

        return self._saved(choice, write)

    def _write_sheet(self, session: ImageSession, choice: Attempt, sheet: SheetResult) -> Notice:
        """After ``j``: the sheet's whole set, as ``perfecter reconstruct --sheet`` writes it."""
        from ..outputset import commit, new_run_tag, stage_outputs

        def write(out: Path) -> Path:
            out.mkdir(parents=True, exist_ok=True)
            files = commit(stage_outputs(choice.result, out, session.path.stem, OutputOptions(sheet=True), new_run_tag(), sheet))
            row = metrics_row(str(session.path), choice.result.metrics, self.settings.thresholds, output=files["sprite"], regions=len(sheet.regions))
            append_metrics(out / METRICS_NAME, [row])
            return Path(files["sprite"])

        return self._saved(choice, write, f", {len(sheet.regions)} sprites", f" (+ {session.path.stem}/, sheet, json)")

    def _write_animation(self, session: ImageSession, choice: Attempt, joint: AnimationReconstruction) -> Notice:
        """An animation's whole set, as ``perfecter reconstruct --animate`` writes it."""
        from ..batch import animation_note
        from ..core.animation import default_formats
        from ..outputset import commit, new_run_tag, stage_animation

        assert session.animation is not None and joint.metrics is not None
        source_format, metrics = session.animation.source_format, joint.metrics

        def write(out: Path) -> Path:
            out.mkdir(parents=True, exist_ok=True)
            files = commit(stage_animation(joint, out, session.path.stem, default_formats(source_format), new_run_tag()))
            row = metrics_row(str(session.path), metrics, self.settings.thresholds, output=files["sheet"])
            note = animation_note({"frames": len(joint.frames), "durations_ms": joint.durations_ms, "frame_diff_pct": joint.frame_diff_pct})
            row["warnings"] = f"{note}; {row['warnings']}" if row.get("warnings") else note
            append_metrics(out / METRICS_NAME, [row])
            return Path(files["sheet"])

        return self._saved(choice, write, f", {len(joint.frames)} frames", " (+ animation, frames)")

    def _saved(self, choice: Attempt, write: Callable[[Path], Path], what: str = "", also: str = "") -> Notice:
        """``write`` (files and metrics row) into the output folder, and the notice saying so."""
        out = self.settings.output_dir
        try:
            written = write(out)
        except (OSError, ValueError) as exc:
            return Notice(f"{out}: cannot write ({exc})", "error", "Save failed")
        self.exported.append(written)
        which = "marked-correct" if choice.verdict == "correct" else "current"
        return Notice(f"{which} attempt{what} → {written}{also}", title="Saved")

    # ------------------------------------------------------------------ ML suggestions

    def suggestion(self, index: int) -> tuple[ReconstructParams, Suggestion] | Notice:
        if self.session is None or not self.suggestions:
            return Notice("no ML suggestions for this image", "warning")
        self.selected_suggestion = index % len(self.suggestions)
        chosen = self.suggestions[self.selected_suggestion]
        return chosen.params(self.target or ReconstructParams()), chosen

    def accept_question(self, attempt: Attempt) -> str | None:
        """Why accepting this ML attempt deserves a second look (None: accept right away):
        no grid, or a diff above the threshold that flags it in red (``Thresholds.max_diff_pct``)."""
        metrics = attempt.result.metrics
        if metrics is None:
            return "This suggestion found no grid. Mark it correct anyway?"
        if metrics.diff_pct > self.settings.thresholds.max_diff_pct:
            return f"This suggestion disagrees with the image on {metrics.diff_pct:.0f}% of pixels. Mark it correct anyway?"
        return None


__all__ = ["Confirm", "Controller", "Frame", "Notice", "PaneFrame", "Settings", "SOURCE_ML", "SOURCE_TUI"]
