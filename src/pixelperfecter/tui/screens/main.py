"""The main screen: three synchronized panes, the panels, and every keyboard action."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, LoadingIndicator
from textual.worker import get_current_worker

from ... import __version__
from ...core.feedback import SOURCE_ML, SOURCE_TUI, append_feedback, make_entry
from ...core.io import ImageLoadError
from ...core.metrics import append_metrics, metrics_row
from ...core.pipeline import OutputOptions, write_outputs
from ...core.types import ReconstructParams, Thresholds
from .. import session as model
from ..graphics import Graphics
from ..ml_hook import SuggestFn, Suggestion
from ..paths import Batch, batch_for, parse_dropped_path
from ..session import Attempt, ImageSession, PanePictures, ViewOptions, Viewport
from ..widgets.panels import AttemptsPanel, MetricsPanel, MLPanel, ParamsPanel
from ..widgets.panes import ImagePane
from .dialogs import HelpScreen, NotesScreen, OpenScreen, ParamsScreen, key_label

# What ``perfecter reconstruct`` writes by default (the sprite) and the metrics file it appends to.
EXPORT_OPTIONS = OutputOptions()
METRICS_NAME = "metrics.csv"
SESSIONS_KEPT = 8

CELL = Binding.Group("Cell ÷2 ×2")
CELL_FINE = Binding.Group("Cell ±0.1")
CELL_PX = Binding.Group("Cell ±1")
OFFSET = Binding.Group("Offset", compact=True)
PAN = Binding.Group("Pan", compact=True)
ZOOM = Binding.Group("Zoom")
ATTEMPT = Binding.Group("Attempt")
IMAGE = Binding.Group("Image")
SWITCH = Binding.Group("Snap/Clean/α")
ML = Binding.Group("ML")


@dataclass
class Settings:
    """What the app was started with (the CLI fills it; tests pass their own)."""

    graphics: Graphics
    output_dir: Path = Path("output")
    log_path: Path = Path("notes") / "feedback_log.csv"
    browse_root: Path = Path("input")
    thresholds: Thresholds = field(default_factory=Thresholds)
    ml_provider: SuggestFn | None = None
    ml_auto: bool = False  # probe for the ML package in a worker at start-up


class MainScreen(Screen[None]):
    """Keyboard-first review of one image or a batch."""

    BINDINGS = [
        Binding("c", "verdict('correct')", "Correct"),
        Binding("x", "verdict('incorrect')", "Incorrect"),
        Binding("e", "edit_notes", "Notes"),
        Binding("s", "save", "Save"),
        Binding("o", "open", "Open"),
        Binding("p", "image(-1)", "previous image", group=IMAGE),
        Binding("n", "image(1)", "next image", group=IMAGE),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("left_square_bracket", "scale_cell(0.5)", "halve cell", key_display="[", group=CELL),
        Binding("right_square_bracket", "scale_cell(2.0)", "double cell", key_display="]", group=CELL),
        Binding("minus", "step_cell(-0.1)", "cell −0.1", key_display="-", group=CELL_FINE),
        Binding("equals_sign", "step_cell(0.1)", "cell +0.1", key_display="=", group=CELL_FINE),
        Binding("left_curly_bracket", "step_cell(-1.0)", "cell −1 px", key_display="{", group=CELL_PX),
        Binding("right_curly_bracket", "step_cell(1.0)", "cell +1 px", key_display="}", group=CELL_PX),
        Binding("t", "type_params", "Type cell/offset"),
        Binding("shift+left", "nudge(-1, 0)", "offset x −1", key_display="⇧←", group=OFFSET),
        Binding("shift+right", "nudge(1, 0)", "offset x +1", key_display="⇧→", group=OFFSET),
        Binding("shift+up", "nudge(0, -1)", "offset y −1", key_display="⇧↑", group=OFFSET),
        Binding("shift+down", "nudge(0, 1)", "offset y +1", key_display="⇧↓", group=OFFSET),
        Binding("1", "toggle_switch('snap_lines')", "snap lines on/off", group=SWITCH),
        Binding("2", "toggle_switch('cleanup_colors')", "colour cleanup on/off", group=SWITCH),
        Binding("3", "toggle_switch('binarize_alpha')", "binarize alpha on/off", group=SWITCH),
        Binding("r", "reset_params", "Auto-detect"),
        Binding("z", "zoom(2.0)", "zoom in", group=ZOOM),
        Binding("Z", "zoom(0.5)", "zoom out", group=ZOOM),
        Binding("left", "pan(-0.25, 0)", "pan left", key_display="←", group=PAN),
        Binding("right", "pan(0.25, 0)", "pan right", key_display="→", group=PAN),
        Binding("up", "pan(0, -0.25)", "pan up", key_display="↑", group=PAN),
        Binding("down", "pan(0, 0.25)", "pan down", key_display="↓", group=PAN),
        Binding("g", "toggle_grid", "Grid"),
        Binding("h", "toggle_heatmap", "Heatmap"),
        Binding("comma", "attempt(-1)", "previous attempt", key_display=",", group=ATTEMPT),
        Binding("full_stop", "attempt(1)", "next attempt", key_display=".", group=ATTEMPT),
        Binding("u", "ml_next", "apply next ML suggestion", group=ML),
        Binding("a", "ml_verdict('correct')", "accept ML suggestion", group=ML),
        Binding("d", "ml_verdict('incorrect')", "reject ML suggestion", group=ML),
    ]

    def __init__(self, settings: Settings, initial: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.initial = initial
        self.batch: Batch | None = None
        self.sessions: OrderedDict[Path, ImageSession] = OrderedDict()
        self.session: ImageSession | None = None
        self.viewport = Viewport()
        self.view_options = ViewOptions()
        self.pictures: PanePictures | None = None
        self.shown: Attempt | None = None  # the attempt on screen (a newer one may be computing)
        self.busy = False
        self.latencies: list[float] = []
        self.suggestions: list[Suggestion] = []
        self.selected_suggestion: int | None = None
        self.ml_status = ""
        self.exported: list[Path] = []

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        graphics = self.settings.graphics
        yield Header()
        with Horizontal(id="panes"):
            yield ImagePane("Original", graphics, id="pane-original")
            yield ImagePane("Diff", graphics, id="pane-middle")
            yield ImagePane("Reconstruction", graphics, id="pane-reconstruction")
        with Horizontal(id="info"):
            yield MetricsPanel(id="metrics", classes="panel")
            yield ParamsPanel(id="params", classes="panel")
            yield AttemptsPanel(id="attempts", classes="panel")
            ml = MLPanel(id="ml", classes="panel")
            ml.display = self.settings.ml_provider is not None
            yield ml
        with Horizontal(id="statusbar"):
            yield LoadingIndicator(id="busy")
            yield Label("", id="status", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = "Pixel Perfecter"
        self.query_one("#busy").display = False
        self._update_panels()
        if self.settings.ml_auto and self.settings.ml_provider is None:
            self.run_worker(self._probe_ml, thread=True, group="ml-probe", name="ml-probe", exit_on_error=False)
        if self.initial is not None:
            self.call_after_refresh(self.open_path, self.initial)
        else:
            self.call_after_refresh(self.action_open)

    @property
    def panes(self) -> tuple[ImagePane, ImagePane, ImagePane]:
        return (
            self.query_one("#pane-original", ImagePane),
            self.query_one("#pane-middle", ImagePane),
            self.query_one("#pane-reconstruction", ImagePane),
        )

    def display_size(self) -> tuple[int, int]:
        """Picture size in image pixels: the smallest pane body (all three show the same crop)."""
        sizes = [pane.display_pixels() for pane in self.panes]
        return min(s[0] for s in sizes), min(s[1] for s in sizes)

    def _notify(self, message: str, **kwargs: object) -> None:
        # File names may contain [brackets]: never parse them as markup.
        self.notify(message, markup=False, **kwargs)  # type: ignore[arg-type]

    def set_status(self, text: str) -> None:
        self.query_one("#status", Label).update(text)

    def _set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.query_one("#busy").display = busy

    # ------------------------------------------------------------------ opening

    def open_path(self, path: Path) -> None:
        try:
            if not path.exists():
                raise ValueError(f"{path}: no such file or folder")
            batch = batch_for(path)
        except (ValueError, OSError) as exc:
            self._notify(str(exc), title="Cannot open", severity="error")
            return
        self.batch = batch
        self.load_current()

    def on_paste(self, event: events.Paste) -> None:
        """A file dropped on the terminal arrives as a pasted path."""
        path = parse_dropped_path(event.text)
        if path is None:
            return
        event.stop()
        self.open_path(path)

    def load_current(self) -> None:
        if self.batch is None:
            return
        path = self.batch.current
        self.sub_title = f"{path.name} — {self.batch.position()}"
        self.suggestions, self.selected_suggestion, self.ml_status = [], None, ""
        cached = self.sessions.get(path)
        if cached is not None:
            self.sessions.move_to_end(path)
            self.session = cached
            self.viewport = Viewport()
            self._present(cached, cached.current_attempt() or cached.ordered()[0])
            self._start_ml(cached)
            return
        self.session = None
        self.shown = None
        self._clear_panes(f"loading {path.name}…")
        self._set_busy(True)
        self.run_worker(lambda: self._load_worker(path, self.display_size(), time.perf_counter()),
                        thread=True, exclusive=True, group="load", name=f"load {path.name}", exit_on_error=False)

    def _load_worker(self, path: Path, size: tuple[int, int], started: float) -> None:
        worker = get_current_worker()
        try:
            session = ImageSession.open(path)
            attempt = session.run(ReconstructParams())
        except ImageLoadError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._load_failed, path, str(exc))
            return
        except Exception as exc:  # never let one bad image take the app down
            if not worker.is_cancelled:
                self.app.call_from_thread(self._load_failed, path, f"{type(exc).__name__}: {exc}")
            return
        if worker.is_cancelled:
            return
        pictures = model.pane_pictures(session, attempt, Viewport(), *size, self.view_options)
        self.app.call_from_thread(self._loaded, session, attempt, pictures, started)

    def _load_failed(self, path: Path, reason: str) -> None:
        if self.batch is None or path != self.batch.current:
            return  # the user moved on while it loaded
        self._set_busy(False)
        self._clear_panes(f"cannot read {path.name}")
        self.set_status(f"{path}: {reason}")
        self._notify(f"{path.name}: {reason}", title="Cannot read image", severity="error")

    def _loaded(self, session: ImageSession, attempt: Attempt, pictures: PanePictures, started: float) -> None:
        if self.batch is None or session.path != self.batch.current:
            return  # the user moved on while it loaded
        self.sessions[session.path] = session
        while len(self.sessions) > SESSIONS_KEPT:
            self.sessions.popitem(last=False)
        self.session = session
        self.viewport = Viewport()
        self._present(session, attempt, pictures, started)
        self._start_ml(session)

    def _clear_panes(self, message: str) -> None:
        self.pictures = None
        for pane in self.panes:
            pane.show(None, "")
        self.panes[0].show(None, message)
        self._update_panels()

    # ------------------------------------------------------------------ running attempts

    def request(self, params: ReconstructParams | None, *, source: str = SOURCE_TUI, rank: int | None = None,
                then: Callable[[Attempt], None] | None = None, started: float | None = None) -> None:
        """Show the attempt for ``params``: from the cache at once, else computed in a worker."""
        session = self.session
        if session is None:
            self._notify("open an image first (o)", severity="warning")
            return
        if params is None:
            self._notify("no cell size known yet: type one with t", severity="warning")
            return
        started = time.perf_counter() if started is None else started
        cached = session.cached(params)
        if cached is not None:
            self._tag(cached, source, rank)
            self._present(session, cached, None, started)
            if then is not None:
                then(cached)
            return
        self._set_busy(True)
        session.current = params
        self._update_panels()
        size = self.display_size()
        viewport, options = self.viewport, self.view_options
        self.run_worker(lambda: self._compute_worker(session, params, size, viewport, options, source, rank, then, started),
                        thread=True, exclusive=True, group="reconstruct", name="reconstruct", exit_on_error=False)

    def _compute_worker(self, session: ImageSession, params: ReconstructParams, size: tuple[int, int], viewport: Viewport,
                        options: ViewOptions, source: str, rank: int | None, then: Callable[[Attempt], None] | None,
                        started: float) -> None:
        worker = get_current_worker()
        try:
            attempt = session.run(params)  # cached even if a newer request cancels this one
        except Exception as exc:  # an override the pipeline rejects must not take the app down
            self.app.call_from_thread(self._compute_failed, session, params, f"{type(exc).__name__}: {exc}")
            return
        if worker.is_cancelled:
            return
        pictures = model.pane_pictures(session, attempt, viewport, *size, options)
        self.app.call_from_thread(self._computed, session, attempt, pictures, source, rank, then, started)

    def _compute_failed(self, session: ImageSession, params: ReconstructParams, reason: str) -> None:
        self._set_busy(False)
        if session is self.session and session.current == params and self.shown is not None:
            session.current = self.shown.params
        self._update_panels()
        self._notify(reason, title="Reconstruction failed", severity="error")

    def _computed(self, session: ImageSession, attempt: Attempt, pictures: PanePictures, source: str, rank: int | None,
                  then: Callable[[Attempt], None] | None, started: float) -> None:
        self._tag(attempt, source, rank)
        if session is not self.session or session.current != attempt.params:
            return  # stale: a newer request or another image took over
        self._present(session, attempt, pictures, started)
        if then is not None:
            then(attempt)

    @staticmethod
    def _tag(attempt: Attempt, source: str, rank: int | None) -> None:
        if source == SOURCE_ML:
            attempt.source, attempt.suggestion_rank = source, rank

    def _present(self, session: ImageSession, attempt: Attempt, pictures: PanePictures | None = None,
                 started: float | None = None) -> None:
        self._set_busy(False)
        session.current = attempt.params
        self.shown = attempt
        if pictures is None or pictures.geometry.out_w > self.display_size()[0] or pictures.geometry.out_h > self.display_size()[1]:
            pictures = model.pane_pictures(session, attempt, self.viewport, *self.display_size(), self.view_options)
        self._show_pictures(pictures)
        self._update_panels()
        if not attempt.ok:
            self._notify(f"{session.path.name}: {attempt.result.error}", title="No grid", severity="warning")
        if started is not None:
            self.call_after_refresh(self._stamp, started)

    def _stamp(self, started: float) -> None:
        self.latencies.append(time.perf_counter() - started)

    def _show_pictures(self, pictures: PanePictures) -> None:
        self.pictures = pictures
        original, middle, reconstruction = self.panes
        original.show(pictures.original)
        middle.set_title("Heatmap (per-cell error)" if pictures.middle_kind == "heatmap" else "Diff (red = mismatch)")
        middle.show(pictures.middle, pictures.message or "")
        reconstruction.show(pictures.reconstruction, "" if pictures.reconstruction is not None else "—")

    def refresh_views(self) -> None:
        """Re-crop the current attempt (zoom, pan, toggles, resize): no recomputation."""
        session = self.session
        if session is None:
            return
        pictures = model.pane_pictures(session, self.shown, self.viewport, *self.display_size(), self.view_options)
        self.viewport = model.clamp_viewport(self.viewport, pictures.geometry)
        self._show_pictures(pictures)
        self._update_panels()

    def on_resize(self, event: events.Resize) -> None:
        if self.session is not None:
            self.call_after_refresh(self.refresh_views)

    def _update_panels(self) -> None:
        session = self.session
        attempt = self.shown if session is not None else None
        self.query_one(MetricsPanel).show_attempt(attempt, self.settings.thresholds, busy=self.busy)
        params = session.current if session is not None else None
        self.query_one(ParamsPanel).show_state(
            params, attempt.verdict if attempt else None, session.notes if session else "", self.viewport.zoom,
            self.view_options.show_grid, self.view_options.show_heatmap, self.settings.graphics.name,
        )
        self.query_one(AttemptsPanel).show_attempts(session.ordered() if session else [], params)
        if self.settings.ml_provider is not None:
            self.query_one(MLPanel).show_suggestions(self.suggestions, self.selected_suggestion, self.ml_status)
        if session is not None and self.batch is not None:
            self.set_status(f"{session.path}  ·  {self.batch.position()}  ·  {session.width}×{session.height}")

    def _current(self) -> tuple[ImageSession, Attempt] | None:
        """The session and the attempt on screen (None, with a hint, before any image)."""
        session, attempt = self.session, self.shown
        if session is None or attempt is None:
            self._notify("open an image first (o)", severity="warning")
            return None
        return session, attempt

    def _base(self) -> tuple[ImageSession, ReconstructParams, Attempt] | None:
        """What an override builds on: the newest requested params and the attempt on screen."""
        if (cur := self._current()) is None:
            return None
        session, attempt = cur
        return session, session.current or attempt.params, attempt

    def _limit(self, session: ImageSession) -> float:
        return float(min(session.width, session.height))

    # ------------------------------------------------------------------ overrides

    def action_scale_cell(self, factor: float) -> None:
        if (base := self._base()) is not None:
            session, params, attempt = base
            self.request(model.scale_cell(params, attempt.result, factor, self._limit(session)))

    def action_step_cell(self, delta: float) -> None:
        if (base := self._base()) is not None:
            session, params, attempt = base
            self.request(model.step_cell(params, attempt.result, delta, self._limit(session)))

    def action_nudge(self, dx: float, dy: float) -> None:
        if (base := self._base()) is not None:
            _, params, attempt = base
            self.request(model.nudge_offset(params, attempt.result, dx * model.NUDGE_PX, dy * model.NUDGE_PX))

    def action_toggle_switch(self, name: str) -> None:
        if (base := self._base()) is not None:
            self.request(model.toggle(base[1], name))

    def action_reset_params(self) -> None:
        if (base := self._base()) is not None:
            params = base[1]
            self.request(ReconstructParams(snap_lines=params.snap_lines, cleanup_colors=params.cleanup_colors,
                                           binarize_alpha=params.binarize_alpha))

    def action_type_params(self) -> None:
        if (cur := self._current()) is None:
            return
        _, attempt = cur
        grid = attempt.result.grid
        p = attempt.params
        values = (p.forced_cell_w if p.forced_cell_w is not None else (round(grid.cell_w, 3) if grid else None),
                  p.forced_cell_h if p.forced_cell_h is not None else (round(grid.cell_h, 3) if grid else None),
                  p.offset_x if p.offset_x is not None else (round(grid.offset_x, 2) if grid else None),
                  p.offset_y if p.offset_y is not None else (round(grid.offset_y, 2) if grid else None))

        def apply(result: tuple[float | None, float | None, float | None, float | None] | None) -> None:
            if result is not None and self.session is not None:
                current = self.session.current or ReconstructParams()
                self.request(model.typed(current, *result))

        self.app.push_screen(ParamsScreen(values), apply)

    # ------------------------------------------------------------------ attempts, view

    def action_attempt(self, step: int) -> None:
        if self.session is None:
            return
        target = self.session.neighbour(step)
        if target is not None:
            self._present(self.session, target, None, time.perf_counter())

    def action_zoom(self, factor: float) -> None:
        if self.session is None:
            return
        self.viewport = self.viewport.zoomed(factor)
        self.refresh_views()

    def on_image_pane_zoom(self, message: ImagePane.Zoom) -> None:
        self.action_zoom(2.0 if message.direction > 0 else 0.5)

    def action_pan(self, fx: float, fy: float) -> None:
        if self.session is None or self.pictures is None:
            return
        self.viewport = model.panned(self.viewport, self.pictures.geometry, fx, fy)
        self.refresh_views()

    def action_toggle_grid(self) -> None:
        self.view_options = replace(self.view_options, show_grid=not self.view_options.show_grid)
        self.refresh_views()
        self._update_panels()

    def action_toggle_heatmap(self) -> None:
        self.view_options = replace(self.view_options, show_heatmap=not self.view_options.show_heatmap)
        self.refresh_views()
        self._update_panels()

    # ------------------------------------------------------------------ batch

    def action_image(self, step: int) -> None:
        if self.batch is None:
            self._notify("open an image or folder first (o)", severity="warning")
            return
        if not self.batch.step(step):
            self._notify("first image" if step < 0 else "last image", severity="information")
            return
        self.load_current()

    def action_open(self) -> None:
        root = self.settings.browse_root
        if not root.is_dir():
            root = Path.cwd()

        def opened(path: Path | None) -> None:
            if path is not None:
                self.open_path(path)

        self.app.push_screen(OpenScreen(root), opened)

    # ------------------------------------------------------------------ feedback, export

    def _log(self, session: ImageSession, attempt: Attempt, verdict: str) -> None:
        entry = make_entry(
            image=session.path, verdict=verdict, overrides=attempt.params.overrides(), metrics=attempt.result.metrics,
            notes=session.notes, source=attempt.source, suggestion_rank=attempt.suggestion_rank, app_version=__version__,
        )
        try:
            append_feedback(self.settings.log_path, [entry])
        except OSError as exc:
            self._notify(f"{self.settings.log_path}: cannot write ({exc.strerror or exc})", severity="error")
            return
        attempt.verdict = verdict
        self._update_panels()
        self._notify(f"{verdict} → {self.settings.log_path}", title="Feedback logged")

    def action_verdict(self, verdict: str) -> None:
        if (cur := self._current()) is not None:
            self._log(*cur, verdict)

    def action_edit_notes(self) -> None:
        if (cur := self._current()) is None:
            return
        session, _ = cur

        def saved(text: str | None) -> None:
            if text is None:
                return
            session.notes = text
            attempt = self.shown if session is self.session else session.current_attempt()
            if attempt is not None and attempt.verdict is not None:
                self._log(session, attempt, attempt.verdict)  # re-log so the notes reach the file
            else:
                self._notify("notes kept: they are saved with your verdict (c / x)")
            self._update_panels()

        self.app.push_screen(NotesScreen(session.notes), saved)

    def action_save(self) -> None:
        if (cur := self._current()) is None:
            return
        session, _ = cur
        choice = session.export_choice()
        if choice is None:
            self._notify("nothing to save: this attempt found no grid", severity="error")
            return
        out = self.settings.output_dir
        try:
            files = write_outputs(choice.result, out, session.path.stem, EXPORT_OPTIONS)
            row = metrics_row(str(session.path), choice.result.metrics, self.settings.thresholds, output=str(files.sprite))
            append_metrics(out / METRICS_NAME, [row])
        except (OSError, ValueError) as exc:
            self._notify(f"{out}: cannot write ({exc})", title="Save failed", severity="error")
            return
        self.exported.append(files.sprite)
        which = "marked-correct" if choice.verdict == "correct" else "current"
        self._notify(f"{which} attempt → {files.sprite}", title="Saved")

    # ------------------------------------------------------------------ ML suggestions (optional)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("ml_next", "ml_verdict") and self.settings.ml_provider is None:
            return False
        return True

    def _probe_ml(self) -> None:
        from ..ml_hook import load_provider

        provider = load_provider()
        if provider is not None:
            self.app.call_from_thread(self._ml_ready, provider)

    def _ml_ready(self, provider: SuggestFn) -> None:
        self.settings.ml_provider = provider
        self.query_one(MLPanel).display = True
        self.refresh_bindings()
        if self.session is not None:
            self._start_ml(self.session)

    def _start_ml(self, session: ImageSession) -> None:
        provider = self.settings.ml_provider
        if provider is None:
            return
        self.ml_status = "asking the model…"
        self._update_panels()
        self.run_worker(lambda: self._ml_worker(provider, session), thread=True, exclusive=True, group="ml", name="ml", exit_on_error=False)

    def _ml_worker(self, provider: SuggestFn, session: ImageSession) -> None:
        try:
            suggestions = provider(session.path, 3)
            status = "" if suggestions else "no suggestions"
        except Exception as exc:  # the ML track is optional: report, never crash
            suggestions, status = [], f"unavailable: {type(exc).__name__}: {exc}"
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_suggestions, session, suggestions, status)

    def _show_suggestions(self, session: ImageSession, suggestions: list[Suggestion], status: str) -> None:
        if session is not self.session:
            return
        self.suggestions, self.selected_suggestion, self.ml_status = suggestions, None, status
        self._update_panels()

    def _apply_suggestion(self, index: int, then: Callable[[Attempt], None] | None = None) -> None:
        if self.session is None or not self.suggestions:
            self._notify("no ML suggestions for this image", severity="warning")
            return
        self.selected_suggestion = index % len(self.suggestions)
        suggestion = self.suggestions[self.selected_suggestion]
        base = self.session.current or ReconstructParams()
        self.request(suggestion.params(base), source=SOURCE_ML, rank=suggestion.rank, then=then)

    def action_ml_next(self) -> None:
        nxt = 0 if self.selected_suggestion is None else self.selected_suggestion + 1
        self._apply_suggestion(nxt)

    def action_ml_verdict(self, verdict: str) -> None:
        index = 0 if self.selected_suggestion is None else self.selected_suggestion
        session = self.session

        def log(attempt: Attempt) -> None:
            if session is not None:
                self._log(session, attempt, verdict)

        self._apply_suggestion(index, then=log)

    # ------------------------------------------------------------------ help

    def binding_rows(self) -> list[tuple[str, str]]:
        rows = []
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith("ml_") and self.settings.ml_provider is None:
                continue
            rows.append((binding.key_display or key_label(binding.key), binding.description))
        return rows

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.binding_rows()))
