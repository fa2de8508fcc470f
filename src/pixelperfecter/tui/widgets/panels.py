"""The text panels under the panes: metrics, parameters, attempts, ML suggestions."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static
from textual.worker import get_current_worker

from ...core.types import Metrics, ReconstructParams, Thresholds
from ..ml_hook import SuggestFn, Suggestion
from ..session import Attempt, ImageSession, colors_label

FLAG_FOR = {"diff_pct": "diff_pct", "confidence": "confidence", "cell_w": "cell", "cell_h": "cell"}


def flagged_names(metrics: Metrics, thresholds: Thresholds) -> set[str]:
    """Which displayed values cross a threshold (``Metrics.flags`` names mapped to rows)."""
    flags = set(metrics.flags(thresholds))
    out = set()
    if "diff_pct" in flags:
        out.add("diff")
    if "confidence" in flags:
        out.add("confidence")
    if "cell_small" in flags or "cell_large" in flags:
        out.add("cell")
    return out


class MetricsPanel(Static):
    """Cell size, offsets, cells, diff %, confidence, colours, time; flagged values in red."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__("", **kwargs)
        self.flagged: set[str] = set()

    def show_attempt(self, attempt: Attempt | None, thresholds: Thresholds, busy: bool = False, compact: bool = False,
                     frame: str | None = None) -> None:
        """``frame``: "i/n" for an animation (the panes show frame i of the joint reconstruction)."""
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True, min_width=5 if compact else 10)
        table.add_column(no_wrap=True, overflow="ellipsis")
        self.flagged = set()
        if frame is not None:
            table.add_row("frame", Text(f"frame {frame}  (m/M: next/previous)", style="bold cyan"))
        if attempt is None:
            table.add_row("", "computing…" if busy else "no image")
            self.update(table)
            return
        metrics = attempt.result.metrics
        if metrics is None:
            table.add_row("grid", Text(attempt.result.error or "no grid found", style="bold red"))
            table.add_row("time", f"{attempt.seconds * 1000:.0f} ms")
            self.update(table)
            return
        self.flagged = flagged_names(metrics, thresholds)

        def value(name: str, text: str) -> Text:
            return Text(f"{text}  ⚠", style="bold red") if name in self.flagged else Text(text)

        if compact:
            table.add_row("cell", value("cell", f"{metrics.cell_w:.3f}×{metrics.cell_h:.3f} @ {metrics.offset_x:.1f},{metrics.offset_y:.1f}"))
            table.add_row("diff", value("diff", f"{metrics.diff_pct:.2f} %  conf {metrics.confidence:.2f}"))
            table.add_row("cells", f"{metrics.cells_x}×{metrics.cells_y}  {metrics.n_colors} col  {attempt.seconds * 1000:.0f} ms")
            if attempt.result.palette is not None:
                table.add_row("pal", _colours_text(attempt))
            self.update(table)
            return
        table.add_row("cell", value("cell", f"{metrics.cell_w:.3f} × {metrics.cell_h:.3f} px"))
        table.add_row("offset", f"{metrics.offset_x:.2f}, {metrics.offset_y:.2f} px")
        table.add_row("cells", f"{metrics.cells_x} × {metrics.cells_y}")
        table.add_row("diff", value("diff", f"{metrics.diff_pct:.2f} %"))
        table.add_row("confidence", value("confidence", f"{metrics.confidence:.2f}"))
        table.add_row("colours", _colours_text(attempt))
        if metrics.background:
            table.add_row("background", f"{metrics.background}  {metrics.transparent_cells} cells clear")
        table.add_row("time", f"{attempt.seconds * 1000:.0f} ms")
        if metrics.warnings:
            table.add_row("warn", Text("; ".join(metrics.warnings), style="yellow"))
        self.update(table)


# Swatches shown in the palette strip at most (the rest as "+N").
STRIP_SWATCHES = 32


