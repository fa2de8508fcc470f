"""Which image protocol the terminal can show, and why (one line for the user).

textual-image detects on import: DA1 for Sixel, then a Kitty graphics query.  Inside tmux that
goes wrong twice: tmux answers DA1 itself (without Sixel unless it renders Sixel, tmux >= 3.4
built with it), and the Kitty query, which tmux does not understand, ends up in the status line
or window title as ``Gi=…,s=1,v=1``.  So this module runs the detection itself, before Textual
owns stdin: never the Kitty query inside tmux, and a reason for every choice.

No Textual import here; ``probe`` imports textual-image with its own detection switched off.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable, Mapping

TMUX_SIXEL_VERSION = (3, 4)


@dataclass(frozen=True)
class Detection:
    """What ``auto`` picks, and the one-line reason shown at start-up."""

    kind: str  # sixel | kitty | halfblock
    reason: str
    tmux: str | None = None  # the tmux version string, inside tmux


def tmux_version(environ: Mapping[str, str] = os.environ, run: Callable[..., str] | None = None) -> str | None:
    """``3.3a`` inside tmux (``$TMUX`` set), else None."""
    if not environ.get("TMUX"):
        return None
    try:
        out = run(["tmux", "-V"]) if run is not None else subprocess.run(
            ["tmux", "-V"], capture_output=True, text=True, timeout=1.0, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    match = re.search(r"(\d+\.\d+[a-z]?)", out or "")
    return match.group(1) if match else "unknown"


def version_tuple(version: str | None) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def decide(choice: str, sixel_answer: bool, kitty_answer: bool, tmux: str | None, passthrough: bool = False) -> Detection:
    """The protocol for ``choice`` (``auto`` or forced) given what the terminal answered.

    ``passthrough``: tmux's ``allow-passthrough`` is on, so an older tmux can carry Sixel to the
    terminal it runs in (wrapped in ``ESC P tmux;``).  tmux cannot tell whether that terminal
    speaks Sixel, so passthrough is used when asked for (``-g sixel``), never guessed.
    Pure, so every branch is unit-tested.  Inside tmux ``kitty_answer`` is never asked for.
    """
    if tmux is not None:
        where = f"tmux {tmux}"
        if sixel_answer:
            return Detection("sixel" if choice in ("auto", "sixel") else _forced(choice),
                             f"{where} renders Sixel itself: Sixel" if choice in ("auto", "sixel")
                             else f"{where}: {_forced(choice)} (forced with -g)", tmux)
        old = version_tuple(tmux) < TMUX_SIXEL_VERSION
        why = (f"{where} does not render Sixel (tmux ≥ 3.4 built with Sixel does)" if old
               else f"{where} was built without Sixel")
        if choice == "sixel":
            if passthrough:
                return Detection("sixel-tmux", f"-g sixel: {why}; Sixel sent through tmux passthrough "
                                 "(allow-passthrough on; redraws after tmux repaints the pane)", tmux)
            return Detection("halfblock", f"-g sixel: {why} and allow-passthrough is off, so the panes would stay "
                             "blank; using half blocks (tmux set -g allow-passthrough on, then -g sixel)", tmux)
        if choice == "kitty":
            return Detection("halfblock", f"-g kitty: {where} does not pass Kitty graphics; using half blocks", tmux)
        hint = "; -g sixel sends Sixel through it" if passthrough else "; for Sixel: tmux ≥ 3.4, or allow-passthrough on and -g sixel"
        return Detection("halfblock", f"{why}: half blocks{hint}", tmux)
    if choice != "auto":
        return Detection(_forced(choice), f"{_forced(choice)} (forced with -g)")
    if sixel_answer:
        return Detection("sixel", "the terminal reports Sixel: Sixel")
    if kitty_answer:
        return Detection("kitty", "the terminal answers the Kitty graphics query: Kitty")
    return Detection("halfblock", "no Sixel or Kitty graphics reported: half blocks")


def tmux_passthrough(run: Callable[..., str] | None = None) -> bool:
    """Whether tmux's ``allow-passthrough`` is on for this pane."""
    argv = ["tmux", "show", "-pv", "allow-passthrough"]
    try:
        out = run(argv) if run is not None else subprocess.run(argv, capture_output=True, text=True, timeout=1.0, check=False).stdout
        if not (out or "").strip():
            argv = ["tmux", "show", "-gv", "allow-passthrough"]
            out = run(argv) if run is not None else subprocess.run(argv, capture_output=True, text=True, timeout=1.0, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return (out or "").strip() in ("on", "all")


def tmux_pane_origin(run: Callable[..., str] | None = None) -> tuple[int, int]:
    """Where this pane starts in the tmux client's screen (top, left), for passthrough cursor moves."""
    argv = ["tmux", "display", "-p", "#{pane_top} #{pane_left}"]
    try:
        out = run(argv) if run is not None else subprocess.run(argv, capture_output=True, text=True, timeout=1.0, check=False).stdout
        top, left = (int(v) for v in out.split()[:2])
        return top, left
    except (OSError, subprocess.SubprocessError, ValueError):
        return 0, 0


def wrap_passthrough(data: str) -> str:
    """``data`` wrapped for tmux passthrough: ``ESC P tmux; …ESC doubled… ESC \\``."""
    return "\x1bPtmux;" + data.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def _forced(choice: str) -> str:
    return {"sixel": "sixel", "kitty": "kitty", "halfblock": "halfblock"}.get(choice, "halfblock")


class _NotATerminal:
    """``sys.__stdout__`` for the length of textual-image's import: its own queries are skipped."""

    def __init__(self, real: object) -> None:
        self._real = real

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


_DETECTED: Detection | None = None
_CACHE: dict[str, Detection] = {}


def import_quietly() -> None:
    """Import textual-image with its import-time protocol queries switched off (ours run in ``probe``)."""
    if "textual_image.renderable" not in sys.modules:
        real = sys.__stdout__
        sys.__stdout__ = _NotATerminal(real)  # type: ignore[misc,assignment]
        try:
            import textual_image.renderable  # noqa: F401
        finally:
            sys.__stdout__ = real  # type: ignore[misc]
    import textual_image.widget  # noqa: F401  (the cell size in pixels is measured here)


def probe(choice: str = "auto") -> Detection:
    """Ask the terminal which protocol it shows (once; before Textual owns stdin)."""
    global _DETECTED
    if choice in _CACHE:
        return _CACHE[choice]
    import_quietly()
    tty = bool(sys.__stdout__ and sys.__stdout__.isatty())
    tmux = tmux_version()
    if choice != "auto" and tmux is None:
        return decide(choice, False, False, None)  # forced, outside tmux: nothing to ask
    sixel_answer = kitty_answer = False
    if tty:
        from textual_image.renderable import sixel, tgp

        sixel_answer = sixel.query_terminal_support()
        if not sixel_answer and tmux is None and choice in ("auto", "kitty"):
            kitty_answer = tgp.query_terminal_support()
    passthrough = tmux is not None and not sixel_answer and tmux_passthrough()
    detection = decide(choice, sixel_answer, kitty_answer, tmux, passthrough)
    _CACHE[choice] = detection
    if choice == "auto":
        _DETECTED = detection
    return detection


def detected() -> Detection | None:
    return _DETECTED
