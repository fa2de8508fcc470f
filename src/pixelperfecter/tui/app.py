"""The ``perfecter tui`` application: a thin shell around ``MainScreen``."""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from ..core.types import Thresholds
from .controller import Settings
from .graphics import choose_graphics
from .ml_hook import SuggestFn
from .screens.main import MainScreen


class PerfecterApp(App[None]):
    """Review reconstructions, override the grid, log verdicts, export."""

    CSS_PATH = "app.tcss"
    TITLE = "Pixel Perfecter"

    def __init__(
        self,
        path: Path | None = None,
        *,
        graphics: str = "auto",
        output_dir: Path = Path("output"),
        log_path: Path = Path("notes") / "feedback_log.csv",
        browse_root: Path | None = None,
        thresholds: Thresholds | None = None,
        ml: str | SuggestFn | None = "auto",
    ) -> None:
        super().__init__()
        # "auto": the ML package (and torch) is probed in a worker once the screen is up.
        provider: SuggestFn | None = None if ml in (None, "off", "auto") else ml  # type: ignore[assignment]
        if browse_root is None:
            if path is not None and path.is_dir():
                browse_root = path
            elif path is not None and (path.is_file() or not path.exists()):
                browse_root = path.parent
            else:
                browse_root = Path("input")
        chosen = choose_graphics(graphics)
        self.settings = Settings(
            graphics=chosen,
            # One line on what was chosen and why: for auto-detection, and always inside tmux.
            graphics_note=chosen.note if graphics == "auto" or os.environ.get("TMUX") else "",
            output_dir=output_dir,
            log_path=log_path,
            browse_root=browse_root,
            thresholds=thresholds or Thresholds(),
            ml_provider=provider,
            ml_auto=ml == "auto",
        )
        self.initial = path

    def get_default_screen(self) -> Screen:
        return MainScreen(self.settings, self.initial)

    @property
    def main(self) -> MainScreen:
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key binding of the main screen is also a command-palette entry."""
        yield from super().get_system_commands(screen)
        main = self.main
        for key, description in main.binding_rows():
            binding = next(b for b in main.BINDINGS if isinstance(b, Binding) and b.description == description)
            yield SystemCommand(description[:1].upper() + description[1:], f"key: {key}",
                                partial(main.run_action, binding.action))