def _colours_text(attempt: Attempt) -> Text:
    """The colour count; after a palette step (key k, --colors, --palette) its source, cost and a strip."""
    metrics = attempt.result.metrics
    report = attempt.result.palette
    text = Text(str(metrics.n_colors if metrics is not None else 0))
    if report is None:
        return text
    text.append(f"  {report.source}, max error {report.max_error:.1f}  ")
    for r, g, b in report.colors[:STRIP_SWATCHES]:
        text.append("█", style=f"rgb({r},{g},{b})")
    if len(report.colors) > STRIP_SWATCHES:
        text.append(f" +{len(report.colors) - STRIP_SWATCHES}")
    return text


def _on_off(value: bool) -> Text:
    return Text("on", style="green") if value else Text("off", style="bold yellow")


def _params_text(params: ReconstructParams) -> tuple[str, str]:
    cell = "auto"
    if params.forced_cell_w is not None:
        cell = f"{params.forced_cell_w:g} × {params.forced_cell_h:g}"
    offset = "auto" if params.offset_x is None and params.offset_y is None else \
        f"{'auto' if params.offset_x is None else f'{params.offset_x:g}'}, {'auto' if params.offset_y is None else f'{params.offset_y:g}'}"
    return cell, offset


class ParamsPanel(Static):
    """The overrides of the attempt ON SCREEN (what a verdict logs), the switches, the view,
    the verdict and notes; a newer request still computing is shown on its own line."""

    def show_state(self, params: ReconstructParams | None, verdict: str | None, notes: str, view: str,
                   show_grid: bool, show_heatmap: bool, graphics: str, pending: ReconstructParams | None = None,
                   compact: bool = False, region: str | None = None) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True, min_width=4 if compact else 15)
        table.add_column(no_wrap=True, overflow="ellipsis")
        params = params or ReconstructParams()
        cell, offset = _params_text(params)
        verdict_text = Text("—") if verdict is None else Text(verdict, style="bold green" if verdict == "correct" else "bold red")
        if compact:
            table.add_row("cell", Text(f"{cell} @ {offset}"))
            switches = Text()
            # The five switches' states in key order (the row's label names the keys).
            for value in (params.snap_lines, params.cleanup_colors, params.binarize_alpha, params.transparent is not None, params.holes):
                switches.append_text(_on_off(value))
                switches.append(" ")
            if params.reduces_colors:
                switches.append(f"k:{colors_label(params)}", style="green")
            table.add_row("1-5", switches)
            table.add_row("mark", verdict_text)
        else:
            table.add_row("cell", Text(cell))
            table.add_row("offset", Text(offset))
            table.add_row("1 snap lines", _on_off(params.snap_lines))
            table.add_row("2 clean colours", _on_off(params.cleanup_colors))
            table.add_row("3 binarize α", _on_off(params.binarize_alpha))
            if params.reduces_colors:  # shown once key k (or a flag) turned it on
                table.add_row("k colours", Text(colors_label(params), style="green"))
            # One row for both (the panel has room for one more line, kept for "next"): 5 is part of 4.
            transparent = _on_off(False) if params.transparent is None else Text(f"{params.transparent}  5 holes ").append_text(_on_off(params.holes))
            table.add_row("4 transparent", transparent)
            table.add_row("view", Text(f"{view}  grid {'on' if show_grid else 'off'}  heat {'on' if show_heatmap else 'off'}  {graphics}"))
            table.add_row("verdict", verdict_text)
            preview = notes.replace("\n", " ⏎ ")
            table.add_row("notes", Text(preview[:60] + ("…" if len(preview) > 60 else "") or "—"))
        if region is not None:
            table.add_row("sprite" if compact else "sprite (j J)", Text(region))
        if pending is not None and pending != params:
            p_cell, p_offset = _params_text(pending)
            table.add_row("next", Text(f"computing: cell {p_cell}, offset {p_offset}", style="italic yellow"))
        self.update(table)


