"""Typed messages the workers post back to the main screen (instead of ``call_from_thread`` callbacks).

Workers run in threads; ``post_message`` is thread-safe, and the screen handles each message
on the main thread with an ``@on(...)`` handler.
"""

from __future__ import annotations

from pathlib import Path

from textual.message import Message

from .controller import Frame
from .ml_hook import SuggestFn, Suggestion
from .session import Attempt, ImageSession

__all__ = ["AttemptReady", "FrameReady", "LoadFailed", "ProviderReady", "SheetReady", "SuggestionsReady"]


class AttemptReady(Message):
    """A worker computed an attempt (load or re-run) and built its frame."""

    def __init__(self, frame: Frame, verdict: str | None = None, first: bool = False) -> None:
        super().__init__()
        self.frame = frame
        self.verdict = verdict  # an ML accept/reject to log once it is on screen
        self.first = first  # the image's first attempt (a load)


class FrameReady(Message):
    """A worker built a frame for an attempt already computed (zoom, pan, flip, toggles);
    ``frame`` is None and ``error`` says why when it failed."""

    def __init__(self, frame: Frame | None, error: str | None = None) -> None:
        super().__init__()
        self.frame = frame
        self.error = error


class LoadFailed(Message):
    def __init__(self, path: Path, reason: str) -> None:
        super().__init__()
        self.path = path
        self.reason = reason


class SuggestionsReady(Message):
    def __init__(self, session: ImageSession, suggestions: list[Suggestion], status: str) -> None:
        super().__init__()
        self.session = session
        self.suggestions = suggestions
        self.status = status


class ProviderReady(Message):
    def __init__(self, provider: SuggestFn) -> None:
        super().__init__()
        self.provider = provider


class SheetReady(Message):
    """A worker found the sprites of ``attempt``'s sheet (``sheet`` None and ``error`` set when
    it failed); ``step`` is the j / J that asked for them."""

    def __init__(self, attempt: Attempt, sheet: object | None, step: int, error: str | None = None) -> None:
        super().__init__()
        self.attempt = attempt
        self.sheet = sheet
        self.step = step
        self.error = error
