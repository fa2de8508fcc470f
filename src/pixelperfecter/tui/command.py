"""`perfecter tui`: the interactive feedback console (Textual + textual-image).

Only Typer and the standard library are imported at load time; Textual, textual-image and the
core are imported inside the command so that ``perfecter --help`` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def tui_command(
    path: Optional[Path] = typer.Argument(None, help="An image or a folder to review (default: pick from input/).", show_default=False),
    graphics: str = typer.Option("auto", "--graphics", "-g", help="Image protocol: auto|sixel|kitty|halfblock."),
    out: Path = typer.Option(Path("output"), "--out", "-o", help="Folder that 's' (save) writes to."),
    log: Path = typer.Option(Path("notes") / "feedback_log.csv", "--log", help="Feedback log (CSV) that verdicts are appended to."),
    ml: bool = typer.Option(True, "--ml/--no-ml", help="Show ML suggestions when torch and a trained model are available."),
) -> None:
    """Open the interactive feedback console: compare, override, mark correct/incorrect, export."""
    if graphics not in ("auto", "sixel", "kitty", "halfblock"):
        typer.echo(f"error: --graphics: expected auto, sixel, kitty or halfblock, got {graphics!r}", err=True)
        raise typer.Exit(2)
    if path is not None and not path.exists():
        typer.echo(f"error: {path}: no such file or folder", err=True)
        raise typer.Exit(1)
    # The terminal is asked which graphics it shows before Textual owns stdin (tui/terminal.py).
    from .terminal import probe

    probe(graphics)
    from .app import PerfecterApp

    PerfecterApp(path, graphics=graphics, output_dir=out, log_path=log, ml="auto" if ml else "off").run()