class AttemptsPanel(Static):
    """Every parameter set tried on this image; the current one highlighted and always in view.

    Click a row to show that attempt (posts ``Selected``)."""

    class Selected(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__("", **kwargs)
        self.first_row = 0  # index of the attempt on the panel's first line
        self.count = 0

    def show_attempts(self, attempts: list[Attempt], current: ReconstructParams | None) -> None:
        self.count = len(attempts)
        text = Text(no_wrap=True, overflow="ellipsis")
        if not attempts:
            text.append("no attempts yet")
            self.first_row = 0
            self.update(text)
            return
        rows = max(1, self.content_size.height or 8)
        here = next((i for i, a in enumerate(attempts) if a.params == current), 0)
        # Keep the current row in view: scroll just enough.
        if here < self.first_row:
            self.first_row = here
        elif here >= self.first_row + rows:
            self.first_row = here - rows + 1
        self.first_row = max(0, min(self.first_row, max(0, len(attempts) - rows)))
        shown = attempts[self.first_row:self.first_row + rows]
        for i, attempt in enumerate(shown, start=self.first_row + 1):
            mark = "▶ " if attempt.params == current else "  "
            verdict = {"correct": " ✓", "incorrect": " ✗"}.get(attempt.verdict or "", "")
            metrics = attempt.result.metrics
            summary = f"diff {metrics.diff_pct:.2f}%" if metrics else (attempt.result.error or "failed")
            style = "reverse" if attempt.params == current else ""
            end = "\n" if i < self.first_row + len(shown) else ""
            text.append(f"{mark}{i}/{len(attempts)} {attempt.label()} · {summary}{verdict}{end}", style=style)
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = self.first_row + offset.y
        if 0 <= index < self.count:
            event.stop()
            self.post_message(self.Selected(index))


class MLPanel(Static):
    """ML suggestions (shown when the ML hook is available).  Click one to apply it.

    It also hosts the ML work: ``probe`` looks for the package and ``ask`` asks the model, each
    in a thread worker, and the answers come back as messages (``ProviderReady``,
    ``SuggestionsReady``) for the screen; the panel knows nothing about the screen.
    """

    class Selected(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    HEADER_LINES = 1

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__("", **kwargs)
        self.count = 0
        self.status_lines = 0

    def probe(self) -> None:
        """Look for the ML package (importing torch takes seconds: a worker, never the UI)."""
        self.run_worker(self._probe, thread=True, group="ml-probe", name="ml-probe", exit_on_error=False)

    def _probe(self) -> None:
        from ..messages import ProviderReady
        from ..ml_hook import load_provider

        provider = load_provider()
        if provider is not None:
            self.post_message(ProviderReady(provider))

    def ask(self, provider: SuggestFn, session: ImageSession) -> None:
        """Ask the model for ``session``'s image; the newest question cancels an older one."""
        self.run_worker(lambda: self._ask(provider, session), thread=True, exclusive=True, group="ml", name="ml",
                        exit_on_error=False)

    def _ask(self, provider: SuggestFn, session: ImageSession) -> None:
        from ..messages import SuggestionsReady

        try:
            suggestions = provider(session.path, 3)
            status = "" if suggestions else "no suggestions"
        except Exception as exc:  # the ML track is optional: report, never crash
            suggestions, status = [], f"unavailable: {type(exc).__name__}: {exc}"
        if not get_current_worker().is_cancelled:
            self.post_message(SuggestionsReady(session, suggestions, status))

    def show_suggestions(self, suggestions: list[Suggestion], selected: int | None, status: str = "") -> None:
        text = Text("ML  (u next · a accept · d reject)\n", style="bold", no_wrap=True, overflow="ellipsis")
        self.status_lines = 0
        if status:
            text.append(status + "\n", style="italic")
            self.status_lines = 1
        for i, s in enumerate(suggestions):
            text.append(("▶ " if i == selected else "  ") + s.describe() + "\n", style="reverse" if i == selected else "")
        self.count = len(suggestions)
        self.update(text)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = offset.y - self.HEADER_LINES - self.status_lines
        if 0 <= index < self.count:
            event.stop()
            self.post_message(self.Selected(index))
