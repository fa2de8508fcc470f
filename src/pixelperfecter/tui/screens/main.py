"""The main screen: three synchronized panes, the panels, the keys, and the workers.

What the keys mean lives in ``Controller`` (no Textual).  This screen maps keys and widget
messages to controller calls, runs the slow parts in thread workers, and puts what they post
back (typed ``Message``s) on screen.  The workers do all the expensive work: reconstruction,
the pane pictures, and their terminal encoding (Sixel / half blocks), cached per attempt,
view and pane size; the main thread only copies finished bytes into the frame.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Header, Label, LoadingIndicator
from textual.worker import get_current_worker

from ...core.feedback import SOURCE_ML, SOURCE_TUI
from ...core.io import ImageLoadError
from ...core.types import ReconstructParams
from ..controller import Confirm, Controller, Frame, Notice, Settings
from ..graphics import ORIGINAL_COLORS, SIXEL_MAX_COLORS, Graphics, encode_picture
from ..messages import AttemptReady, FrameReady, LoadFailed, ProviderReady, SheetReady, SuggestionsReady
from ..ml_hook import Suggestion
from ..paths import parse_dropped_path
from ..session import Attempt, ImageSession, PanePictures, TypedValues, ViewOptions, Viewport
from ..widgets.panels import AttemptsPanel, MetricsPanel, MLPanel, ParamsPanel
from ..widgets.panes import BACKGROUND, ImagePane
from ..widgets.picture import PictureView
from .dialogs import ConfirmScreen, HelpScreen, NotesScreen, OpenScreen, ParamsScreen, key_label

__all__ = ["MainScreen", "Settings"]

CELL = Binding.Group("Cell ÷2 ×2")
CELL_FINE = Binding.Group("Cell ±0.1")
CELL_PX = Binding.Group("Cell ±1")
OFFSET = Binding.Group("Offset", compact=True)
PAN = Binding.Group("Pan", compact=True)
ZOOM = Binding.Group("Zoom")
ATTEMPT = Binding.Group("Attempt")
FRAME = Binding.Group("Frame")
IMAGE = Binding.Group("Image")
SWITCH = Binding.Group("Snap/Clean/α")
ML = Binding.Group("ML")
SHEET = Binding.Group("Sprite")

COMPACT_ROWS = 40  # below this many terminal rows the info strip is compact
FOOTER_ROOMY_COLS = 100
LAYOUTS = ("side", "stacked")
PANE_IDS = ("pane-original", "pane-middle", "pane-reconstruction")
TRACE = os.environ.get("PERFECTER_TUI_TRACE", "")  # a file: one JSON line per screen update (benchmarks)


class MainScreen(Screen[None]):
    """Keyboard-first review of one image or a batch."""

    BINDINGS = [
        Binding("c", "verdict('correct')", "Correct"),
        Binding("x", "verdict('incorrect')", "Incorrect"),
        Binding("e", "edit_notes", "Notes", show=False),
        Binding("s", "save", "Save"),
        Binding("o", "open", "Open"),
        Binding("p", "image(-1)", "previous image", group=IMAGE),
        Binding("n", "image(1)", "next image", group=IMAGE),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "app.quit", "Quit"),
        Binding("left_square_bracket", "scale_cell(0.5)", "halve cell", key_display="[", group=CELL, show=False),
        Binding("right_square_bracket", "scale_cell(2.0)", "double cell", key_display="]", group=CELL, show=False),
        Binding("minus", "step_cell(-0.1)", "cell −0.1", key_display="-", group=CELL_FINE, show=False),
        Binding("equals_sign", "step_cell(0.1)", "cell +0.1", key_display="=", group=CELL_FINE, show=False),
        Binding("left_curly_bracket", "step_cell(-1.0)", "cell −1 px", key_display="{", group=CELL_PX, show=False),
        Binding("right_curly_bracket", "step_cell(1.0)", "cell +1 px", key_display="}", group=CELL_PX, show=False),
        Binding("t", "type_params", "Type cell/offset", show=False),
        Binding("shift+left", "nudge(-1, 0)", "offset x −1", key_display="⇧←", group=OFFSET, show=False),
        Binding("shift+right", "nudge(1, 0)", "offset x +1", key_display="⇧→", group=OFFSET, show=False),
        Binding("shift+up", "nudge(0, -1)", "offset y −1", key_display="⇧↑", group=OFFSET, show=False),
        Binding("shift+down", "nudge(0, 1)", "offset y +1", key_display="⇧↓", group=OFFSET, show=False),
        Binding("1", "toggle_switch('snap_lines')", "snap lines on/off", group=SWITCH, show=False),
        Binding("2", "toggle_switch('cleanup_colors')", "colour cleanup on/off", group=SWITCH, show=False),
        Binding("3", "toggle_switch('binarize_alpha')", "binarize alpha on/off", group=SWITCH, show=False),
        Binding("k", "cycle_colors", "colours: off → auto → 16 → 8 → 4", show=False),
        Binding("4", "toggle_switch('transparent')", "transparent background (auto) on/off", group=SWITCH, show=False),
        Binding("5", "toggle_switch('holes')", "also remove enclosed background (holes) on/off", group=SWITCH, show=False),
        Binding("r", "reset_params", "Auto-detect (reset cell, offset and 1-5)", show=False),
        Binding("z", "zoom(1)", "zoom in", group=ZOOM),
        Binding("Z", "zoom(-1)", "zoom out", group=ZOOM),
        Binding("left", "pan(-0.25, 0)", "pan left", key_display="←", group=PAN, show=False),
        Binding("right", "pan(0.25, 0)", "pan right", key_display="→", group=PAN, show=False),
        Binding("up", "pan(0, -0.25)", "pan up", key_display="↑", group=PAN, show=False),
        Binding("down", "pan(0, 0.25)", "pan down", key_display="↓", group=PAN, show=False),
        Binding("g", "toggle_view('show_grid')", "Grid", show=False),
        Binding("h", "toggle_view('show_heatmap')", "Heatmap", show=False),
        Binding("j", "region(1)", "next sprite of a sheet", group=SHEET, show=False),
        Binding("J", "region(-1)", "previous sprite of a sheet", group=SHEET, show=False),
        Binding("f", "enlarge", "enlarge one pane (cycles)", show=False),
        Binding("v", "stack", "stacked / side-by-side panes", show=False),
        Binding("m", "frame(1)", "next frame (animations)", group=FRAME, show=False),
        Binding("M", "frame(-1)", "previous frame (animations)", group=FRAME, show=False),
        Binding("comma", "attempt(-1)", "previous attempt", key_display=",", group=ATTEMPT, show=False),
        Binding("full_stop", "attempt(1)", "next attempt", key_display=".", group=ATTEMPT, show=False),
        Binding("u", "ml_next", "apply next ML suggestion", group=ML, show=False),
        Binding("a", "ml_verdict('correct')", "accept ML suggestion", group=ML, show=False),
        Binding("d", "ml_verdict('incorrect')", "reject ML suggestion", group=ML, show=False),
    ]

    def __init__(self, settings: Settings, initial: Path | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.initial = initial
        graphics: Graphics = settings.graphics  # type: ignore[assignment]
        self.graphics = graphics
        self.pane_background = BACKGROUND  # read from the theme on mount: padding must not show
        self.controller = Controller(settings, self._encoder(graphics))
        self.pending = 0  # workers whose result is not on screen yet
        self.enlarged: int | None = None  # index of the pane shown alone
        self.layout_mode = "side"
        self.layout_chosen = False  # True once the user pressed v
        self.compact = False
        self.updates: list[dict[str, object]] = []  # per presented frame: panes re-sent, bytes, build time
        self._ml_started = False
        self.notices: list[str] = []  # every message shown to the user, in order

    def _encoder(self, graphics: Graphics):  # type: ignore[no-untyped-def]
        def encode(rgb, key):  # type: ignore[no-untyped-def]
            colors = ORIGINAL_COLORS if key[0] == "original" else SIXEL_MAX_COLORS
            return encode_picture(graphics.name, rgb, graphics.px_x, graphics.px_y, key, self.pane_background, colors)

        return encode

    # ------------------------------------------------------------------ what tests and the app read

    @property
    def session(self) -> ImageSession | None:
        return self.controller.session

    @property
    def shown(self) -> Attempt | None:
        return self.controller.shown

    @property
    def viewport(self) -> Viewport:
        return self.controller.viewport

    @property
    def view_options(self) -> ViewOptions:
        return self.controller.view_options

    @property
    def sessions(self):  # type: ignore[no-untyped-def]
        return self.controller.sessions

    @property
    def batch(self):  # type: ignore[no-untyped-def]
        return self.controller.batch

    @property
    def latencies(self) -> list[float]:
        return self.controller.latencies

    @property
    def suggestions(self) -> list[Suggestion]:
        return self.controller.suggestions

    @property
    def selected_suggestion(self) -> int | None:
        return self.controller.selected_suggestion

    @property
    def ml_status(self) -> str:
        return self.controller.ml_status

    @property
    def busy(self) -> bool:
        return self.pending > 0

    @property
    def pictures(self) -> PanePictures | None:
        frame = self.controller.frame
        if frame is None:
            return None
        o, m, r = (p.picture for p in frame.panes)
        assert o is not None
        return PanePictures(o, m, r, frame.geometry, frame.middle_kind, frame.message)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            yield ImagePane("Original", self.graphics, id="pane-original")
            yield ImagePane("Diff", self.graphics, id="pane-middle")
            yield ImagePane("Reconstruction", self.graphics, id="pane-reconstruction")
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
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Pixel Perfecter"
        colour = self.panes[0].image_widget.background_colors[1]
        self.pane_background = (colour.r, colour.g, colour.b)
        self.query_one("#busy").display = False
        self._set_compact(self.app.size.height < COMPACT_ROWS)
        self.update_panels()
        if self.settings.graphics_note:
            self._notify(self.settings.graphics_note, title="Graphics", timeout=6)
        if self.initial is not None:
            self.call_after_refresh(self.open_path, self.initial, True)
        else:
            self.call_after_refresh(self.action_open)
            self.call_after_refresh(self._start_ml_probe)

    @property
    def panes(self) -> tuple[ImagePane, ImagePane, ImagePane]:
        return (
            self.query_one("#pane-original", ImagePane),
            self.query_one("#pane-middle", ImagePane),
            self.query_one("#pane-reconstruction", ImagePane),
        )

    def display_size(self) -> tuple[int, int]:
        """Picture size in display pixels: the smallest visible pane body (all show the same crop)."""
        sizes = [pane.display_pixels() for pane in self.panes if pane.display]
        return min(s[0] for s in sizes), min(s[1] for s in sizes)

    def _notify(self, message: str, **kwargs: object) -> None:
        # File names may contain [brackets]: never parse them as markup.
        self.notices.append(message)
        self.notify(message, markup=False, **kwargs)  # type: ignore[arg-type]

    def _tell(self, notice: Notice | None) -> None:
        if notice is not None:
            kwargs: dict[str, object] = {"severity": notice.severity}
            if notice.title:
                kwargs["title"] = notice.title
            self._notify(notice.message, **kwargs)

    def set_status(self, text: str) -> None:
        self.query_one("#status", Label).update(text)

    def _busy(self, delta: int) -> None:
        self.pending = max(0, self.pending + delta)
        self.query_one("#busy").display = self.pending > 0

    def _set_compact(self, compact: bool) -> None:
        self.compact = compact
        self.set_class(compact, "-compact")
        # The footer's roomy style needs ~100 columns for its keys and the palette hint.
        self.query_one(Footer).compact = self.app.size.width < FOOTER_ROOMY_COLS

    # ------------------------------------------------------------------ opening

    def open_path(self, path: Path, initial: bool = False) -> None:
        try:
            self.controller.open(path)
        except (ValueError, OSError) as exc:
            self._notify(str(exc), title="Cannot open", severity="error")
            if initial:  # an empty or missing folder at start: show the picker, not a blank screen
                self.action_open()
                self._start_ml_probe()
            return
        self.load_current()

    def on_paste(self, event: events.Paste) -> None:
        """A file dropped on the terminal arrives as a pasted path."""
        path = parse_dropped_path(event.text)
        if path is None:
            return
        event.stop()
        self.open_path(path)

    def load_current(self) -> None:
        batch = self.controller.batch
        if batch is None:
            return
        path = batch.current
        self.sub_title = f"{path.name} — {batch.position()}"
        cached = self.controller.begin_image()
        if cached is not None:
            self._auto_layout(cached)
            attempt = cached.cached(self.controller.target) if self.controller.target else None
            self._render_frame(attempt, time.perf_counter())
            self._start_ml(cached)
            return
        self._clear_panes(f"loading {path.name}…")
        self._busy(+1)
        size, options, started = self.display_size(), self.controller.view_options, time.perf_counter()
        self.run_worker(lambda: self._load_worker(path, size, options, started), thread=True, exclusive=True,
                        group="load", name=f"load {path.name}", exit_on_error=False)

    def _load_worker(self, path: Path, size: tuple[int, int], options: ViewOptions, started: float) -> None:
        worker = get_current_worker()
        try:
            session = ImageSession.open(path)
            attempt = session.run(ReconstructParams())
            frame = self.controller.build_frame(session, attempt, Viewport(), size, options, started)
            assert frame is not None
        except ImageLoadError as exc:
            self.post_message(LoadFailed(path, str(exc)))
            return
        except Exception as exc:  # never let one bad image take the app down
            self.post_message(LoadFailed(path, f"{type(exc).__name__}: {exc}"))
            return
        if worker.is_cancelled:
            self.post_message(LoadFailed(path, ""))  # only balances the busy count
            return
        self.post_message(AttemptReady(frame, first=True))

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self._busy(-1)
        if not self.controller.is_current(message.path) or not message.reason:
            return  # the user moved on while it loaded
        self._clear_panes(f"cannot read {message.path.name}")
        self.set_status(f"{message.path}: {message.reason}")
        self._notify(f"{message.path.name}: {message.reason}", title="Cannot read image", severity="error")
        self._start_ml_probe()

    def _clear_panes(self, message: str) -> None:
        for pane in self.panes:
            pane.show(None, None, "")
        self.panes[0].show(None, None, message)
        self.update_panels()

    # ------------------------------------------------------------------ attempts and frames

    def request(self, params: ReconstructParams | Notice | None, *, source: str = SOURCE_TUI, rank: int | None = None,
                verdict: str | None = None) -> None:
        """Show the attempt for ``params``: from the cache, or computed in a worker."""
        if isinstance(params, Notice):
            self._tell(params)
            return
        session = self.controller.session
        if params is None or session is None:
            return
        started = time.perf_counter()
        self.controller.target = params
        cached = session.cached(params)
        if cached is not None and verdict is None:
            self._tag(cached, source, rank)
            self._render_frame(cached, started)
            return
        self._busy(+1)
        size, viewport, options = self.display_size(), self.controller.viewport, self.controller.view_options
        self.run_worker(lambda: self._run_worker(session, params, source, rank, size, viewport, options, started, verdict),
                        thread=True, group="run", name="re-run", exit_on_error=False)

    def _run_worker(self, session: ImageSession, params: ReconstructParams, source: str, rank: int | None,
                    size: tuple[int, int], viewport: Viewport, options: ViewOptions, started: float, verdict: str | None) -> None:
        try:
            attempt = session.run(params)
            self._tag(attempt, source, rank)
            # The view may have changed while it computed: build the frame for the view now.
            if session is self.controller.session:
                viewport, options = self.controller.viewport, self.controller.view_options
            frame = self.controller.build_frame(session, attempt, viewport, size, options, started)
            assert frame is not None
        except Exception as exc:  # report it; the app keeps running
            self.post_message(FrameReady(None, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(AttemptReady(frame, verdict))

    @staticmethod
    def _tag(attempt: Attempt, source: str, rank: int | None) -> None:
        if source == SOURCE_ML:
            attempt.source, attempt.suggestion_rank = source, rank

    def _render_frame(self, attempt: Attempt | None, started: float | None = None) -> None:
        """Build a frame for an attempt already computed (or the current one) in a worker."""
        session = self.controller.session
        if session is None:
            return
        attempt = attempt if attempt is not None else self.controller.shown
        size, viewport, options = self.display_size(), self.controller.viewport, self.controller.view_options
        cached = self.controller.build_frame(session, attempt, viewport, size, options, started, cached_only=True)
        if cached is not None:  # a flip back, a zoom level seen before: no worker, no wait
            if self.controller.accepts(cached):
                self._present(cached)
            return
        self._busy(+1)

        def work() -> None:
            try:
                frame = self.controller.build_frame(session, attempt, viewport, size, options, started)
                assert frame is not None
            except Exception as exc:  # report it; the app keeps running
                self.post_message(FrameReady(None, f"{type(exc).__name__}: {exc}"))
                return
            self.post_message(FrameReady(frame))

        self.run_worker(work, thread=True, group="render", name="render", exit_on_error=False)

    @on(AttemptReady)
    def _attempt_ready(self, message: AttemptReady) -> None:
        self._busy(-1)
        frame = message.frame
        if message.first and not self.controller.loaded(frame.session, frame.attempt):  # type: ignore[arg-type]
            return
        if not self.controller.accepts(frame):
            return  # stale: a newer request or another image took over
        self._present(frame)
        if message.first:
            self._auto_layout(frame.session)
            self._start_ml(frame.session)
        if message.verdict is not None and frame.attempt is not None:
            self._ml_log(frame.attempt, message.verdict)

    @on(FrameReady)
    def _frame_ready(self, message: FrameReady) -> None:
        self._busy(-1)
        if message.error is not None:
            self._notify(f"cannot draw this view: {message.error}", title="Error", severity="error")
        if message.frame is not None and self.controller.accepts(message.frame):
            self._present(message.frame)

    def _present(self, frame: Frame) -> None:
        stale_view = self.controller.present(frame)
        if frame.size != self.display_size():
            stale_view = True
        sent, nbytes = 0, 0
        for pane, content in zip(self.panes, frame.panes):
            pane.set_title(content.title)
            message: str | Text = content.message
            if pane.id == "pane-middle" and frame.middle_kind == "heatmap":
                message = heatmap_legend()
            if pane.show(content.encoded, content.picture, message):
                sent += 1
                nbytes += getattr(content.encoded, "nbytes", 0) if content.encoded is not None else 0
        update: dict[str, object] = {"panes": sent, "bytes": nbytes, "build_ms": round(frame.build_seconds * 1000, 1),
                  "encoded": frame.encoded_now,
                  "to_present_ms": round((time.perf_counter() - frame.started) * 1000, 1) if frame.started else None}
        self.updates.append(update)
        if TRACE:
            self.call_after_refresh(self._trace, update, frame.started)
        self.update_panels()
        attempt = frame.attempt
        if attempt is not None and not attempt.ok and frame.started is not None:
            self._notify(f"{frame.session.path.name}: {attempt.result.error}", title="No grid", severity="warning")
        if frame.started is not None:
            self.call_after_refresh(self._stamp, frame.started)
        if stale_view:
            self._render_frame(self.controller.shown)

    def _trace(self, update: dict[str, object], started: float | None) -> None:
        update["to_refresh_ms"] = round((time.perf_counter() - started) * 1000, 1) if started else None
        with open(TRACE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(update) + "\n")

    def _stamp(self, started: float) -> None:
        self.controller.latencies.append(time.perf_counter() - started)

    def refresh_views(self) -> None:
        """Re-crop the attempt on screen (zoom, pan, toggles, resize): no recomputation."""
        if self.controller.session is not None:
            self._render_frame(self.controller.shown, time.perf_counter())

    @on(PictureView.Resized)
    def _pane_resized(self, message: PictureView.Resized) -> None:
        """A pane's picture area changed size (layout switch, enlarge, terminal resize): redraw
        once the layout has settled, if the picture on screen was made for another size."""
        frame = self.controller.frame
        if frame is not None and message.view.display and frame.size != self.display_size():
            self.refresh_views()

    def on_resize(self, event: events.Resize) -> None:
        self._set_compact(self.app.size.height < COMPACT_ROWS)
        if self.controller.session is not None:
            self._auto_layout(self.controller.session)
        if self.controller.session is not None:
            self.call_after_refresh(self.refresh_views)

    def update_panels(self) -> None:
        c = self.controller
        session = c.session
        attempt = c.shown if session is not None else None
        frame = session.frame_label() if session is not None else None
        self.query_one(MetricsPanel).show_attempt(attempt, self.settings.thresholds, busy=self.busy, compact=self.compact, frame=frame)
        pending = c.target if (c.target is not None and attempt is not None and c.target != attempt.params) else None
        self.query_one(ParamsPanel).show_state(
            attempt.params if attempt else None, attempt.verdict if attempt else None, session.notes if session else "",
            c.position() or f"zoom {c.viewport.zoom:g}×", c.view_options.show_grid, c.view_options.show_heatmap,
            self.graphics.name, pending=pending, compact=self.compact, region=c.region_text(),
        )
        self.query_one(AttemptsPanel).show_attempts(session.ordered() if session else [], attempt.params if attempt else None)
        if self.settings.ml_provider is not None:
            self.query_one(MLPanel).show_suggestions(c.suggestions, c.selected_suggestion, c.ml_status)
        if session is not None and c.batch is not None:
            # The position first: a long path is what gets cut at the right edge.
            self.set_status(f"{c.position()}  ·  {c.batch.position()}  ·  {session.width}×{session.height}  ·  {session.path}")

    # ------------------------------------------------------------------ overrides

    def action_scale_cell(self, factor: float) -> None:
        self.request(self.controller.params_for("scale_cell", factor))

    def action_step_cell(self, delta: float) -> None:
        self.request(self.controller.params_for("step_cell", delta))

    def action_nudge(self, dx: float, dy: float) -> None:
        self.request(self.controller.params_for("nudge", dx, dy))

    def action_toggle_switch(self, name: str) -> None:
        self.request(self.controller.params_for("toggle_switch", name))

    def action_cycle_colors(self) -> None:
        self.request(self.controller.params_for("cycle_colors"))

    def action_reset_params(self) -> None:
        self.request(self.controller.params_for("reset"))

    def action_type_params(self) -> None:
        values = self.controller.typed_values()
        if isinstance(values, Notice):
            self._tell(values)
            return

        def apply(result: TypedValues | None) -> None:
            if result is not None and self.controller.session is not None:
                self.request(self.controller.typed(result))

        self.app.push_screen(ParamsScreen(values, self.controller.detected_values()), apply)

    # ------------------------------------------------------------------ attempts, view

    def action_frame(self, step: int) -> None:
        """m / M: the next / previous frame of an animation, on the same joint reconstruction."""
        notice = self.controller.step_frame(int(step))
        if notice is not None:
            self._tell(notice)
            return
        self._render_frame(self.controller.shown, time.perf_counter())
        self.update_panels()

    def action_attempt(self, step: int) -> None:
        target = self.controller.flip(step)
        if target is not None:
            self._render_frame(target, time.perf_counter())

    @on(AttemptsPanel.Selected)
    def _attempt_clicked(self, message: AttemptsPanel.Selected) -> None:
        target = self.controller.select_attempt(message.index)
        if target is not None:
            self._render_frame(target, time.perf_counter())

    def action_zoom(self, direction: int, anchor: tuple[float, float] | None = None) -> None:
        if self.controller.session is None:
            return
        self.controller.zoomed(int(direction), anchor)
        self.refresh_views()

    @on(ImagePane.Zoom)
    def _wheel(self, message: ImagePane.Zoom) -> None:
        self.action_zoom(1 if message.direction > 0 else -1, message.anchor)

    @on(ImagePane.Drag)
    def _drag(self, message: ImagePane.Drag) -> None:
        if self.controller.session is not None:
            self.controller.dragged(message.dx, message.dy, (self.graphics.px_x, self.graphics.px_y))
            self.refresh_views()

    @on(ImagePane.Enlarge)
    def _enlarge_pane(self, message: ImagePane.Enlarge) -> None:
        index = PANE_IDS.index(message.pane.id or "")
        self._set_enlarged(None if self.enlarged == index else index)

    def action_pan(self, fx: float, fy: float) -> None:
        if self.controller.session is None or self.controller.frame is None:
            return
        self.controller.panned(fx, fy)
        self.refresh_views()

    def action_toggle_view(self, name: str) -> None:
        self.controller.toggled_view(name)
        self.refresh_views()
        self.update_panels()

    def action_region(self, step: int) -> None:
        """j / J: box the sheet's sprites over the original and step through them (found in a
        worker the first time: 0.1-0.2 s on a 1 MP sheet, which froze the keys)."""
        attempt = self.controller.sheet_pending()
        if attempt is None:
            self._show_region(int(step))
            return
        self._busy(+1)  # the busy indicator shows while they are found

        def work() -> None:
            from ...core.sheet import reconstruct_sheet

            try:
                sheet = reconstruct_sheet(attempt.result)
            except Exception as exc:  # report it; the app keeps running
                self.post_message(SheetReady(attempt, None, int(step), f"{type(exc).__name__}: {exc}"))
                return
            self.post_message(SheetReady(attempt, sheet, int(step)))

        self.run_worker(work, thread=True, group="sheet", name="sheet", exit_on_error=False)

    @on(SheetReady)
    def _sheet_ready(self, message: SheetReady) -> None:
        self._busy(-1)
        if message.error is not None:
            self._notify(f"cannot find the sheet's sprites: {message.error}", title="Error", severity="error")
            return
        if self.controller.sheet_found(message.attempt, message.sheet):  # type: ignore[arg-type]
            self._show_region(message.step)

    def _show_region(self, step: int) -> None:
        self._tell(self.controller.step_region(step))
        if self.controller.session is not None:
            self.refresh_views()
        self.update_panels()

    def action_enlarge(self) -> None:
        """f: original alone → diff alone → reconstruction alone → all three."""
        nxt = 0 if self.enlarged is None else (self.enlarged + 1 if self.enlarged < 2 else None)
        self._set_enlarged(nxt)

    def _set_enlarged(self, index: int | None) -> None:
        self.enlarged = index
        for i, pane in enumerate(self.panes):
            pane.display = index is None or i == index
        self.call_after_refresh(self.refresh_views)

    def action_stack(self) -> None:
        """v: panes side by side (wide images get tall, thin panes) or stacked in rows."""
        self.layout_chosen = True  # the user's choice: no more automatic switching
        self._set_layout("stacked" if self.layout_mode == "side" else "side")

    def _set_layout(self, mode: str) -> bool:
        if mode == self.layout_mode:
            return False
        self.layout_mode = mode
        self.query_one("#panes").set_class(mode == "stacked", "-stacked")
        self.call_after_refresh(self.refresh_views)
        return True

    def _auto_layout(self, session: ImageSession) -> None:
        """Stack the panes when that shows the image clearly larger (very wide images)."""
        if self.layout_chosen or self.enlarged is not None:
            return
        area = self.query_one("#panes").size
        px_x, px_y = self.graphics.px_x, self.graphics.px_y

        def scale(cols: float, rows: float) -> float:
            return min(max(1.0, cols) * px_x / session.width, max(1.0, rows) * px_y / session.height)

        side = scale(area.width / 3 - 2, area.height - 4)
        stacked = scale(area.width - 2, area.height / 3 - 4)
        self._set_layout("stacked" if stacked > 1.15 * side else "side")

    # ------------------------------------------------------------------ batch

    def action_image(self, step: int) -> None:
        notice = self.controller.step_image(step)
        if notice is not None:
            self._tell(notice)
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

    def action_verdict(self, verdict: str) -> None:
        self._tell(self.controller.log_verdict(verdict))
        self.update_panels()

    def action_edit_notes(self) -> None:
        session = self.controller.session
        if session is None or self.controller.shown is None:
            self._notify("open an image first (o)", severity="warning")
            return

        def saved(text: str | None) -> None:
            if text is not None:
                self._tell(self.controller.set_notes(session, text))
                self.update_panels()

        self.app.push_screen(NotesScreen(session.notes), saved)

    def _ask(self, confirm: Confirm) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._tell(confirm.proceed())
                self.update_panels()

        self.app.push_screen(ConfirmScreen(confirm.question), answered)

    def action_save(self) -> None:
        result = self.controller.save()
        if isinstance(result, Confirm):
            self._ask(result)
        else:
            self._tell(result)

    # ------------------------------------------------------------------ ML suggestions (optional)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("ml_next", "ml_verdict") and self.settings.ml_provider is None:
            return False
        return True

    def _start_ml_probe(self) -> None:
        """Look for the ML package once the first image is up (torch's import must not delay it)."""
        if self._ml_started or not self.settings.ml_auto or self.settings.ml_provider is not None:
            return
        self._ml_started = True
        self.query_one(MLPanel).probe()

    @on(ProviderReady)
    def _ml_ready(self, message: ProviderReady) -> None:
        self.settings.ml_provider = message.provider
        self.query_one(MLPanel).display = True
        self.refresh_bindings()
        if self.controller.session is not None:
            self._start_ml(self.controller.session)

    def _start_ml(self, session: ImageSession) -> None:
        # The probe imports torch (seconds): only once the first image has been painted.
        self.call_after_refresh(self._start_ml_probe)
        provider = self.settings.ml_provider
        if provider is None:
            return
        self.controller.ml_status = "asking the model…"
        self.update_panels()
        self.query_one(MLPanel).ask(provider, session)

    @on(SuggestionsReady)
    def _show_suggestions(self, message: SuggestionsReady) -> None:
        if message.session is not self.controller.session:
            return
        c = self.controller
        c.suggestions, c.selected_suggestion, c.ml_status = message.suggestions, None, message.status
        self.update_panels()

    def _apply_suggestion(self, index: int, verdict: str | None = None) -> None:
        chosen = self.controller.suggestion(index)
        if isinstance(chosen, Notice):
            self._tell(chosen)
            return
        params, suggestion = chosen
        self.request(params, source=SOURCE_ML, rank=suggestion.rank, verdict=verdict)

    def action_ml_next(self) -> None:
        c = self.controller
        self._apply_suggestion(0 if c.selected_suggestion is None else c.selected_suggestion + 1)

    @on(MLPanel.Selected)
    def _suggestion_clicked(self, message: MLPanel.Selected) -> None:
        self._apply_suggestion(message.index)

    def action_ml_verdict(self, verdict: str) -> None:
        c = self.controller
        self._apply_suggestion(0 if c.selected_suggestion is None else c.selected_suggestion, verdict)

    def _ml_log(self, attempt: Attempt, verdict: str) -> None:
        question = self.controller.accept_question(attempt) if verdict == "correct" else None
        session = self.controller.session
        if question is None:
            self._tell(self.controller.log_verdict(verdict, attempt, session))
            self.update_panels()
            return
        self._ask(Confirm(question, lambda: self.controller.log_verdict(verdict, attempt, session)))

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


def heatmap_legend() -> Text:
    """The heatmap's colour scale, drawn in its own colours (inferno: dark = good, yellow = bad)."""
    stops = [(0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99), (212, 72, 66), (245, 125, 21), (250, 193, 39), (252, 255, 164)]
    text = Text("per-cell error  0 ")
    for r, g, b in stops:
        text.append("  ", style=f"on rgb({r},{g},{b})")
    text.append(" ≥64 (mean |Δ|)")
    return text
