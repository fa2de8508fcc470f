"""The text panels under the panes: metrics, parameters, attempts, ML suggestions."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from ...core.types import Metrics, ReconstructParams, Thresholds
from ..ml_hook import Suggestion
from ..session import Attempt

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

    def show_attempt(self, attempt: Attempt | None, thresholds: Thresholds, busy: bool = False) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        self.flagged = set()
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

        table.add_row("cell", value("cell", f"{metrics.cell_w:.3f} × {metrics.cell_h:.3f} px"))
        table.add_row("offset", f"{metrics.offset_x:.2f}, {metrics.offset_y:.2f} px")
        table.add_row("cells", f"{metrics.cells_x} × {metrics.cells_y}")
        table.add_row("diff", value("diff", f"{metrics.diff_pct:.2f} %"))
        table.add_row("confidence", value("confidence", f"{metrics.confidence:.2f}"))
        table.add_row("colours", str(metrics.n_colors))
        table.add_row("time", f"{attempt.seconds * 1000:.0f} ms")
        if metrics.warnings:
            table.add_row("warn", Text("; ".join(metrics.warnings), style="yellow"))
        self.update(table)


def _on_off(value: bool) -> Text:
    return Text("on", style="green") if value else Text("off", style="bold yellow")


class ParamsPanel(Static):
    """The overrides in effect, the switches, the view state, the verdict and notes."""

    def show_state(self, params: ReconstructParams | None, verdict: str | None, notes: str, zoom: float,
                   show_grid: bool, show_heatmap: bool, graphics: str) -> None:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        params = params or ReconstructParams()
        cell = "auto"
        if params.forced_cell_w is not None:
            cell = f"{params.forced_cell_w:g} × {params.forced_cell_h:g}"
        offset = "auto" if params.offset_x is None and params.offset_y is None else \
            f"{'auto' if params.offset_x is None else f'{params.offset_x:g}'}, {'auto' if params.offset_y is None else f'{params.offset_y:g}'}"
        table.add_row("cell", Text(cell))
        table.add_row("offset", Text(offset))
        table.add_row("1 snap lines", _on_off(params.snap_lines))
        table.add_row("2 clean colours", _on_off(params.cleanup_colors))
        table.add_row("3 binarize α", _on_off(params.binarize_alpha))
        table.add_row("view", Text(f"zoom {zoom:g}×  grid {'on' if show_grid else 'off'}  heatmap {'on' if show_heatmap else 'off'}  ({graphics})"))
        verdict_text = Text("—") if verdict is None else Text(verdict, style="bold green" if verdict == "correct" else "bold red")
        table.add_row("verdict", verdict_text)
        preview = notes.replace("\n", " ⏎ ")
        table.add_row("notes", Text(preview[:60] + ("…" if len(preview) > 60 else "") or "—"))
        self.update(table)


class AttemptsPanel(Static):
    """Every parameter set tried on this image; the current one highlighted."""

    def show_attempts(self, attempts: list[Attempt], current: ReconstructParams | None) -> None:
        text = Text()
        if not attempts:
            text.append("no attempts yet")
        for i, attempt in enumerate(attempts, start=1):
            mark = "▶ " if attempt.params == current else "  "
            verdict = {"correct": " ✓", "incorrect": " ✗"}.get(attempt.verdict or "", "")
            metrics = attempt.result.metrics
            summary = f"diff {metrics.diff_pct:.2f}%" if metrics else (attempt.result.error or "failed")
            style = "reverse" if attempt.params == current else ""
            text.append(f"{mark}{i}. {attempt.label()} · {summary}{verdict}\n", style=style)
        self.update(text)


class MLPanel(Static):
    """ML suggestions (only mounted when the ML hook is available)."""

    def show_suggestions(self, suggestions: list[Suggestion], selected: int | None, status: str = "") -> None:
        text = Text("ML suggestions  (u next · a accept · d reject)\n", style="bold")
        if status:
            text.append(status + "\n", style="italic")
        for i, s in enumerate(suggestions):
            text.append(("▶ " if i == selected else "  ") + s.describe() + "\n", style="reverse" if i == selected else "")
        self.update(text)
